/**
 * The prefetch stage: where the pipeline first needs the store, it sends ONE batch with the
 * session record and every op the later stages prepared (rate-limit step, idempotency claim, state
 * read; in strict CSRF mode the token's single use); after the action it sends ONE batch with every
 * deferred write (new state, idempotency record, the session's renewal, strict mode's next token)
 * and the undo ops of stages that never ran (a claim released when the rate limiter refused, or when
 * strict mode found the token used). On Redis that is two round trips per action, success or refusal.
 *
 * The session's renewal is a `touch` of its record, sent on every action with a verified session,
 * refused or not: the session lives its whole TTL past its last use, and a record deleted while the
 * action ran (sign-out or sign-in in another tab) stays deleted — a touch never recreates a key.
 *
 * A refused first batch (the store's deadline passed, or the store failed) may still run: a Redis
 * that hangs (paused, swapped out) executes what it was sent once it resumes. So the undo ops of the
 * stages in that batch (release the idempotency claim and the instance lock, each only while it
 * still holds this request's own random value) are sent at once, not awaited: on the same
 * connection they queue behind the late batch and run right after it, instead of the claims
 * blocking the key (30 s) and the instance (10 s). A rate-limit step in it stays spent. Nothing
 * extra happens when the batch succeeds.
 *
 * When the releases themselves fail — the take-back, or the after-action batch that carries them (the
 * store unavailable for a moment, a Cluster failover) — they alone are sent again in the background
 * until they succeed or their claims have expired (`release-retry.ts`): once the store is back the
 * component's next action runs at once and a retry of the key is not refused for the claim's TTL.
 * The rest of a failed after-action batch (new state, idempotency record) is never sent again — but
 * for an idempotency record on a store whose batch is not one transaction (its
 * `splitsBatchesByHashTag`: Redis Cluster, one script per hash tag): there the after-action batch
 * goes in two steps, the record's completion after the state is stored, and a failed step settles
 * the record in the background (`split-flush.ts`). That costs one more round trip per action with an
 * idempotency key, on a Cluster only.
 *
 * A stage that needs the result of a deferred op (strict CSRF mode: whether the response's token
 * got the slot its request's token freed) queues it with `deferWithResult`, and is told the result
 * after the batch, before the answer goes out.
 *
 * The stage before it (the CSRF check) needs no store at all; in strict CSRF mode the token's
 * single use is the first op of the first batch (the `csrf-spend` stage, first of the later ones), so
 * the order of checks stays CSRF → rate limit → idempotency → … even though their ops travel together.
 */
import { LiveError, StoreUnavailableError } from '../../core/errors.js';
import type { SecurityEventSink } from '../../ops/security-events.js';
import type { SessionManager } from '../../session/index.js';
import type { Store, StoreOp, StoreOpResult } from '../../store/types.js';
import { fail, type ActionContext, type Outcome, type PreparedOp, type Stage } from '../types.js';
import { createReleaseRetry, releasesOf } from './release-retry.js';
import { completionsOf, evidenceOf, splitCompletions, verdictOf, withoutReplacements, type SplitBatch } from './split-flush.js';

export interface PrefetchStageOptions {
  store: Store;
  sessions: SessionManager;
  events: SecurityEventSink;
  /** The stages after this one, in order; those with `prepare` take part. */
  later: readonly Stage[];
  /**
   * Told about a failed flush after a refused action, a failed take-back after a refused first
   * batch, and a background retry of their releases that gave up (the claims then expire by
   * themselves). Log it; it must not throw.
   * @default () => {}
   */
  onFlushError?: (error: unknown) => void;
  /**
   * Aborted when the app closes: stops the background retries of failed releases (their timers never
   * keep the process alive either way). Retries that give up are told to `onFlushError`.
   * @default never aborted
   */
  signal?: AbortSignal | undefined;
  /**
   * Whether `store.batch` may apply some hash tags' ops and not others (Redis Cluster: one script per
   * tag), so the after-action batch completes idempotency records in a step of their own, after the
   * new state is stored (`split-flush.ts`). Only to override what the store says.
   * @default `store.splitsBatchesByHashTag` (true for a Redis Cluster store; a wrapping store forwards it)
   */
  splitBatches?: boolean | undefined;
}

export function createPrefetchStage(options: PrefetchStageOptions): Stage {
  const { store, sessions, events } = options;
  const preparing = options.later.filter((s) => s.prepare !== undefined);
  const onFlushError = options.onFlushError ?? (() => {});
  const retryReleases = createReleaseRetry({ store, onError: onFlushError, signal: options.signal });
  const splitBatches = options.splitBatches ?? store.splitsBatchesByHashTag === true;

  return {
    name: 'prefetch',
    async run(ctx, next) {
      const prepared: (PreparedOp | null)[] = [];
      const ops: StoreOp[] = [sessions.recordOp(ctx.session)];
      for (let s = 0; s < preparing.length; s++) {
        const p = (preparing[s] as Stage & Required<Pick<Stage, 'prepare'>>).prepare(ctx);
        prepared.push(p);
        if (p !== null) ops.push(p.op);
      }
      let results: StoreOpResult[];
      try {
        results = await store.batch(ops);
      } catch (error) {
        takeBack(prepared);
        throw error;
      }

      const map = new Map<Stage, StoreOpResult>();
      let i = 1;
      for (let s = 0; s < preparing.length; s++) if (prepared[s] !== null) map.set(preparing[s] as Stage, results[i++] as StoreOpResult);
      ctx.prefetched = map;
      const deferred: StoreOp[] = [];
      ctx.deferred = deferred;

      const checked = sessions.checkRecord(ctx.session, results[0] as string | null);
      let outcome: Outcome;
      if (checked.session === null) {
        // The cookie's session is gone (expired, signed out elsewhere): the page must reload. Its own
        // event, not `malicious_csrf`: users coming back to an old tab are no attack, and must not
        // set off the CSRF alert.
        events.emit({ event: 'session_use_after_expire', level: 'INFO', description: 'Action for an unknown or expired session', request: ctx.request });
        // Its token verified against the cookie's session id, but that session is gone: a token made
        // for it could never be used (the page reloads, and takes a new session's token). No token in
        // the answer, as in strict mode, where the token is only spent past this point.
        ctx.csrfVerified = false;
        outcome = fail(new LiveError('CSRF_TOKEN_INVALID'));
      } else {
        // The renewal (a `touch`) travels in the after-action batch: no round trip of its own, and a
        // sign-out that deleted the record while the action ran keeps it deleted.
        deferred.push(checked.touch);
        try {
          outcome = await next(ctx);
        } catch (error) {
          await flush(ctx, prepared, deferred).catch(onFlushError);
          throw error;
        }
      }
      if (outcome.type === 'ok') {
        // A failed write after a successful action must not answer 200: the new state was not kept.
        await flush(ctx, prepared, deferred);
      } else {
        await flush(ctx, prepared, deferred).catch(onFlushError);
      }
      return outcome;
    },
  };

  /**
   * Releases the claims of a refused first batch that may yet run (see the module comment). One
   * batch, not awaited: the answer (503) does not wait for a store that just failed; if it fails too,
   * the releases are retried in the background.
   */
  function takeBack(prepared: readonly (PreparedOp | null)[]): void {
    const undo: StoreOp[] = [];
    for (const p of prepared) if (p?.undo !== undefined) undo.push(p.undo);
    if (undo.length > 0) {
      store.batch(undo).catch((error: unknown) => {
        onFlushError(error);
        retryLater(undo, prepared);
      });
    }
  }

  /** Retries the releases among `failed` of claims this request made in its first batch (`prepared`). */
  function retryLater(failed: readonly StoreOp[], prepared: readonly (PreparedOp | null)[]): void {
    const claims = claimsOf(prepared);
    // The batch was one transaction: a record's compare-and-replace in it ran whole with the state, or
    // not at all, so its delete is a plain release. (A store that splits batches never gets here
    // with one: `sendInSteps` sends those.)
    retryReleases(releasesOf(withoutReplacements(failed, claims), claims));
  }

  async function flush(ctx: ActionContext, prepared: readonly (PreparedOp | null)[], deferred: StoreOp[]): Promise<void> {
    // Stages that never ran left their prefetched result behind: take back what they claimed.
    const left = ctx.prefetched;
    if (left && left.size > 0) {
      for (let s = 0; s < preparing.length; s++) {
        const undo = prepared[s]?.undo;
        if (undo !== undefined && left.has(preparing[s] as Stage)) deferred.push(undo);
      }
    }
    if (deferred.length === 0) return;
    const split = splitBatches ? splitCompletions(deferred, claimsOf(prepared)) : null;
    let results: readonly (StoreOpResult | undefined)[] | undefined;
    try {
      results = split === null ? await sendWhole(deferred, prepared) : await sendInSteps(split, deferred.length, prepared);
    } finally {
      // Stages waiting for the result of their deferred op (`deferWithResult`) are each told it, or
      // `undefined` when the batch failed, before the answer goes out.
      const watched = ctx.deferredResults;
      if (watched !== undefined && watched.size > 0) {
        for (let i = 0; i < deferred.length; i++) watched.get(deferred[i] as StoreOp)?.(ctx, results?.[i]);
        watched.clear();
      }
    }
  }

  async function sendWhole(deferred: readonly StoreOp[], prepared: readonly (PreparedOp | null)[]): Promise<StoreOpResult[]> {
    try {
      return await store.batch(deferred);
    } catch (error) {
      // The lock and claim releases in it are safe to send again; the writes are not (see above).
      retryLater(deferred, prepared);
      throw error;
    }
  }

  /**
   * The after-action batch on a store that splits batches, when it completes idempotency records:
   * the rest first, then the records (`split-flush.ts`). Rejects only when the first step failed.
   */
  async function sendInSteps(split: SplitBatch, size: number, prepared: readonly (PreparedOp | null)[]): Promise<(StoreOpResult | undefined)[]> {
    const claims = claimsOf(prepared);
    const results = new Array<StoreOpResult | undefined>(size);
    let first: StoreOpResult[];
    try {
      first = await store.batch(split.first);
    } catch (error) {
      settleLater(split, claims);
      throw error;
    }
    for (let i = 0; i < first.length; i++) results[split.firstAt[i] as number] = first[i];
    try {
      const done = await store.batch(split.completions);
      for (let i = 0; i < done.length; i++) results[split.completionsAt[i] as number] = done[i];
    } catch (error) {
      // The new state is stored: the answer stays 200, and the records are completed in the
      // background (a retry with the key answers 409 until then, never runs the action again).
      onFlushError(error);
      retryReleases(completionsOf(split.completions, claims));
    }
    return results;
  }

  /**
   * After a failed first step: asks the store whether it was stored (behind its late script), then
   * releases the records' claims (not stored: a retry runs the action), completes them (stored: a
   * retry replays it), or leaves them to expire (unknown). The step's own releases (the instance
   * lock) go out with that question.
   */
  function settleLater(split: SplitBatch, claims: readonly StoreOp[]): void {
    const evidence = evidenceOf(split.first, claims);
    const completions = completionsOf(split.completions, claims);
    const until = Math.min(...completions.map((c) => c.until));
    retryReleases([{ ops: evidence.ops, until }], (results) => {
      const verdict = verdictOf(evidence, results);
      if (verdict === 'stored') retryReleases(completions);
      else if (verdict === 'not-stored') retryReleases(releasesOf(withoutReplacements(split.completions, claims), claims));
      else onFlushError(new StoreUnavailableError('After a failed batch the idempotency record is left pending until it expires: whether the new state was stored is unknown'));
    });
  }
}

/** The ops of a request's first batch. */
function claimsOf(prepared: readonly (PreparedOp | null)[]): StoreOp[] {
  const claims: StoreOp[] = [];
  for (const p of prepared) if (p !== null) claims.push(p.op);
  return claims;
}
