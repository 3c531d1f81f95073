import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { defineComponent, NEVER_ABORTED } from '../../core/component.js';
import { LiveError, StoreUnavailableError } from '../../core/errors.js';
import { manualClock } from '../../core/clock.js';
import { html } from '../../core/html.js';
import { storeKeys } from '../../store/keys.js';
import { createMemoryStore } from '../../store/memory/index.js';
import type { Store, StoreOp, StoreOpResult } from '../../store/types.js';
import { createActionContext, ok, type ActionContext, type Outcome, type Stage } from '../types.js';
import { createInstanceLockStage } from './index.js';

const counter = defineComponent({
  name: 'counter',
  initialState: { count: 0 },
  publicState: ['count'],
  actions: { increment: { run: (s: { count: number }) => ({ count: s.count + 1 }) } },
  render: () => html``,
});
const action = (() => {
  const found = counter.actions.get('increment');
  if (found === undefined) throw new Error('test: no action');
  return found;
})();
const LOCK_KEY = storeKeys.instanceLock('session-1', 'counter:main');
/** Stands for the state stage, whose prefetched read the lock stage drops after a wait. */
const stateStage: Stage = { name: 'state', run: (ctx, next) => next(ctx) };
const DONE: Outcome = ok({ html: '', state: {} });

function makeCtx(batched = false): ActionContext {
  const ctx = createActionContext({
    request: { requestId: 'req-1', ip: '203.0.113.7', method: 'POST', url: '/api/livecomponents/action', headers: {} },
    body: { componentId: 'counter:main', action: 'increment', params: {}, csrfToken: undefined, idempotencyKey: undefined },
    session: { id: 'SECRET', key: 'session-1', userId: null, createdAt: 0 },
    user: null,
    component: counter,
    action,
    componentContext: { user: null, componentId: 'counter:main', instance: 'main', signal: NEVER_ABORTED },
  });
  if (batched) {
    ctx.prefetched = new Map<Stage, StoreOpResult>();
    ctx.deferred = [] as StoreOp[];
  }
  return ctx;
}

/** Runs the stage as the prefetch stage would: its claim in a first batch, its deferred ops in a second. */
async function runBatched(store: Store, stage: Stage, next: (ctx: ActionContext) => Promise<Outcome>, stateRead: string | null = 'S0') {
  const ctx = makeCtx(true);
  const prepared = stage.prepare?.(ctx);
  if (!prepared) throw new Error('test: the stage prepared nothing');
  const [claimed] = await store.batch([prepared.op]);
  ctx.prefetched?.set(stage, claimed as StoreOpResult);
  ctx.prefetched?.set(stateStage, stateRead);
  const outcome = await stage.run(ctx, next);
  await store.batch(ctx.deferred ?? []);
  return { ctx, outcome, prepared };
}

describe('instance-lock stage', () => {
  it('claims in the first batch, holds the lock during the action, and releases it in the second', async () => {
    const store = createMemoryStore();
    const stage = createInstanceLockStage({ store, stateStage });
    let heldDuringAction: string | null = null;
    const { ctx, outcome, prepared } = await runBatched(store, stage, async () => {
      heldDuringAction = await store.get(LOCK_KEY);
      return DONE;
    });
    expect(prepared.op).toMatchObject({ op: 'claim', key: LOCK_KEY, ttlMs: 10_000 });
    expect(prepared.undo).toEqual({ op: 'deleteIfEquals', key: LOCK_KEY, expected: (prepared.op as { value: string }).value });
    expect(heldDuringAction).toBe((prepared.op as { value: string }).value);
    expect(outcome).toBe(DONE);
    expect(ctx.deferred).toEqual([prepared.undo]);
    expect(ctx.prefetched?.has(stateStage)).toBe(true); // no wait: the state read of the first batch stands
    expect(await store.get(LOCK_KEY)).toBeNull();
  });

  it('every request has a token of its own: a release never frees another holder', async () => {
    const store = createMemoryStore();
    const stage = createInstanceLockStage({ store, stateStage });
    const tokens = new Set(Array.from({ length: 50 }, () => (stage.prepare?.(makeCtx())?.op as { value: string }).value));
    expect(tokens.size).toBe(50);
    await store.set(LOCK_KEY, 'someone-else', 10_000);
    const undo = stage.prepare?.(makeCtx())?.undo as StoreOp;
    await store.batch([undo]);
    expect(await store.get(LOCK_KEY)).toBe('someone-else');
  });

  // No timed assertion (shared, noisy machines): the stage's pauses are fake timers. For 60 ms (fake)
  // it tries the holder's lock and the action does not run; once the holder releases it, the action
  // runs within the longest pause (50 ms, 75 with its jitter).
  it('waits while another process holds the lock, then drops the stale state read and runs', async () => {
    const store = createMemoryStore();
    const stage = createInstanceLockStage({ store, stateStage });
    await store.set(LOCK_KEY, 'holder', 10_000);
    const claims: (string | null)[] = [];
    const claim = store.claim.bind(store);
    store.claim = async (...args) => {
      const held = await claim(...args);
      claims.push(held);
      return held;
    };
    let ran = false;
    let heldDuringAction: string | null = null;
    let result: Awaited<ReturnType<typeof runBatched>>;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const running = runBatched(store, stage, async () => {
        ran = true;
        heldDuringAction = await store.get(LOCK_KEY);
        return DONE;
      });
      await vi.advanceTimersByTimeAsync(60);
      expect(ran).toBe(false);
      expect(claims.length).toBeGreaterThan(0);
      expect(new Set(claims)).toEqual(new Set(['holder']));
      await store.deleteIfEquals(LOCK_KEY, 'holder');
      await vi.advanceTimersByTimeAsync(75);
      expect(ran).toBe(true);
      result = await running;
    } finally {
      vi.useRealTimers();
    }
    const { ctx, prepared } = result;
    expect(heldDuringAction).toBe((prepared.op as { value: string }).value);
    expect(ctx.prefetched?.has(stateStage)).toBe(false); // the state stage reads again, under the lock
    expect(await store.get(LOCK_KEY)).toBeNull();
  });

  // No timed assertion: the store's clock is a manual one, so the dead holder's lock expires when the
  // test moves it, not after a real wait (maxWaitMs, a real-time bound, is far beyond the test's).
  it('takes over the lock of a dead holder once it expires', async () => {
    const clock = manualClock();
    const store = createMemoryStore({ clock });
    const stage = createInstanceLockStage({ store, stateStage, ttlMs: 80, maxWaitMs: 600_000 });
    await store.set(LOCK_KEY, 'crashed-process', 80);
    const claims: (string | null)[] = [];
    const claim = store.claim.bind(store);
    store.claim = async (...args) => {
      const held = await claim(...args);
      claims.push(held);
      return held;
    };
    let ran = false;
    const running = runBatched(store, stage, async () => ((ran = true), DONE));
    // The stage tries again and again while the holder's lock is live: it waits, the action does not run.
    while (claims.length < 3 && !ran) await sleep(5);
    expect(claims).toEqual(['crashed-process', 'crashed-process', 'crashed-process']);
    expect(ran).toBe(false);
    clock.advance(80);
    const { outcome } = await running;
    expect(outcome).toBe(DONE);
    expect(ran).toBe(true);
    expect(claims.at(-1)).toBeNull();
  });

  it('answers 503 past maxWaitMs, without touching the holder’s lock or running the action', async () => {
    const store = createMemoryStore();
    const stage = createInstanceLockStage({ store, stateStage, ttlMs: 10_000, maxWaitMs: 40 });
    await store.set(LOCK_KEY, 'slow-holder', 10_000);
    let ran = false;
    const ctx = makeCtx(true);
    const prepared = stage.prepare?.(ctx);
    ctx.prefetched?.set(stage, (await store.batch([prepared?.op as StoreOp]))[0] as StoreOpResult);
    const error = await stage.run(ctx, async () => ((ran = true), DONE)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as StoreUnavailableError).code).toBe('SERVICE_UNAVAILABLE');
    expect(ran).toBe(false);
    expect(ctx.deferred).toEqual([]);
    expect(await store.get(LOCK_KEY)).toBe('slow-holder');
  });

  it('after a wait, renews the held claims before the action; one another request took answers its refusal instead', async () => {
    const store = createMemoryStore();
    const stage = createInstanceLockStage({ store, stateStage, ttlMs: 10_000 });
    const claim = (key: string) => ({ key, value: 'mine', ttlMs: 5_000, lost: () => new LiveError('IDEMPOTENCY_KEY_IN_USE') });
    const run = async (prepareClaims: () => Promise<void>) => {
      await store.set(LOCK_KEY, 'other-process', 30);
      await prepareClaims();
      const ctx = makeCtx(true);
      ctx.heldClaims = [claim('idem:kept'), claim('idem:expired'), claim('idem:taken')];
      ctx.prefetched?.set(stage, (await store.batch([stage.prepare?.(ctx)?.op as StoreOp]))[0] as StoreOpResult);
      let ran = false;
      const outcome = await stage.run(ctx, async () => ((ran = true), DONE));
      await store.batch(ctx.deferred ?? []);
      return { outcome, ran };
    };

    // Still ours (renewed), expired (taken afresh): the action runs, and both claims last their TTL again.
    const fine = await run(async () => {
      await store.set('idem:kept', 'mine', 1_000);
      await store.delete('idem:taken');
      await store.set('idem:taken', 'mine', 10);
    });
    expect(fine.ran).toBe(true);
    expect(fine.outcome.type).toBe('ok');
    await sleep(20);
    expect(await store.getMany(['idem:kept', 'idem:expired', 'idem:taken'])).toEqual(['mine', 'mine', 'mine']);

    // Another request holds one of them now: the action does not run, the lock is released.
    const lost = await run(async () => store.set('idem:taken', 'retry-on-another-process', 5_000));
    expect(lost.ran).toBe(false);
    expect(lost.outcome).toMatchObject({ type: 'error', error: { code: 'IDEMPOTENCY_KEY_IN_USE' } });
    expect(await store.get('idem:taken')).toBe('retry-on-another-process');
    expect(await store.get(LOCK_KEY)).toBeNull();
  });

  it('releases the lock when the action throws', async () => {
    const store = createMemoryStore();
    const stage = createInstanceLockStage({ store, stateStage });
    const ctx = makeCtx(true);
    ctx.prefetched?.set(stage, (await store.batch([stage.prepare?.(ctx)?.op as StoreOp]))[0] as StoreOpResult);
    await expect(stage.run(ctx, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await store.batch(ctx.deferred ?? []);
    expect(await store.get(LOCK_KEY)).toBeNull();
  });

  it('works without the prefetch batches too (its own claim and release)', async () => {
    const store = createMemoryStore();
    const stage = createInstanceLockStage({ store, stateStage });
    let held: string | null = null;
    const outcome = await stage.run(makeCtx(), async () => ((held = await store.get(LOCK_KEY)), DONE));
    expect(outcome).toBe(DONE);
    expect(held).not.toBeNull();
    expect(await store.get(LOCK_KEY)).toBeNull();
  });

  it('orders 20 overlapping runs on one store: never two actions inside at once', async () => {
    const store = createMemoryStore();
    // Twenty "processes", each its own stage (no in-process ordering), on one store.
    const stages = Array.from({ length: 20 }, () => createInstanceLockStage({ store, stateStage }));
    let inside = 0;
    let most = 0;
    await Promise.all(
      stages.map((stage) =>
        runBatched(store, stage, async () => {
          most = Math.max(most, ++inside);
          await sleep(3);
          inside--;
          return DONE;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(await store.get(LOCK_KEY)).toBeNull();
  });

  it('refuses a ttlMs or maxWaitMs that is not a positive integer', () => {
    const store = createMemoryStore();
    expect(() => createInstanceLockStage({ store, stateStage, ttlMs: 0 })).toThrow(TypeError);
    expect(() => createInstanceLockStage({ store, stateStage, maxWaitMs: 1.5 })).toThrow(TypeError);
  });
});
