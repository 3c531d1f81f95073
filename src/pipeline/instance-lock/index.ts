/**
 * The instance-lock stage: actions on one component instance of one session run one at a time
 * across every app process sharing the store, so none of their state changes is lost.
 *
 * Within a process `src/runtime/one-at-a-time.ts` already orders them (without store traffic); two
 * processes behind a load balancer are ordered here. The lock is a store key per session and
 * component instance, `claim`ed in the pipeline's first batch (no extra round trip) and released in
 * its second, with the new state. When another process holds it, the action waits — polling the
 * claim with a growing pause, one round trip each, only then — and reads the state again once it
 * holds the lock, since the state of the first batch may predate the holder's write.
 *
 * A request that waited renews the claims the stages before it hold (`ctx.heldClaims`: the
 * idempotency claim) before going on, since the wait may have outlasted them; one it finds taken by
 * another request is answered as that claim's owner says (409 `IDEMPOTENCY_KEY_IN_USE`), and the
 * action does not run.
 *
 * The lock expires after `ttlMs` if its holder dies, so a crashed process blocks the instance that
 * long at most. An action running longer than `ttlMs` loses it, and a later one may then overlap it
 * (as with idempotency's `lockTtlMs`): keep `ttlMs` above the slowest action. A wait longer than
 * `maxWaitMs` answers 503 `SERVICE_UNAVAILABLE` (the client retries).
 */
import { randomToken } from '../../core/random.js';
import { StoreUnavailableError } from '../../core/errors.js';
import { storeKeys } from '../../store/keys.js';
import { ActionComponentContext } from '../execute/component-context.js';
import { compareAndReplace } from '../../store/ops.js';
import type { Store, StoreOp } from '../../store/types.js';
import { fail, stageValue, takePrefetched, type ActionContext, type HeldClaim, type Stage } from '../types.js';
import { positiveInteger } from '../options.js';

export interface InstanceLockStageOptions {
  store: Store;
  /** The stage that reads the instance's state: its prefetched read is dropped after a wait. */
  stateStage: Stage;
  /**
   * How long a lock lasts if its holder dies, in ms. Keep it above the slowest action.
   * @default 10_000
   */
  ttlMs?: number | undefined;
  /**
   * Longest wait for a lock another process holds, in ms; then 503 `SERVICE_UNAVAILABLE`.
   * @default ttlMs plus one second (a dead holder's lock has expired by then)
   */
  maxWaitMs?: number | undefined;
}

/** `ttlMs` when not given. */
export const DEFAULT_INSTANCE_LOCK_TTL_MS = 10_000;

/** First and longest pause between two claims of a held lock, in ms. */
const FIRST_PAUSE_MS = 2;
const LONGEST_PAUSE_MS = 50;

interface Lock {
  key: string;
  token: string;
}

/**
 * @example
 * const state = createStateStage({ states, events });
 * const lock = createInstanceLockStage({ store, stateStage: state });
 * // stages: [..., lock, state, ...]
 */
export function createInstanceLockStage(options: InstanceLockStageOptions): Stage {
  const { store, stateStage } = options;
  const ttlMs = positiveInteger('Instance lock', 'ttlMs', options.ttlMs ?? DEFAULT_INSTANCE_LOCK_TTL_MS);
  const maxWaitMs = positiveInteger('Instance lock', 'maxWaitMs', options.maxWaitMs ?? ttlMs + 1_000);

  /** This request's lock: the instance's key and a token of its own, made once (prepare, then run). */
  function lockOf(ctx: ActionContext): Lock {
    return stageValue(ctx, stage, newLock);
  }
  function newLock(ctx: ActionContext): Lock {
    return { key: storeKeys.instanceLock(ctx.session.key, ctx.componentContext.componentId), token: randomToken(16) };
  }

  const claimOp = (lock: Lock): StoreOp => ({ op: 'claim', key: lock.key, value: lock.token, ttlMs });
  const releaseOp = (lock: Lock): StoreOp => ({ op: 'deleteIfEquals', key: lock.key, expected: lock.token });

  /** Claims until this request holds the lock; throws past `maxWaitMs`. */
  async function waitFor(lock: Lock): Promise<void> {
    const deadline = performance.now() + maxWaitMs;
    for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(pause * 2, LONGEST_PAUSE_MS)) {
      if (performance.now() >= deadline) {
        throw new StoreUnavailableError(`Component instance still busy in another process after ${maxWaitMs} ms`);
      }
      // Jitter, so processes waiting for one lock do not claim in step.
      await new Promise((resolve) => setTimeout(resolve, pause / 2 + Math.random() * pause));
      if ((await store.claim(lock.key, lock.token, ttlMs)) === null) return;
    }
  }

  /**
   * Queued with the new state in the second batch (or sent now when there is no batch). When that
   * batch fails, the prefetch stage sends the release again until it goes through (it deletes only
   * this request's token, so never a lock a later request took); else the lock expires after `ttlMs`.
   */
  async function release(ctx: ActionContext, lock: Lock): Promise<void> {
    if (ctx.deferred) ctx.deferred.push(releaseOp(lock));
    else await store.deleteIfEquals(lock.key, lock.token).catch(() => false);
  }

  /**
   * Renews `claims` to their full TTL from now, in one round trip: each is put back only while it
   * still holds this request's value, or taken afresh when it expired and nobody took it meanwhile
   * (nobody ran the action under it then). Returns the first claim another request holds now.
   */
  async function renew(claims: readonly HeldClaim[]): Promise<HeldClaim | null> {
    const ops: StoreOp[] = [];
    for (const c of claims) ops.push(...compareAndReplace(c.key, c.value, c.value, c.ttlMs));
    const results = await store.batch(ops);
    for (let i = 0; i < claims.length; i++) if (results[2 * i + 1] !== null) return claims[i] as HeldClaim;
    return null;
  }

  const stage: Stage = {
    name: 'instance-lock',
    // A request refused before this stage (rate limit, idempotency replay, validation) takes it back.
    prepare(ctx) {
      const lock = lockOf(ctx);
      return { op: claimOp(lock), undo: releaseOp(lock) };
    },
    async run(ctx, next) {
      const lock = lockOf(ctx);
      const prefetched = takePrefetched(ctx, stage);
      const held = prefetched !== undefined ? (prefetched as string | null) : await store.claim(lock.key, lock.token, ttlMs);
      if (held !== null) {
        await waitFor(lock);
        // The state read with the claim may be older than the write of the process that held the lock.
        ctx.prefetched?.delete(stateStage);
      }
      try {
        const lost = held !== null && ctx.heldClaims !== undefined ? await renew(ctx.heldClaims) : null;
        if (lost !== null) return fail(lost.lost());
        // The wait was not the action's: its steps get their whole budget from here.
        if (held !== null && ctx.componentContext instanceof ActionComponentContext) ctx.componentContext.restartBudget();
        return await next(ctx);
      } finally {
        await release(ctx, lock);
      }
    },
  };
  return stage;
}
