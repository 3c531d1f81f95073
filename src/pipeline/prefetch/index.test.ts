import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineComponent, NEVER_ABORTED } from '../../core/component.js';
import { StoreUnavailableError } from '../../core/errors.js';
import { html } from '../../core/html.js';
import { memorySecurityEvents } from '../../ops/security-events.js';
import { createSessionManager } from '../../session/index.js';
import { createMemoryStore } from '../../store/memory/index.js';
import type { Store, StoreOp } from '../../store/types.js';
import { createActionContext, deferWithResult, ok, type ActionContext, type DeferredDone, type Outcome, type Stage } from '../types.js';
import { createPrefetchStage } from './index.js';

const widget = defineComponent({
  name: 'widget',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: { bump: { run: (s: { n: number }) => ({ n: s.n + 1 }) } },
  render: () => html``,
});
const action = (() => {
  const found = widget.actions.get('bump');
  if (found === undefined) throw new Error('test: no action');
  return found;
})();
const DONE: Outcome = ok({ html: '', state: {} });

/** A stage that claims `key` in the first batch with a value of this request, and may take it back. */
function claimingStage(name: string, key: string, value: string, ttlMs = 30_000): Stage {
  return {
    name,
    prepare: () => ({ op: { op: 'claim', key, value, ttlMs }, undo: { op: 'deleteIfEquals', key, expected: value } }),
    run: (ctx, next) => next(ctx),
  };
}
/** A stage that only reads, with nothing to take back. */
const reading: Stage = { name: 'reading', prepare: () => ({ op: { op: 'get', key: 'lc:{s:x}:state:widget:main' } }), run: (ctx, next) => next(ctx) };
const idle: Stage = { name: 'idle', prepare: () => null, run: (ctx, next) => next(ctx) };

/**
 * A store whose batches are recorded; with `late`, the first batch is applied but reported failed,
 * as a Redis that hangs past the deadline and then runs what it was sent.
 */
function recordingStore(late: boolean): Store & { batches: StoreOp[][] } {
  const inner = createMemoryStore();
  const recording = {
    ...inner,
    batches: [] as StoreOp[][],
    async batch(ops: readonly StoreOp[]) {
      recording.batches.push([...ops]);
      const results = await inner.batch(ops);
      if (late && recording.batches.length === 1) throw new StoreUnavailableError('Redis did not answer within 500 ms.');
      return results;
    },
  };
  return recording;
}

async function setUp(late: boolean) {
  const store = recordingStore(late);
  const sessions = createSessionManager({ store });
  const session = await sessions.create();
  store.batches.length = 0;
  const flushErrors: unknown[] = [];
  const later = [claimingStage('idempotency', 'lc:{i:x}:idem:k', 'pending-1'), idle, claimingStage('instance-lock', 'lc:{s:x}:lock:widget:main', 'token-1'), reading];
  const stage = createPrefetchStage({ store, sessions, events: memorySecurityEvents(), later, onFlushError: (e) => flushErrors.push(e) });
  const ctx: ActionContext = createActionContext({
    request: { requestId: 'req-1', ip: '203.0.113.7', method: 'POST', url: '/api/livecomponents/action', headers: {} },
    body: { componentId: 'widget:main', action: 'bump', params: {}, csrfToken: undefined, idempotencyKey: undefined },
    session,
    user: null,
    component: widget,
    action,
    componentContext: { user: null, componentId: 'widget:main', instance: 'main', signal: NEVER_ABORTED },
  });
  return { store, stage, ctx, flushErrors };
}

describe('prefetch stage', () => {
  it('a refused first batch that runs late is followed at once by the undo ops of its claims', async () => {
    const { store, stage, ctx, flushErrors } = await setUp(true);
    let ran = false;
    await expect(
      stage.run(ctx, async () => {
        ran = true;
        return DONE;
      }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(ran).toBe(false);
    // Sent without waiting for it: the 503 is not held up by a store that just failed.
    expect(store.batches).toHaveLength(2);
    expect(store.batches[1]).toEqual([
      { op: 'deleteIfEquals', key: 'lc:{i:x}:idem:k', expected: 'pending-1' },
      { op: 'deleteIfEquals', key: 'lc:{s:x}:lock:widget:main', expected: 'token-1' },
    ]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await store.get('lc:{i:x}:idem:k')).toBeNull();
    expect(await store.get('lc:{s:x}:lock:widget:main')).toBeNull();
    expect(flushErrors).toEqual([]);
  });

  it('a failed take-back goes to onFlushError, and the answer is still the first failure', async () => {
    const { store, stage, ctx, flushErrors } = await setUp(true);
    const refused = new StoreUnavailableError('Redis is not connected (reconnecting).');
    const batch = store.batch;
    store.batch = (ops) => (store.batches.length === 0 ? batch(ops) : (store.batches.push([...ops]), Promise.reject(refused)));
    await expect(stage.run(ctx, () => Promise.resolve(DONE))).rejects.toThrow('within 500 ms');
    await new Promise((resolve) => setImmediate(resolve));
    expect(flushErrors).toEqual([refused]);
  });

  it('a successful first batch costs nothing more: two batches, no take-back', async () => {
    const { store, stage, ctx } = await setUp(false);
    expect(await stage.run(ctx, () => Promise.resolve(DONE))).toBe(DONE);
    expect(store.batches).toHaveLength(2);
    expect(store.batches[1]?.some((op) => op.op === 'deleteIfEquals')).toBe(true); // the stages never ran: their claims go back with the second batch
  });

  it('tells a stage the result of the op it deferred with deferWithResult, after the batch, also when the action threw', async () => {
    for (const throws of [false, true]) {
      const { store, stage, ctx } = await setUp(false);
      await store.set('lc:{s:x}:taken', 'someone', 60_000);
      const seen: [string, unknown, number][] = [];
      const done: DeferredDone = (c, result) => void seen.push([c.request.requestId, result, store.batches.length]);
      const run = stage.run(ctx, async (c) => {
        c.deferred?.push({ op: 'set', key: 'lc:{s:x}:plain', value: 'v', ttlMs: 60_000 });
        expect(deferWithResult(c, { op: 'claim', key: 'lc:{s:x}:free', value: 'mine', ttlMs: 60_000 }, done)).toBe(true);
        expect(deferWithResult(c, { op: 'claim', key: 'lc:{s:x}:taken', value: 'mine', ttlMs: 60_000 }, done)).toBe(true);
        if (throws) throw new Error('boom');
        return DONE;
      });
      if (throws) await expect(run).rejects.toThrow('boom');
      else expect(await run).toBe(DONE);
      // After the second batch, in the order queued: the free key claimed (null), the taken one not.
      expect(seen).toEqual([
        ['req-1', null, 2],
        ['req-1', 'someone', 2],
      ]);
      expect(store.batches[1]?.map((op) => op.op)).toEqual(['touch', 'set', 'claim', 'claim', 'deleteIfEquals', 'deleteIfEquals']);
    }
  });

  it('tells it undefined when the second batch failed, and answers that failure', async () => {
    const { store, stage, ctx } = await setUp(false);
    const refused = new StoreUnavailableError('Redis is not connected (reconnecting).');
    const batch = store.batch;
    store.batch = (ops) => (store.batches.length === 0 ? batch(ops) : (store.batches.push([...ops]), Promise.reject(refused)));
    const seen: unknown[] = [];
    const run = stage.run(ctx, async (c) => {
      deferWithResult(c, { op: 'claim', key: 'lc:{s:x}:free', value: 'mine', ttlMs: 60_000 }, (_c, result) => void seen.push(result));
      return DONE;
    });
    await expect(run).rejects.toBe(refused);
    expect(seen).toEqual([undefined]);
  });

  it('deferWithResult queues nothing without a prefetch', () => {
    const ctx = { deferred: null } as unknown as ActionContext;
    expect(deferWithResult(ctx, { op: 'get', key: 'lc:{s:x}:k' }, () => {})).toBe(false);
  });
});

const IDEM = 'lc:{i:x}:idem:k';
const LOCK = 'lc:{s:x}:lock:widget:main';
const STATE = 'lc:{s:x}:state:widget:main';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A memory store whose batches are recorded and refused while `down` (a Cluster failover: CLUSTERDOWN). */
function outageStore() {
  const inner = createMemoryStore();
  const store = {
    ...inner,
    inner,
    down: false,
    batches: [] as StoreOp[][],
    batch(ops: readonly StoreOp[]) {
      store.batches.push([...ops]);
      return store.down ? Promise.reject(new StoreUnavailableError('CLUSTERDOWN The cluster is down')) : inner.batch(ops);
    },
  };
  return store;
}

const aborts: AbortController[] = [];
afterEach(() => {
  for (const a of aborts.splice(0)) a.abort();
  vi.useRealTimers();
});

async function outageSetUp(ttlMs = 30_000) {
  const store = outageStore();
  const sessions = createSessionManager({ store });
  const session = await sessions.create();
  const flushErrors: unknown[] = [];
  const closing = new AbortController();
  aborts.push(closing);
  const later = [claimingStage('idempotency', IDEM, 'pending-1', ttlMs), claimingStage('instance-lock', LOCK, 'token-1', ttlMs), reading];
  const stage = createPrefetchStage({ store, sessions, events: memorySecurityEvents(), later, onFlushError: (e) => flushErrors.push(e), signal: closing.signal });
  const ctx: ActionContext = createActionContext({
    request: { requestId: 'req-1', ip: '203.0.113.7', method: 'POST', url: '/api/livecomponents/action', headers: {} },
    body: { componentId: 'widget:main', action: 'bump', params: {}, csrfToken: undefined, idempotencyKey: 'k' },
    session,
    user: null,
    component: widget,
    action,
    componentContext: { user: null, componentId: 'widget:main', instance: 'main', signal: NEVER_ABORTED },
  });
  store.batches.length = 0;
  return { store, stage, ctx, flushErrors, closing };
}

/**
 * The action ran and queued what its stages queue (the new state, the idempotency record replacing
 * the pending claim, the lock's release); then the store goes down before the after-action batch.
 */
function actionThenOutage(store: ReturnType<typeof outageStore>) {
  return async (c: ActionContext): Promise<Outcome> => {
    c.prefetched?.clear(); // the stages ran
    c.deferred?.push(
      { op: 'set', key: STATE, value: 'new state', ttlMs: 60_000 },
      { op: 'deleteIfEquals', key: IDEM, expected: 'pending-1' },
      { op: 'claim', key: IDEM, value: 'done record', ttlMs: 60_000 },
      { op: 'deleteIfEquals', key: LOCK, expected: 'token-1' },
    );
    store.down = true;
    return DONE;
  };
}

describe('prefetch stage: releases that failed are retried in the background', () => {
  // No timed assertion (shared, noisy machines): the retries' timers are fake, so the test says
  // when time passes. The 503 comes before any retry was sent; with the store back, the releases
  // go out within 600 ms of (fake) time.
  it('a failed after-action batch: the lock and the pending claim are released soon after the store is back, the writes never sent again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { store, stage, ctx, flushErrors } = await outageSetUp();
    await expect(stage.run(ctx, actionThenOutage(store))).rejects.toThrow('CLUSTERDOWN');
    expect(store.batches).toHaveLength(2); // the 503 does not wait for the retries: none was sent yet
    expect(await store.inner.get(LOCK)).toBe('token-1');
    expect(await store.inner.get(IDEM)).toBe('pending-1');

    await vi.advanceTimersByTimeAsync(300); // a failover's second or so, shortened
    expect(store.batches.length).toBeGreaterThan(2); // retried (and refused) while the store was down
    store.down = false;
    await vi.advanceTimersByTimeAsync(600);
    expect(await store.inner.get(LOCK)).toBeNull();
    expect(await store.inner.get(IDEM)).toBeNull();

    // Only the token-guarded deletes went again, never the state or the idempotency record.
    const retries = store.batches.slice(2);
    expect(retries.length).toBeGreaterThan(0);
    for (const ops of retries) {
      expect(ops).toEqual([
        { op: 'deleteIfEquals', key: IDEM, expected: 'pending-1' },
        { op: 'deleteIfEquals', key: LOCK, expected: 'token-1' },
      ]);
    }
    expect(await store.inner.get(STATE)).toBeNull();
    // Once through, the loop ends: no more batches.
    const sent = store.batches.length;
    await vi.advanceTimersByTimeAsync(1_200);
    expect(store.batches.length).toBe(sent);
    expect(flushErrors).toEqual([]);
  });

  it('never deletes a lock or claim a later request took once ours expired (its token is not ours)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { store, stage, ctx } = await outageSetUp();
    await expect(stage.run(ctx, actionThenOutage(store))).rejects.toThrow('CLUSTERDOWN');
    // While the store was down our claims expired and later requests took the keys.
    await store.inner.delete(LOCK);
    await store.inner.delete(IDEM);
    await store.inner.claim(LOCK, 'token-2', 10_000);
    await store.inner.claim(IDEM, 'pending-2', 30_000);
    await vi.advanceTimersByTimeAsync(200);
    store.down = false;
    const retried = store.batches.length;
    await vi.advanceTimersByTimeAsync(1_000); // the longest pause: a retry went out
    expect(store.batches.length).toBeGreaterThan(retried);
    expect(await store.inner.get(LOCK)).toBe('token-2');
    expect(await store.inner.get(IDEM)).toBe('pending-2');
  });

  it('a failed take-back after a refused first batch is retried too', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { store, stage, ctx, flushErrors } = await outageSetUp();
    // The first batch reaches the store (its claims are made) but is answered as failed; then the store is down.
    store.batch = (ops) => {
      store.batches.push([...ops]);
      if (store.batches.length === 1) {
        return store.inner.batch(ops).then(() => {
          store.down = true;
          throw new StoreUnavailableError('Redis did not answer within 500 ms.');
        });
      }
      return store.down ? Promise.reject(new StoreUnavailableError('CLUSTERDOWN The cluster is down')) : store.inner.batch(ops);
    };
    await expect(stage.run(ctx, () => Promise.resolve(DONE))).rejects.toThrow('within 500 ms');
    await vi.advanceTimersByTimeAsync(50);
    expect(await store.inner.get(LOCK)).toBe('token-1');
    expect(flushErrors).toHaveLength(1); // the take-back's failure, as before
    store.down = false;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await store.inner.get(LOCK)).toBeNull();
    expect(await store.inner.get(IDEM)).toBeNull();
  });

  it('gives up once the claims have expired, saying so once; stops at once when the app closes', async () => {
    // The claims' TTLs run on performance.now(): faked too, so they expire when the test says.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const short = await outageSetUp(300);
    await expect(short.stage.run(short.ctx, actionThenOutage(short.store))).rejects.toThrow('CLUSTERDOWN');
    await vi.advanceTimersByTimeAsync(800);
    expect(short.flushErrors).toHaveLength(1);
    expect(String(short.flushErrors[0])).toContain('Gave up releasing claims');
    const sent = short.store.batches.length;
    await vi.advanceTimersByTimeAsync(300);
    expect(short.store.batches.length).toBe(sent);

    const closed = await outageSetUp();
    await expect(closed.stage.run(closed.ctx, actionThenOutage(closed.store))).rejects.toThrow('CLUSTERDOWN');
    closed.closing.abort();
    const before = closed.store.batches.length;
    closed.store.down = false;
    await vi.advanceTimersByTimeAsync(400);
    expect(vi.getTimerCount()).toBe(0); // no retry left scheduled
    expect(closed.store.batches.length).toBe(before);
    expect(closed.flushErrors).toEqual([]);
  });

  it('the happy path sends nothing more: two batches', async () => {
    const { store, stage, ctx } = await outageSetUp();
    expect(await stage.run(ctx, () => Promise.resolve(DONE))).toBe(DONE);
    await sleep(300);
    expect(store.batches).toHaveLength(2);
  });
});
