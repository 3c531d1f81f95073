/**
 * `rememberDevice` (src/auth/service.ts) on a store of the app's own that answers the
 * `replaceIfEquals` batch op with something other than a boolean: one written before that op
 * existed (it ignores an op it does not know) or one passing a raw Redis reply through (`1`). Such an
 * answer was taken for a conflict: the list read and written again `DEVICE_WRITE_TRIES` times (20 round
 * trips per sign-in), then reported as "changed under 10 writes in a row (concurrent sign-ins)" — the
 * wrong diagnosis — and a list the store did write left the browser without its cookie. It is now
 * refused at the first answer, as the store bug it is, naming the op.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createAuthService } from '../../src/auth/index.js';
import { authKeys, deviceDigest } from '../../src/auth/keys.js';
import { capturedMailTransport } from '../../src/auth/mail.js';
import { manualClock } from '../../src/core/clock.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import type { Store, StoreOp, StoreOpResult } from '../../src/store/types.js';
import { FAST_ARGON2, useSqliteAuthDatabase } from './harness.js';

const EMAIL = 'ada@example.com';
const KEY = authKeys.devices(EMAIL);

const { db } = useSqliteAuthDatabase('device-answers');

const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/**
 * A memory store whose batch answers each `replaceIfEquals` with `answer(done)` instead of the
 * boolean, `done` being what the memory store did (`run`: whether it runs the op at all).
 */
function customStore(answer: (done: boolean | undefined) => unknown, run: boolean) {
  const inner = createMemoryStore({ clock: manualClock(), sweepIntervalMs: 0 });
  stores.push(inner);
  const batches: StoreOp[][] = [];
  const store: Store = {
    ...inner,
    async batch(ops) {
      batches.push([...ops]);
      const results: StoreOpResult[] = [];
      for (const op of ops) {
        if (op.op !== 'replaceIfEquals') results.push(...(await inner.batch([op])));
        else results.push(answer(run ? ((await inner.batch([op]))[0] as boolean) : undefined) as StoreOpResult);
      }
      return results;
    },
  };
  const errors: unknown[] = [];
  const service = createAuthService({
    db,
    store,
    events: memorySecurityEvents(),
    mail: capturedMailTransport(),
    password: FAST_ARGON2,
    resetUrl: 'https://app.example.com/reset-password',
    onBackgroundError: (error) => errors.push(error),
  });
  return { inner, service, errors, batches };
}

describe('rememberDevice on a store answering replaceIfEquals with no boolean', () => {
  it.each([
    ['1 for a replace it did (a raw Redis reply)', (done: boolean | undefined) => (done === true ? 1 : 0), true, /with 1, not true or false/],
    ['"OK" for a replace it did', (done: boolean | undefined) => (done === true ? 'OK' : null), true, /with "OK", not true or false/],
    ['undefined, the op unknown to it and not run', () => undefined, false, /with undefined, not true or false/],
    ['null, the op unknown to it and not run', () => null, false, /with null, not true or false/],
  ])('answering %s: one write tried, then a TypeError naming the op, no cookie; the list is what the store made of it', async (_, answer, run, message) => {
    const { inner, service, errors, batches } = customStore(answer, run);
    const first = await service.rememberDevice(EMAIL, null); // no list yet: a claim, not the op
    expect(first).not.toBeNull();
    expect(batches).toEqual([]);
    const second = await service.rememberDevice(EMAIL, null);
    expect(second).toBeNull();
    // Was 10 batches (each answer taken for a conflict) and "changed under 10 writes in a row".
    expect(batches).toHaveLength(1);
    expect(batches[0]?.map((op) => op.op)).toEqual(['replaceIfEquals']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(TypeError);
    expect(String(errors[0])).toMatch(message);
    expect(String(errors[0])).toMatch(/replaceIfEquals batch op/);
    expect(String(errors[0])).not.toMatch(/concurrent sign-ins/);
    const list = (await inner.get(KEY))?.split(' ') ?? [];
    // The first browser stays trusted either way; a store that did replace holds two entries.
    expect(list[0]).toBe(deviceDigest(first as string));
    expect(list).toHaveLength(run ? 2 : 1);
  });
});
