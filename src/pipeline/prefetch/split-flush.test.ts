/**
 * A store that splits batches by hash tag (Redis Cluster: one script per tag, on the tag's node) and
 * one of the after-action batch's scripts fails: the idempotency record's (`{i:…}`) or the session's
 * (`{s:…}`: new state, lock release), either before it ran or after (a reply lost with its master, a
 * timeout). Whatever failed, a retry with the same key runs the action only when its first run left no
 * state, and never replays a result whose state was not stored.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { defineComponent, NEVER_ABORTED } from '../../core/component.js';
import { StoreUnavailableError } from '../../core/errors.js';
import { html } from '../../core/html.js';
import { memorySecurityEvents } from '../../ops/security-events.js';
import { createSessionManager } from '../../session/index.js';
import type { Session } from '../../session/types.js';
import { storeKeys } from '../../store/keys.js';
import { createMemoryStore } from '../../store/memory/index.js';
import type { RateLimitPolicy, Store, StoreOp, StoreOpResult } from '../../store/types.js';
import { createIdempotencyStage } from '../idempotency/index.js';
import { createActionContext, ok, takePrefetched, type Outcome, type Stage } from '../types.js';
import { createPrefetchStage } from './index.js';
import { releasesOf } from './release-retry.js';
import { evidenceOf, splitCompletions, verdictOf } from './split-flush.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const COMPONENT = 'widget:main';
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

type Fault = { family: 's' | 'i'; mode: 'before' | 'after' };

/**
 * Memory behind a cluster's batch: one group per hash tag, each applied whole on its own, and it says
 * so (`splitsBatchesByHashTag`). An armed fault fails the first batch with a group of its family:
 * `before` it ran (never applied) or `after` (applied, the reply lost); the other groups of that batch
 * apply as usual.
 */
function splittingStore(): Store & { inner: Store; armed: Fault | null; batches: StoreOp[][] } {
  const inner = createMemoryStore();
  const store = {
    ...inner,
    splitsBatchesByHashTag: true,
    inner,
    armed: null as Fault | null,
    batches: [] as StoreOp[][],
    async batch(ops: readonly StoreOp[]) {
      store.batches.push([...ops]);
      const groups = new Map<string, number[]>();
      ops.forEach((op, i) => {
        const tag = /\{([^}]*)\}/.exec(op.key)?.[1] ?? '';
        groups.set(tag, [...(groups.get(tag) ?? []), i]);
      });
      const results = new Array<StoreOpResult>(ops.length);
      let failed = false;
      for (const [tag, indexes] of groups) {
        const fault = store.armed !== null && tag.startsWith(`${store.armed.family}:`) ? store.armed : null;
        if (fault !== null) store.armed = null;
        if (fault?.mode === 'before') {
          failed = true;
          continue;
        }
        const replies = await inner.batch(indexes.map((i) => ops[i] as StoreOp));
        indexes.forEach((i, n) => (results[i] = replies[n] as StoreOpResult));
        if (fault?.mode === 'after') failed = true;
      }
      if (failed) throw new StoreUnavailableError('CLUSTERDOWN The cluster is down');
      return results;
    },
  };
  return store;
}

/**
 * What an app's metrics decorator looks like: an object of its own that delegates every call to
 * `inner` (no spread, no prototype), forwarding `splitsBatchesByHashTag` as a wrapper must.
 */
function countingStore(inner: Store): Store & { calls: number } {
  const wrapper = {
    kind: inner.kind,
    splitsBatchesByHashTag: inner.splitsBatchesByHashTag,
    calls: 0,
    get: (key: string) => (wrapper.calls++, inner.get(key)),
    getMany: (keys: readonly string[]) => (wrapper.calls++, inner.getMany(keys)),
    set: (key: string, value: string, ttlMs: number) => (wrapper.calls++, inner.set(key, value, ttlMs)),
    claim: (key: string, value: string, ttlMs: number) => (wrapper.calls++, inner.claim(key, value, ttlMs)),
    touch: (key: string, ttlMs: number) => (wrapper.calls++, inner.touch(key, ttlMs)),
    deleteIfEquals: (key: string, expected: string) => (wrapper.calls++, inner.deleteIfEquals(key, expected)),
    delete: (key: string) => (wrapper.calls++, inner.delete(key)),
    rateLimit: (key: string, policy: RateLimitPolicy, nowMs: number) => (wrapper.calls++, inner.rateLimit(key, policy, nowMs)),
    batch: (ops: readonly StoreOp[]) => (wrapper.calls++, inner.batch(ops)),
    health: () => inner.health(),
    close: () => inner.close(),
  };
  return wrapper;
}

const closing: AbortController[] = [];
afterEach(() => {
  for (const c of closing.splice(0)) c.abort();
});

/**
 * `wrapped`: the stages get the splitting store behind `countingStore`. `splitBatches`: the prefetch
 * stage's override, unset by default (the stage reads the store's `splitsBatchesByHashTag`).
 */
async function setUp(options: { wrapped?: boolean; splitBatches?: boolean } = {}) {
  const store = splittingStore();
  const given: Store = options.wrapped === true ? countingStore(store) : store;
  const sessions = createSessionManager({ store: given });
  const session = await sessions.create();
  const stateKey = storeKeys.componentState(session.key, COMPONENT);
  const lockKey = storeKeys.instanceLock(session.key, COMPONENT);
  const counts = { executions: 0 };
  /** Arms a fault while the action runs: it hits the after-action batch, not the first. */
  const during: { fault: Fault | null } = { fault: null };
  // The instance lock: claimed in the first batch with this request's own token, released after.
  const lock: Stage = {
    name: 'instance-lock',
    prepare: (ctx) => ({ op: { op: 'claim', key: lockKey, value: ctx.request.requestId, ttlMs: 10_000 }, undo: { op: 'deleteIfEquals', key: lockKey, expected: ctx.request.requestId } }),
    run: (ctx, next) => next(ctx),
  };
  // The state: read in the first batch; the action counts its runs and the stored state counts the stored ones.
  const state: Stage = {
    name: 'state',
    prepare: () => ({ op: { op: 'get', key: stateKey } }),
    run: (ctx) => {
      const stored = takePrefetched(ctx, state) as string | null;
      const n = stored === null ? 0 : (JSON.parse(stored) as { n: number }).n;
      counts.executions++;
      store.armed = during.fault;
      during.fault = null;
      ctx.deferred?.push({ op: 'set', key: stateKey, value: JSON.stringify({ n: n + 1, by: ctx.request.requestId }), ttlMs: 60_000 });
      return Promise.resolve(ok({ html: `<p>${n + 1}</p>`, state: { n: n + 1 } }));
    },
  };
  const abort = new AbortController();
  closing.push(abort);
  const flushErrors: unknown[] = [];
  const idempotency = createIdempotencyStage({ store: given });
  const stage = createPrefetchStage({
    store: given,
    sessions,
    events: memorySecurityEvents(),
    later: [idempotency, lock, state],
    onFlushError: (e) => flushErrors.push(e),
    signal: abort.signal,
    splitBatches: options.splitBatches,
  });
  let seq = 0;
  const send = (s: Session, key: string | undefined, fault: Fault | null = null): Promise<Outcome> => {
    during.fault = fault;
    const ctx = createActionContext({
      request: { requestId: `req-${++seq}`, ip: '203.0.113.7', method: 'POST', url: '/api/livecomponents/action', headers: {} },
      body: { componentId: COMPONENT, action: 'bump', params: {}, csrfToken: undefined, idempotencyKey: key },
      session: s,
      user: null,
      component: widget,
      action,
      componentContext: { user: null, componentId: COMPONENT, instance: 'main', signal: NEVER_ABORTED },
    });
    // The runtime's stages run `later` one after another.
    const stages = [idempotency, lock, state];
    const run =
      (i: number) =>
      (c: typeof ctx): Promise<Outcome> =>
        (stages[i] as Stage).run(c, run(i + 1));
    return stage.run(ctx, run(0));
  };
  const storedCount = async () => {
    const text = await store.inner.get(stateKey);
    return text === null ? 0 : (JSON.parse(text) as { n: number }).n;
  };
  store.batches.length = 0;
  return { store, session, send, counts, storedCount, flushErrors, lockKey, stateKey };
}

describe('after-action batch on a store that splits batches by hash tag', () => {
  for (const mode of ['before', 'after'] as const) {
    it(`the record's script fails (${mode} it ran), the state's succeeds: 200, the record completed later; the retry replays, the action ran once`, async () => {
      const t = await setUp();
      const armed = t.send(t.session, 'k-1', { family: 'i', mode });
      const first = await armed;
      expect(first.type).toBe('ok');
      expect(await t.storedCount()).toBe(1);
      await sleep(400); // the background completion
      const retry = await t.send(t.session, 'k-1');
      expect(retry).toMatchObject({ type: 'ok', result: { idempotency: { cached: true }, state: { n: 1 } } });
      expect(t.counts.executions).toBe(1);
      expect(await t.storedCount()).toBe(1);
      expect(await t.store.inner.get(t.lockKey)).toBeNull();
    });
  }

  it("the session's script fails before it ran: 503; the claim is released, the retry runs the action once more and it is stored once", async () => {
    const t = await setUp();
    const armed = t.send(t.session, 'k-1', { family: 's', mode: 'before' });
    await expect(armed).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await t.storedCount()).toBe(0);
    await sleep(400); // the background check: the lock was still ours, nothing was stored
    expect(await t.store.inner.get(t.lockKey)).toBeNull();
    const retry = await t.send(t.session, 'k-1');
    expect(retry).toMatchObject({ type: 'ok', result: { idempotency: { cached: false }, state: { n: 1 } } });
    expect(t.counts.executions).toBe(2);
    expect(await t.storedCount()).toBe(1); // no replay of a result never stored; one stored run
    const replay = await t.send(t.session, 'k-1');
    expect(replay).toMatchObject({ type: 'ok', result: { idempotency: { cached: true }, state: { n: 1 } } });
    expect(t.counts.executions).toBe(2);
  });

  it("the session's script ran but its reply was lost: 503; the record is completed, the retry replays, the action ran once", async () => {
    const t = await setUp();
    const armed = t.send(t.session, 'k-1', { family: 's', mode: 'after' });
    await expect(armed).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await t.storedCount()).toBe(1);
    await sleep(400);
    const retry = await t.send(t.session, 'k-1');
    expect(retry).toMatchObject({ type: 'ok', result: { idempotency: { cached: true }, state: { n: 1 } } });
    expect(t.counts.executions).toBe(1);
    expect(await t.storedCount()).toBe(1);
    expect(t.flushErrors).toEqual([]);
  });

  it('until the record is settled a retry answers 409, it never runs the action', async () => {
    const t = await setUp();
    const armed = t.send(t.session, 'k-1', { family: 's', mode: 'after' });
    await expect(armed).rejects.toBeInstanceOf(StoreUnavailableError);
    const early = await t.send(t.session, 'k-1');
    expect(early).toMatchObject({ type: 'error', error: { code: 'IDEMPOTENCY_KEY_IN_USE' } });
    expect(t.counts.executions).toBe(1);
  });

  it('costs one more batch only for an action with a key; none without one', async () => {
    const t = await setUp();
    await t.send(t.session, 'k-1');
    expect(t.store.batches).toHaveLength(3); // first batch, the session's step, the record's step
    t.store.batches.length = 0;
    await t.send(t.session, undefined);
    expect(t.store.batches).toHaveLength(2);
  });
});

describe('a store wrapping one that splits batches (a decorator forwarding splitsBatchesByHashTag)', () => {
  it("sends the session's ops, then the record's compare-and-replace, in two steps", async () => {
    const t = await setUp({ wrapped: true });
    expect(await t.send(t.session, 'k-1')).toMatchObject({ type: 'ok', result: { idempotency: { cached: false }, state: { n: 1 } } });
    const [, sessionStep, recordStep] = t.store.batches;
    expect(t.store.batches).toHaveLength(3);
    expect(sessionStep?.map((op) => op.op)).toEqual(['touch', 'set', 'deleteIfEquals']);
    expect(sessionStep?.map((op) => op.key)).toEqual([storeKeys.session(t.session.key), t.stateKey, t.lockKey]);
    expect(recordStep?.map((op) => op.op)).toEqual(['deleteIfEquals', 'claim']);
    expect(recordStep?.every((op) => op.key.includes('{i:'))).toBe(true);
  });

  it("the record's script fails: 200 with the state stored, the record completed later; the retry replays, the action ran once", async () => {
    const t = await setUp({ wrapped: true });
    expect((await t.send(t.session, 'k-1', { family: 'i', mode: 'before' })).type).toBe('ok');
    expect(await t.storedCount()).toBe(1);
    await sleep(400); // the background completion
    expect(await t.send(t.session, 'k-1')).toMatchObject({ type: 'ok', result: { idempotency: { cached: true }, state: { n: 1 } } });
    expect(t.counts.executions).toBe(1);
  });

  it('splitBatches: false overrides the store: the after-action batch goes whole', async () => {
    const t = await setUp({ wrapped: true, splitBatches: false });
    await t.send(t.session, 'k-1');
    expect(t.store.batches).toHaveLength(2);
  });
});

describe('verdictOf', () => {
  const claims: StoreOp[] = [
    { op: 'claim', key: 'lc:{i:a}:idem:k', value: 'pending', ttlMs: 30_000 },
    { op: 'claim', key: 'lc:{s:a}:lock:c', value: 'token', ttlMs: 10_000 },
  ];
  const batch: StoreOp[] = [
    { op: 'set', key: 'lc:{s:a}:state:c', value: 'mine', ttlMs: 1 },
    { op: 'deleteIfEquals', key: 'lc:{i:a}:idem:k', expected: 'pending' },
    { op: 'claim', key: 'lc:{i:a}:idem:k', value: 'done', ttlMs: 1 },
    { op: 'deleteIfEquals', key: 'lc:{s:a}:lock:c', expected: 'token' },
  ];
  const split = splitCompletions(batch, claims);
  const evidence = evidenceOf(split?.first ?? [], claims);

  it('splits off the compare-and-replace, and asks for the lock release and the state read back', () => {
    expect(split?.completions).toEqual(batch.slice(1, 3));
    expect(split?.firstAt).toEqual([0, 3]);
    expect(evidence.ops).toEqual([batch[3], { op: 'get', key: 'lc:{s:a}:state:c' }]);
    expect(splitCompletions([batch[0] as StoreOp, batch[3] as StoreOp], claims)).toBeNull();
  });

  it("releasesOf never takes a compare-and-replace's delete for a release: only the lock's", () => {
    expect(releasesOf(batch, claims).map((r) => r.ops)).toEqual([[batch[3]]]);
  });

  it('stored only when the lock was gone and the state is ours; not stored only when the lock was ours and the state is not', () => {
    expect(verdictOf(evidence, [false, 'mine'])).toBe('stored');
    expect(verdictOf(evidence, [true, 'older'])).toBe('not-stored');
    expect(verdictOf(evidence, [true, null])).toBe('not-stored');
    expect(verdictOf(evidence, [false, 'older'])).toBe('unknown'); // lock lost with its master, or the state overwritten since
    expect(verdictOf(evidence, [true, 'mine'])).toBe('unknown');
  });
});

