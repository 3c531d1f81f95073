/**
 * The idempotency stage (PROTOCOL §3): a request carrying an idempotency key runs its action at
 * most once per client and key while the result is kept; repeats get the original response back.
 *
 * - The key belongs to its client: `u:<user id>` when signed in, else `s:<session key>`. Another
 *   client sending the same key runs on its own and never sees this client's result.
 * - The first request claims the key with an in-flight lock that expires after `lockTtlMs` (a
 *   crashed process does not block the key for ever), runs the rest of the pipeline and stores
 *   `html` + public `state` for the action's `idempotencyTTL`.
 * - A completed key replays with `cached: true`, the remaining `ttl`, the original `created_at`
 *   and header `Idempotent-Replayed: true`; a key in flight answers 409 `IDEMPOTENCY_KEY_IN_USE`;
 *   the same key for another component, action or params answers 422 `IDEMPOTENCY_KEY_REUSED`.
 * - An error outcome (validation, authorization, …) or a throw releases the claim: nothing is
 *   cached and a retry runs again.
 *
 * Record format: see `record.ts`. Store round trips: one `claim` before the action, one `batch`
 * after it.
 *
 * Completing is `deleteIfEquals(pending)` then `claim(done)` in one batch: the two ops share the
 * key's hash tag, so every store applies them together (`Store.batch`) and no other request can
 * claim the key between them. If our lock expired and another request claimed the key meanwhile,
 * the delete finds their value, not ours, and our result does not overwrite theirs. On a Redis
 * Cluster the record lives on another node than the session's new state, and the prefetch stage sends
 * the pair in a step of its own once that state is stored (`prefetch/split-flush.ts`): a record is
 * never done over a lost state, and a stored state's pending claim is completed, never released.
 *
 * Limit: an action running longer than `lockTtlMs` loses its lock and a repeat may run it again:
 * choose `lockTtlMs` above the slowest action.
 */
import { randomToken } from '../../core/random.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { ActionTimeoutError, LiveError } from '../../core/errors.js';
import { HEADERS } from '../../core/wire.js';
import { storeKeys } from '../../store/keys.js';
import { compareAndReplace } from '../../store/ops.js';
import type { Store } from '../../store/types.js';
import { fail, ok, stageValue, takePrefetched, type ActionContext, type Next, type Outcome, type Stage } from '../types.js';
import { positiveInteger, positiveSeconds } from '../options.js';
import { requestFingerprint } from './fingerprint.js';
import { parseIdempotencyKey } from './key.js';
import { doneRecordText, isoSeconds, parseRecord, pendingRecordText, type DoneRecord } from './record.js';

export { canonicalJson, requestFingerprint } from './fingerprint.js';
export { isValidIdempotencyKey, parseIdempotencyKey, parseSfString, MAX_KEY_LENGTH } from './key.js';
export type { DoneRecord, IdempotencyRecord, PendingRecord } from './record.js';

export interface IdempotencyStageOptions {
  /** Where the records live; its `claim` must be atomic. */
  store: Store;
  /** @default systemClock */
  clock?: Clock | undefined;
  /**
   * How long an in-flight claim blocks its key, in ms, if the process handling it dies. Keep it
   * above the slowest action: a request still running after this may see a repeat run again.
   * @default 30_000
   */
  lockTtlMs?: number | undefined;
  /**
   * Seconds a result stays replayable for actions that set no `idempotencyTTL`.
   * @default 3600
   */
  defaultTtlSeconds?: number | undefined;
  /**
   * Told about a store failure the stage survives: releasing a claim after a failed action (the
   * lock then expires on its own) or recording a completed result (the action did run, so its
   * response is still returned). Log it; it must not throw.
   * @default () => {}
   */
  onStoreError?: ((error: unknown) => void) | undefined;
}

/** `lockTtlMs` when not given. */
export const DEFAULT_CLAIM_TTL_MS = 30_000;

/**
 * @example
 * const stage = createIdempotencyStage({ store, lockTtlMs: 60_000, defaultTtlSeconds: 86_400 });
 */
export function createIdempotencyStage(options: IdempotencyStageOptions): Stage {
  const { store } = options;
  const clock = options.clock ?? systemClock;
  const lockTtlMs = positiveInteger('Idempotency', 'lockTtlMs', options.lockTtlMs ?? DEFAULT_CLAIM_TTL_MS);
  const defaultTtlSeconds = positiveSeconds('Idempotency', 'defaultTtlSeconds', options.defaultTtlSeconds ?? 3600);
  const onStoreError = options.onStoreError ?? noop;

  /** Deletes our pending claim if it is still ours; a failure only delays the key until the lock expires. */
  function release(ctx: ActionContext, storeKey: string, pending: string): Promise<unknown> {
    if (ctx.deferred) {
      ctx.deferred.push({ op: 'deleteIfEquals', key: storeKey, expected: pending });
      return Promise.resolve();
    }
    return store.deleteIfEquals(storeKey, pending).catch(onStoreError);
  }

  /**
   * Replaces our claim with the result without overwriting a record another request made meanwhile.
   * `null` when the ops were queued on `ctx.deferred` (nothing to wait for).
   */
  function complete(ctx: ActionContext, storeKey: string, pending: string, done: string, ttlMs: number): Promise<unknown> | null {
    const ops = compareAndReplace(storeKey, pending, done, ttlMs);
    if (ctx.deferred) {
      // Flushed with the new state after the action, in the pipeline's second round trip.
      ctx.deferred.push(...ops);
      return null;
    }
    return store.batch(ops).catch(onStoreError);
  }

  async function runClaimed(ctx: ActionContext, next: Next, key: string, storeKey: string, fp: string, pending: string): Promise<Outcome> {
    // Renewed by the instance lock after a wait, which may outlast `lockTtlMs` (see `heldClaims`).
    (ctx.heldClaims ??= []).push({ key: storeKey, value: pending, ttlMs: lockTtlMs, lost: keyInUse });
    let outcome: Outcome;
    try {
      outcome = await next(ctx);
    } catch (error) {
      // A timed-out action may still be running: its claim stays until `lockTtlMs`, so a retry gets
      // 409 IDEMPOTENCY_KEY_IN_USE rather than running it a second time.
      if (!(error instanceof ActionTimeoutError)) await release(ctx, storeKey, pending);
      throw error;
    }
    if (outcome.type !== 'ok') {
      await release(ctx, storeKey, pending);
      return outcome;
    }
    const ttlSeconds = ctx.action.idempotencyTTL ?? defaultTtlSeconds;
    const now = clock.now();
    const createdAt = isoSeconds(now);
    const { html, state } = outcome.result;
    const done: DoneRecord = { s: 'done', fp, html, state, created_at: createdAt, exp: now + ttlSeconds * 1000 };
    // With the prefetch the write is only queued (flushed after the action): nothing to wait for.
    const completing = complete(ctx, storeKey, pending, doneRecordText(done), ttlSeconds * 1000);
    if (completing !== null) await completing;
    return ok({ ...outcome.result, idempotency: { key, cached: false, ttl: ttlSeconds, created_at: createdAt } });
  }

  /** The claim this request makes, computed once whether it is prefetched or sent here. */
  interface Claim {
    key: string;
    storeKey: string;
    fp: string;
    pending: string;
  }
  function claimOf(ctx: ActionContext): Claim | LiveError | null {
    return stageValue(ctx, stage, newClaim);
  }
  function newClaim(ctx: ActionContext): Claim | LiveError | null {
    const key = parseIdempotencyKey(ctx.request.headers[HEADERS.idempotencyKey], ctx.body.idempotencyKey);
    if (key === null || key instanceof LiveError) return key;
    const scope = ctx.user === null ? `s:${ctx.session.key}` : `u:${ctx.user.id}`;
    const fp = requestFingerprint(ctx.componentContext.componentId, ctx.action.name, ctx.body.params);
    const pending = pendingRecordText(fp, randomToken(16), clock.now() + lockTtlMs);
    return { key, storeKey: storeKeys.idempotency(scope, key), fp, pending };
  }

  const stage: Stage = {
    name: 'idempotency',
    prepare(ctx) {
      const claim = claimOf(ctx);
      if (claim === null || claim instanceof LiveError) return null;
      return {
        op: { op: 'claim', key: claim.storeKey, value: claim.pending, ttlMs: lockTtlMs },
        // The rate limiter refused before this stage ran: the claim must not block the key.
        undo: { op: 'deleteIfEquals', key: claim.storeKey, expected: claim.pending },
      };
    },
    async run(ctx, next) {
      const claim = claimOf(ctx);
      if (claim === null) {
        return ctx.action.requireIdempotencyKey === true ? fail(new LiveError('IDEMPOTENCY_KEY_REQUIRED')) : next(ctx);
      }
      if (claim instanceof LiveError) return fail(claim);
      const { key, storeKey, fp, pending } = claim;
      const prefetched = takePrefetched(ctx, stage);
      const existing = prefetched !== undefined ? (prefetched as string | null) : await store.claim(storeKey, pending, lockTtlMs);
      if (existing === null) return runClaimed(ctx, next, key, storeKey, fp, pending);

      const record = parseRecord(existing);
      if (record === null) {
        // Only this module writes these keys, so an unreadable record is a bug (or a format change
        // across a deploy). Drop it, unless it changed meanwhile, so the client's retry runs; answer
        // 500 so the bug is logged rather than hidden behind an ordinary 409.
        await store.deleteIfEquals(storeKey, existing);
        throw new Error('Idempotency: the stored record is unreadable; it was deleted');
      }
      if (record.fp !== fp) return fail(new LiveError('IDEMPOTENCY_KEY_REUSED'));
      if (record.s === 'pending') return fail(new LiveError('IDEMPOTENCY_KEY_IN_USE'));
      ctx.headers[HEADERS.idempotentReplayed] = 'true';
      // `exp` comes from the clock of the instance that ran the action: one whose clock is behind would
      // count more time left than the record was ever given.
      const ttl = Math.min(ctx.action.idempotencyTTL ?? defaultTtlSeconds, Math.max(0, Math.ceil((record.exp - clock.now()) / 1000)));
      return ok({ html: record.html, state: record.state, idempotency: { key, cached: true, ttl, created_at: record.created_at } });
    },
  };
  return stage;
}

function noop(): void {}

function keyInUse(): LiveError {
  return new LiveError('IDEMPOTENCY_KEY_IN_USE');
}
