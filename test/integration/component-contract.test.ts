/**
 * What a component may hand the runtime, checked where it is written or where it is used: promises of
 * any realm or library are awaited (not stored as `{}`, not read as a result without issues), a render
 * must return html`…`, and option mistakes stop start-up instead of failing every call (or, for
 * `requireIdempotencyKey: 'yes'`, silently not applying).
 */
import { runInNewContext } from 'node:vm';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { describe, expect, it } from 'vitest';
import { defineComponent } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { callAction, createTestHarness, mountComponent } from '../../src/testing/index.js';

/** A promise of another realm (a `vm` context), as promise libraries' thenables behave too. */
const foreignPromise = <T>(value: T): Promise<T> => runInNewContext('Promise.resolve(v)', { v: value }) as Promise<T>;

/** A Standard Schema whose async validate answers through a foreign promise. */
function foreignSchema(check: (input: unknown) => StandardSchemaV1.Result<{ amount: number }> | object): StandardSchemaV1<unknown, { amount: number }> {
  return { '~standard': { version: 1, vendor: 'test', validate: (input) => foreignPromise(check(input)) as never } };
}

const wallet = defineComponent({
  name: 'wallet',
  initialState: { balance: 100, secret: 'kept' },
  publicState: ['balance'],
  actions: {
    spend: { run: (s) => foreignPromise({ ...s, balance: s.balance - 10 }) },
    pay: {
      params: foreignSchema((input) =>
        typeof (input as { amount?: unknown }).amount === 'number'
          ? { value: input as { amount: number } }
          : { issues: [{ message: 'Enter an amount.', path: ['amount'] }] },
      ),
      run: (s, p) => ({ ...s, balance: s.balance - (p as { amount: number }).amount }),
    },
    odd: { params: foreignSchema(() => ({ neither: true })), run: (s) => s },
  },
  render: (s) => html`<p>${s.balance}</p>`,
});

describe('promises of any realm', () => {
  it('an action returning a thenable is awaited: its state is stored, private fields included', async () => {
    const harness = await createTestHarness([wallet]);
    const w = await mountComponent(wallet, undefined, { harness });
    expect((await callAction(w, 'spend')).state).toEqual({ balance: 90 });
    expect(await harness.fullState(w.id)).toEqual({ balance: 90, secret: 'kept' });
  });

  it('a schema answering through a thenable is awaited: its issues refuse the call (400), its value is the params', async () => {
    const harness = await createTestHarness([wallet]);
    const w = await mountComponent(wallet, undefined, { harness });
    await expect(callAction(w, 'pay', { amount: 'lots' } as never)).rejects.toMatchObject({ code: 'VALIDATION_FAILED', fields: { errors: { amount: ['Enter an amount.'] } } });
    expect((await callAction(w, 'pay', { amount: 30 })).state).toEqual({ balance: 70 });
  });

  it('a schema result with neither issues nor a value is a bug (500), never a pass', async () => {
    const harness = await createTestHarness([wallet]);
    const w = await mountComponent(wallet, undefined, { harness });
    await expect(callAction(w, 'odd')).rejects.toThrow(/returned neither issues nor a value/);
    expect(await harness.fullState(w.id)).toEqual({ balance: 100, secret: 'kept' });
  });
});

describe('render', () => {
  it('must return html`…`: a plain string (the tag forgotten) fails instead of rendering "undefined"', async () => {
    const plain = defineComponent({ name: 'plain', initialState: {}, publicState: [], actions: {}, render: () => '<p>hi</p>' as never });
    await expect(mountComponent(plain)).rejects.toThrow('plain.render must return html`…` (got string)');
  });
});

describe('defineComponent refuses option mistakes at start-up', () => {
  const base = { name: 'c', initialState: { n: 0 }, publicState: [] as string[], render: () => html`` };
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['params that is not a Standard Schema', { params: { parse: () => ({}) } }, /params must be a Standard Schema/],
    ['authorize that is not a function', { authorize: false }, /authorize must be a function/],
    ['a rateLimitAlgorithm typo', { rateLimitAlgorithm: 'sliding' }, /rateLimitAlgorithm must be 'gcra' or 'sliding-window'/],
    ['requireIdempotencyKey that is not a boolean', { requireIdempotencyKey: 'yes' }, /requireIdempotencyKey must be true or false/],
    // Accepted before, then every call failed with 500: 1e306 s is an infinite number of ms.
    ['a rateLimitWindow whose milliseconds overflow', { rateLimitWindow: 1e306 }, /rateLimitWindow must be a positive whole number of seconds, at most 1099511627 \(about 34 years\)/],
    // Accepted before, then every call failed with 500: the stores refuse a window past 2^40 ms or a limit past 2^31 − 1.
    ['a rateLimitWindow past the stores\' longest window', { rateLimitWindow: 1_099_511_628 }, /rateLimitWindow must be a positive whole number of seconds, at most 1099511627/],
    ['a rateLimit past the stores\' largest limit', { rateLimit: 2 ** 31 }, /rateLimit must be a positive integer, at most 2147483647/],
    ['an anonymousLimit past the stores\' largest limit', { anonymousLimit: 2 ** 31 }, /anonymousLimit must be a positive integer, at most 2147483647/],
    ['an idempotencyTTL whose milliseconds overflow', { idempotencyTTL: 2 ** 60 }, /idempotencyTTL must be a positive whole number of seconds, at most 9007199254740/],
  ];
  for (const [name, options, message] of cases) {
    it(name, () => {
      expect(() => defineComponent({ ...base, actions: { go: { run: (s: { n: number }) => s, ...options } } } as never)).toThrow(message);
    });
  }

  it('a render that is not a function', () => {
    expect(() => defineComponent({ ...base, actions: {}, render: undefined } as never)).toThrow(/render must be a function/);
  });
});

describe('component state must be JSON (it is stored as JSON, sealed)', () => {
  const diary = defineComponent({
    name: 'diary',
    initialState: { entries: [] as string[], savedAt: '' },
    publicState: ['entries'],
    actions: {
      write: { run: (s) => ({ ...s, entries: [...s.entries, 'dear diary'] }) },
      // What the types refuse (a Date where a string is declared), as a JavaScript caller could do.
      stamp: { run: (s) => ({ entries: [...s.entries], savedAt: new Date(0) as unknown as string }) },
    },
    render: (s) => html`<p>${s.entries.length}</p>`,
  });

  it('an action returning a Date is a bug named by its field (500), and nothing is stored', async () => {
    const harness = await createTestHarness([diary]);
    const d = await mountComponent(diary, undefined, { harness });
    await callAction(d, 'write');
    await expect(callAction(d, 'stamp')).rejects.toThrow('Action diary.stamp returned a state JSON cannot keep: "savedAt" is a Date (only plain objects and arrays are JSON)');
    expect(await harness.fullState(d.id)).toEqual({ entries: ['dear diary'], savedAt: '' });
    expect((await callAction(d, 'write')).state).toEqual({ entries: ['dear diary', 'dear diary'] });
  });

  it('an initial state that is not JSON is refused where it is given: defineComponent, or a mount', async () => {
    expect(() => defineComponent({ name: 'tags', initialState: { tags: new Set<string>() }, publicState: [], actions: {}, render: () => html`` } as never)).toThrow(
      'Component "tags": initialState must be JSON (it is stored as JSON): "tags" is a Set (only plain objects and arrays are JSON)',
    );
    await expect(mountComponent(diary, { entries: [], savedAt: new Date(0) } as never)).rejects.toThrow(
      'The initial state given for "diary:test" must be JSON (it is stored as JSON): "savedAt" is a Date (only plain objects and arrays are JSON)',
    );
  });
});
