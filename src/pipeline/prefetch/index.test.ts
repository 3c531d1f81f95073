import { describe, expect, it } from 'vitest';
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
function claimingStage(name: string, key: string, value: string): Stage {
  return {
    name,
    prepare: () => ({ op: { op: 'claim', key, value, ttlMs: 30_000 }, undo: { op: 'deleteIfEquals', key, expected: value } }),
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
