import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../core/clock.js';
import { defineComponent, NEVER_ABORTED, type ComponentDefinition, type User } from '../../core/component.js';
import { LiveError, StoreUnavailableError } from '../../core/errors.js';
import { html } from '../../core/html.js';
import { HEADERS } from '../../core/wire.js';
import { storeKeys } from '../../store/keys.js';
import { createMemoryStore } from '../../store/memory/index.js';
import type { Store } from '../../store/types.js';
import { createActionContext, fail, ok, type ActionContext, type ActionResult, type Outcome } from '../types.js';
import { requestFingerprint } from './fingerprint.js';
import { createIdempotencyStage, type IdempotencyStageOptions } from './index.js';
import { waitUntil } from '../../../test/helpers/wait-until.js';

const T0 = Date.UTC(2026, 0, 15, 10, 30);
const KEY = '5f0c2a4e-8b1d-4c3e-9f7a-2d6b8e1c4a90';

const keep = { run: (s: { orders: number }) => s };
const order = defineComponent({
  name: 'order',
  initialState: { orders: 0 },
  publicState: ['orders'],
  actions: { createOrder: keep, cancelOrder: keep, quick: { ...keep, idempotencyTTL: 60 }, pay: { ...keep, requireIdempotencyKey: true } },
  render: () => html``,
});
const cart = defineComponent({ name: 'cart', initialState: { orders: 0 }, publicState: ['orders'], actions: { createOrder: keep }, render: () => html`` });

const alice: User = { id: 'alice', email: 'alice@example.com', name: null };

interface CtxOptions {
  component?: ComponentDefinition;
  instance?: string;
  action?: string;
  params?: Record<string, unknown>;
  /** `Idempotency-Key` header; `null` sends none. @default KEY */
  header?: string | string[] | null;
  bodyKey?: string;
  user?: User | null;
  sessionKey?: string;
}

/** A minimal action context: only what the stage reads is meaningful. */
function makeCtx(o: CtxOptions = {}): ActionContext {
  const component = o.component ?? order;
  const action = component.actions.get(o.action ?? 'createOrder');
  if (action === undefined) throw new Error('test: unknown action');
  const user = o.user ?? null;
  const instance = o.instance ?? 'main';
  const componentId = `${component.name}:${instance}`;
  const header = o.header === undefined ? KEY : o.header;
  return createActionContext({
    request: { requestId: 'req-1', ip: '203.0.113.7', method: 'POST', url: '/api/livecomponents/action', headers: header === null ? {} : { [HEADERS.idempotencyKey]: header } },
    body: { componentId, action: action.name, params: o.params ?? { item: 'book' }, csrfToken: undefined, idempotencyKey: o.bodyKey },
    session: { id: 'SECRET', key: o.sessionKey ?? 'session-1', userId: user?.id ?? null, createdAt: T0 },
    user,
    component,
    action,
    componentContext: { user, componentId, instance, signal: NEVER_ABORTED },
  });
}

function setup(options: Partial<IdempotencyStageOptions> = {}) {
  const clock = manualClock(T0);
  const store = createMemoryStore({ clock, sweepIntervalMs: 0 });
  const stage = createIdempotencyStage({ clock, ...options, store: options.store ?? store });
  const next = vi.fn((_ctx: ActionContext): Promise<Outcome> => {
    const n = next.mock.calls.length;
    return Promise.resolve(ok({ html: `<p>${n}</p>`, state: { orders: n }, nextState: { orders: n, secret: 'top-secret' } }));
  });
  const call = async (o: CtxOptions = {}) => {
    const ctx = makeCtx(o);
    const outcome = await stage.run(ctx, next);
    return { outcome, headers: ctx.headers };
  };
  const record = async (scope = 's:session-1', key = KEY) => {
    const text = await store.get(storeKeys.idempotency(scope, key));
    return text === null ? null : (JSON.parse(text) as Record<string, unknown>);
  };
  return { clock, store, stage, next, call, record };
}

function resultOf(outcome: Outcome): ActionResult {
  if (outcome.type !== 'ok') throw new Error(`expected ok, got ${outcome.error.code}`);
  return outcome.result;
}

function codeOf(outcome: Outcome): string {
  if (outcome.type !== 'error') throw new Error('expected an error outcome');
  return outcome.error.code;
}

/** A `next` that waits until `open()` is called. */
function gated(result: ActionResult) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  return { open, run: async (): Promise<Outcome> => (await gate, ok(result)) };
}

describe('idempotency stage', () => {
  it('passes a request without a key straight through', async () => {
    const { call, next } = setup();
    const { outcome, headers } = await call({ header: null });
    expect(next).toHaveBeenCalledTimes(1);
    expect(resultOf(outcome).idempotency).toBeUndefined();
    expect(headers).toEqual({});
  });

  it('caches the first response: html and public state only', async () => {
    const { call, record } = setup();
    const { outcome, headers } = await call();
    expect(outcome).toEqual({
      type: 'ok',
      result: {
        html: '<p>1</p>',
        state: { orders: 1 },
        nextState: { orders: 1, secret: 'top-secret' },
        idempotency: { key: KEY, cached: false, ttl: 3600, created_at: '2026-01-15T10:30:00Z' },
      },
    });
    expect(headers).toEqual({});
    expect(await record()).toEqual({
      s: 'done',
      fp: requestFingerprint('order:main', 'createOrder', { item: 'book' }),
      html: '<p>1</p>',
      state: { orders: 1 },
      created_at: '2026-01-15T10:30:00Z',
      exp: T0 + 3_600_000,
    });
    expect(JSON.stringify(await record())).not.toContain('top-secret');
  });

  it('replays a completed key without running the action again, with a decreasing ttl', async () => {
    const { call, next, clock } = setup();
    await call();
    clock.advance(60_000);
    const second = await call({ params: { item: 'book' } });
    expect(second.outcome).toEqual({
      type: 'ok',
      result: { html: '<p>1</p>', state: { orders: 1 }, idempotency: { key: KEY, cached: true, ttl: 3540, created_at: '2026-01-15T10:30:00Z' } },
    });
    expect(second.headers).toEqual({ [HEADERS.idempotentReplayed]: 'true' });
    clock.advance(500);
    expect(resultOf((await call()).outcome).idempotency).toEqual({ key: KEY, cached: true, ttl: 3540, created_at: '2026-01-15T10:30:00Z' });
    clock.advance(1_000);
    expect(resultOf((await call()).outcome).idempotency?.ttl).toBe(3539);
    expect(next).toHaveBeenCalledTimes(1);
  });

  it('never reports more ttl than the action gives a record (an instance whose clock is behind the one that ran it)', async () => {
    const { call, clock } = setup();
    await call();
    clock.advance(-60_000); // this instance's clock is a minute behind the one that stored the record
    expect(resultOf((await call()).outcome).idempotency?.ttl).toBe(3600);
  });

  it('replays params that differ only in key order', async () => {
    const { call, next } = setup();
    await call({ params: { item: 'book', qty: 1 } });
    expect(resultOf((await call({ params: { qty: 1, item: 'book' } })).outcome).idempotency?.cached).toBe(true);
    expect(next).toHaveBeenCalledTimes(1);
  });

  it('runs the action once under 50 concurrent requests with one key', async () => {
    const { stage, next, call } = setup();
    next.mockImplementation(async () => (await sleep(20), ok({ html: '<p>once</p>', state: { orders: 1 } })));
    // The memory store claims synchronously, so all 50 claims land long before the 20 ms action ends.
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => stage.run(makeCtx(), next)));
    expect(next).toHaveBeenCalledTimes(1);
    expect(outcomes.filter((o) => o.type === 'ok' && o.result.idempotency?.cached === false)).toHaveLength(1);
    expect(outcomes.filter((o) => o.type === 'error' && o.error.code === 'IDEMPOTENCY_KEY_IN_USE')).toHaveLength(49);
    const after = await call();
    expect(resultOf(after.outcome)).toMatchObject({ html: '<p>once</p>', idempotency: { cached: true } });
    expect(next).toHaveBeenCalledTimes(1);
  });

  it.each<[string, CtxOptions]>([
    ['other params', { params: { item: 'pen' } }],
    ['extra params', { params: { item: 'book', qty: 1 } }],
    ['another action', { action: 'cancelOrder' }],
    ['another component', { component: cart }],
    ['another instance', { instance: 'other' }],
  ])('answers 422 for the same key with %s', async (_name, other) => {
    const { call, next } = setup();
    await call();
    expect(codeOf((await call(other)).outcome)).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(next).toHaveBeenCalledTimes(1);
  });

  it('answers 422 for another payload while the first is still in flight', async () => {
    const { call, next } = setup();
    const slow = gated({ html: 'A', state: {} });
    next.mockImplementationOnce(slow.run);
    const first = call();
    await waitUntil('the first call to reach the action', () => next.mock.calls.length === 1, { seen: () => `${next.mock.calls.length} calls` });
    expect(codeOf((await call({ params: { item: 'pen' } })).outcome)).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(codeOf((await call()).outcome)).toBe('IDEMPOTENCY_KEY_IN_USE');
    slow.open();
    expect(resultOf((await first).outcome).idempotency?.cached).toBe(false);
  });

  it('keeps keys per session: another session runs on its own and never sees the result', async () => {
    const { call, next } = setup();
    await call({ sessionKey: 'session-1' });
    const other = resultOf((await call({ sessionKey: 'session-2' })).outcome);
    expect(other).toMatchObject({ html: '<p>2</p>', state: { orders: 2 }, idempotency: { cached: false } });
    expect(resultOf((await call({ sessionKey: 'session-1' })).outcome)).toMatchObject({ html: '<p>1</p>', idempotency: { cached: true } });
    expect(resultOf((await call({ sessionKey: 'session-2', params: { item: 'book' } })).outcome).html).toBe('<p>2</p>');
    expect(next).toHaveBeenCalledTimes(2);
  });

  it('scopes keys to the signed-in user across sessions, apart from anonymous sessions', async () => {
    const { call, next, record } = setup();
    await call({ user: alice, sessionKey: 'laptop' });
    const phone = await call({ user: alice, sessionKey: 'phone' });
    expect(resultOf(phone.outcome)).toMatchObject({ html: '<p>1</p>', idempotency: { cached: true } });
    expect(resultOf((await call({ user: null, sessionKey: 'laptop' })).outcome).idempotency?.cached).toBe(false);
    expect(resultOf((await call({ user: { ...alice, id: 'bob' }, sessionKey: 'laptop' })).outcome).idempotency?.cached).toBe(false);
    expect(next).toHaveBeenCalledTimes(3);
    expect(await record('u:alice')).toMatchObject({ s: 'done' });
  });

  it('releases the key after an error outcome: nothing cached, a retry runs again', async () => {
    const { call, next, record } = setup();
    next.mockResolvedValueOnce(fail(new LiveError('VALIDATION_FAILED', { fields: { errors: { item: ['Required'] } } })));
    expect(codeOf((await call()).outcome)).toBe('VALIDATION_FAILED');
    expect(await record()).toBeNull();
    expect(resultOf((await call()).outcome)).toMatchObject({ html: '<p>2</p>', idempotency: { cached: false } });
    expect(next).toHaveBeenCalledTimes(2);
  });

  it('releases the key and rethrows when the action throws', async () => {
    const { call, next, record } = setup();
    const boom = new Error('boom');
    next.mockRejectedValueOnce(boom);
    await expect(call()).rejects.toBe(boom);
    expect(await record()).toBeNull();
    expect(resultOf((await call()).outcome).idempotency?.cached).toBe(false);
    expect(next).toHaveBeenCalledTimes(2);
  });

  it('frees a key whose holder crashed once the lock expires, and the late holder does not clobber', async () => {
    const { call, next, clock, record } = setup({ lockTtlMs: 5_000 });
    const crashed = gated({ html: 'late', state: { orders: 99 } });
    next.mockImplementationOnce(crashed.run);
    const first = call();
    await waitUntil('the first call to reach the action', () => next.mock.calls.length === 1, { seen: () => `${next.mock.calls.length} calls` });
    expect(await record()).toMatchObject({ s: 'pending', fp: expect.any(String), lock: expect.any(String), exp: T0 + 5_000 });
    clock.advance(4_999);
    expect(codeOf((await call()).outcome)).toBe('IDEMPOTENCY_KEY_IN_USE');
    clock.advance(1);
    expect(resultOf((await call()).outcome)).toMatchObject({ html: '<p>2</p>', idempotency: { cached: false } });
    crashed.open();
    expect(resultOf((await first).outcome)).toMatchObject({ html: 'late', idempotency: { cached: false } });
    expect(resultOf((await call()).outcome)).toMatchObject({ html: '<p>2</p>', idempotency: { cached: true } });
    expect(next).toHaveBeenCalledTimes(2);
  });

  it('records a late completion when nobody took the expired key over', async () => {
    const { call, next, clock } = setup({ lockTtlMs: 5_000 });
    const slow = gated({ html: 'slow', state: { orders: 1 } });
    next.mockImplementationOnce(slow.run);
    const first = call();
    await waitUntil('the first call to reach the action', () => next.mock.calls.length === 1, { seen: () => `${next.mock.calls.length} calls` });
    clock.advance(10_000);
    slow.open();
    await first;
    expect(resultOf((await call()).outcome)).toMatchObject({ html: 'slow', idempotency: { cached: true, ttl: 3600 } });
    expect(next).toHaveBeenCalledTimes(1);
  });

  it("frees the key after the action's idempotencyTTL", async () => {
    const { call, next, clock } = setup();
    await call({ action: 'quick' });
    clock.advance(59_000);
    expect(resultOf((await call({ action: 'quick' })).outcome).idempotency).toMatchObject({ cached: true, ttl: 1 });
    clock.advance(1_000);
    expect(resultOf((await call({ action: 'quick' })).outcome).idempotency).toMatchObject({ cached: false, ttl: 60 });
    expect(next).toHaveBeenCalledTimes(2);
  });

  it('uses defaultTtlSeconds for actions without idempotencyTTL', async () => {
    const { call } = setup({ defaultTtlSeconds: 120 });
    expect(resultOf((await call()).outcome).idempotency?.ttl).toBe(120);
  });

  it.each<[string, CtxOptions]>([
    ['an empty header', { header: '' }],
    ['256 characters', { header: 'k'.repeat(256) }],
    ['a control character', { header: 'a\x01b' }],
    ['non-ASCII', { header: 'clé' }],
    ['malformed quotes', { header: '"abc' }],
    ['an empty body key', { header: null, bodyKey: '' }],
    ['header and body differing', { header: 'a', bodyKey: 'b' }],
    ['a body key that is not a string', { header: null, bodyKey: 42 as unknown as string }],
  ])('answers 400 IDEMPOTENCY_KEY_INVALID for %s, without running the action', async (_name, o) => {
    const { call, next } = setup();
    const { outcome } = await call(o);
    expect(codeOf(outcome)).toBe('IDEMPOTENCY_KEY_INVALID');
    expect(outcome.type === 'error' && outcome.error.statusCode).toBe(400);
    expect(next).not.toHaveBeenCalled();
  });

  it.each<[string, CtxOptions, string]>([
    ['a quoted sf-string with escapes', { header: String.raw`"k \"1\" \\"` }, 'k "1" \\'],
    ['a bare UUID', { header: KEY }, KEY],
    ['255 characters', { header: 'k'.repeat(255) }, 'k'.repeat(255)],
    ['the body field', { header: null, bodyKey: 'body-key' }, 'body-key'],
    ['header and body agreeing', { header: '"same"', bodyKey: 'same' }, 'same'],
  ])('accepts %s and echoes the key', async (_name, o, key) => {
    const { call } = setup();
    expect(resultOf((await call(o)).outcome).idempotency?.key).toBe(key);
  });

  it('answers 400 IDEMPOTENCY_KEY_REQUIRED when the action requires a key and none came', async () => {
    const { call, next } = setup();
    expect(codeOf((await call({ action: 'pay', header: null })).outcome)).toBe('IDEMPOTENCY_KEY_REQUIRED');
    expect(next).not.toHaveBeenCalled();
    expect(resultOf((await call({ action: 'pay' })).outcome).idempotency?.cached).toBe(false);
  });

  it('deletes an unreadable record and throws, so the retry runs', async () => {
    const { call, next, store, record } = setup();
    await store.set(storeKeys.idempotency('s:session-1', KEY), '{not json', 60_000);
    await expect(call()).rejects.toThrow(/unreadable/);
    expect(await record()).toBeNull();
    expect(next).not.toHaveBeenCalled();
    expect(resultOf((await call()).outcome).idempotency?.cached).toBe(false);
  });

  it('survives store failures after the action, telling onStoreError', async () => {
    const memory = createMemoryStore({ clock: manualClock(T0), sweepIntervalMs: 0 });
    const down = () => Promise.reject(new StoreUnavailableError('down'));
    const store: Store = { ...memory, batch: down, deleteIfEquals: down };
    const onStoreError = vi.fn();
    const { call, next } = setup({ store, onStoreError });
    expect(resultOf((await call()).outcome)).toMatchObject({ html: '<p>1</p>', idempotency: { cached: false } });
    next.mockResolvedValueOnce(fail(new LiveError('FORBIDDEN')));
    expect(codeOf((await call({ header: 'other-key' })).outcome)).toBe('FORBIDDEN');
    expect(onStoreError).toHaveBeenCalledTimes(2);
  });

  it('fails closed when the claim itself fails', async () => {
    const memory = createMemoryStore({ sweepIntervalMs: 0 });
    const { call, next } = setup({ store: { ...memory, claim: () => Promise.reject(new StoreUnavailableError('down')) } });
    await expect(call()).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(next).not.toHaveBeenCalled();
  });

  it('refuses bad options at start-up', () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    expect(() => createIdempotencyStage({ store, lockTtlMs: 0 })).toThrow(TypeError);
    expect(() => createIdempotencyStage({ store, defaultTtlSeconds: 1.5 })).toThrow(TypeError);
    expect(createIdempotencyStage({ store, lockTtlMs: undefined }).name).toBe('idempotency');
  });
});
