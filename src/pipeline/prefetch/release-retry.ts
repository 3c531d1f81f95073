/**
 * Retries, in the background, the releases of a request's claims (its idempotency claim, its
 * instance lock) when the batch carrying them failed: the store was unavailable for a moment (a
 * Redis Cluster failover answers CLUSTERDOWN for a second or two). Without it the claims waited out
 * their TTL after the store was back: the component's next action blocked up to `instanceLock.ttlMs`
 * (10 s), a retry with the idempotency key answered 409 for up to `idempotency.lockTtlMs` (30 s).
 *
 * Only these releases are retried: each is a `deleteIfEquals` of a key this request claimed, carrying
 * the request's own random value, so sending it again, late or twice, can only delete this request's
 * own claim — never a lock or claim a later request took once ours expired. The other ops of a failed
 * batch (the new state, the idempotency record) are not: the action ran, their outcome is unknown,
 * and a late copy could overwrite newer data. A `deleteIfEquals` followed by a `claim` of the same key
 * is no release but the first half of a compare-and-replace (`compareAndReplace`: the idempotency
 * record's pending → done): deleting the pending claim alone would let a retry run the action again
 * whose state may be stored. The same loop also carries, on a store that splits batches, that
 * compare-and-replace itself and the read-back that tells whether a failed batch was stored
 * (`split-flush.ts`): each guarded by this request's own values, so repeating it is safe too.
 *
 * One retry loop per request, nothing on the answer's path: a pause of `FIRST_PAUSE_MS` doubling up to
 * `LONGEST_PAUSE_MS` (each drawn from its half to its whole, so the requests of one outage do not
 * retry in step; with the store back, the writes go out within the longest pause), each dropped once
 * its claim's TTL has passed since the failure (it has expired by then). The timers are `unref`ed
 * (they never keep the process alive) and cleared when `signal` aborts. A loop that gives up (TTLs
 * over, or the store refused the ops themselves) says so once to `onError`; the failures of the
 * attempts before are not reported one by one.
 */
import { StoreUnavailableError } from '../../core/errors.js';
import type { Store, StoreOp, StoreOpResult } from '../../store/types.js';

/** First and longest pause before an attempt, in ms (with the store back, a release goes out within the longest). */
const FIRST_PAUSE_MS = 100;
const LONGEST_PAUSE_MS = 1_000;

/**
 * Ops to send until they go through: guarded by this request's own values (a release, the record's
 * compare-and-replace, reads), so a late or second copy changes nothing more; and until when
 * (`performance.now()`) the claim they concern may still exist.
 */
export interface PendingWrite {
  readonly ops: readonly StoreOp[];
  readonly until: number;
}

export interface ReleaseRetryOptions {
  store: Store;
  /** Told once when a loop gives up; must not throw. */
  onError: (error: unknown) => void;
  /** Aborted when the app closes: every loop stops, its timer cleared. */
  signal?: AbortSignal | undefined;
  /** For tests. @default 100 and 1000 */
  pauses?: { firstMs: number; longestMs: number } | undefined;
}

/**
 * Which ops of a failed batch to retry: every `deleteIfEquals` releasing a `claim` this request made
 * in its first batch (same key, `expected` the claimed value), until that claim's TTL from now.
 */
export function releasesOf(failed: readonly StoreOp[], claims: readonly StoreOp[]): PendingWrite[] {
  const now = performance.now();
  const releases: PendingWrite[] = [];
  for (let i = 0; i < failed.length; i++) {
    const op = failed[i] as StoreOp;
    if (op.op !== 'deleteIfEquals' || replacedAfter(failed, i)) continue;
    const claim = claimOf(op, claims);
    if (claim !== undefined) releases.push({ ops: [op], until: now + claim.ttlMs });
  }
  return releases;
}

/**
 * The claim among `claims` (a request's first batch) that `op` guards on: same key, and `op` expects
 * the value the request claimed it with.
 */
export function claimOf(op: StoreOp & { readonly op: 'deleteIfEquals' }, claims: readonly StoreOp[]): (StoreOp & { op: 'claim' }) | undefined {
  for (const c of claims) if (c.op === 'claim' && c.key === op.key && c.value === op.expected) return c;
  return undefined;
}

/** Whether `ops[i]` (a `deleteIfEquals`) is the first half of a compare-and-replace: a `claim` of its key follows. */
export function replacedAfter(ops: readonly StoreOp[], i: number): boolean {
  const next = ops[i + 1];
  return next !== undefined && next.op === 'claim' && next.key === (ops[i] as StoreOp).key;
}

/**
 * Returns `retry(writes, sent?)`: starts one background loop sending `writes` (one batch) until it
 * succeeds or they expire; `sent` is told the results of the batch that went through, in the order
 * of the ops of the writes still pending then.
 */
export function createReleaseRetry(options: ReleaseRetryOptions): (writes: readonly PendingWrite[], sent?: (results: StoreOpResult[], writes: readonly PendingWrite[]) => void) => void {
  const { store, onError, signal } = options;
  const firstMs = options.pauses?.firstMs ?? FIRST_PAUSE_MS;
  const longestMs = options.pauses?.longestMs ?? LONGEST_PAUSE_MS;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  signal?.addEventListener(
    'abort',
    () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
    { once: true },
  );

  return function retry(initial, sent) {
    if (initial.length === 0 || signal?.aborted === true) return;
    let releases = initial;
    let pause = firstMs;
    let lastError: unknown;

    const schedule = (): void => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        attempt();
      }, (pause / 2) * (1 + Math.random()));
      timer.unref();
      timers.add(timer);
      pause = Math.min(pause * 2, longestMs);
    };
    const attempt = (): void => {
      if (signal?.aborted === true) return;
      const now = performance.now();
      releases = releases.filter((r) => r.until > now);
      if (releases.length === 0) {
        onError(new StoreUnavailableError('Gave up releasing claims after a failed batch: they expire by themselves', lastError));
        return;
      }
      const pending = releases;
      store.batch(pending.flatMap((r) => r.ops)).then(
        (results) => sent?.(results, pending),
        (error: unknown) => {
          lastError = error;
          // Only an unavailable store is worth another try; a refusal of the ops themselves is final.
          if (error instanceof StoreUnavailableError) schedule();
          else onError(error);
        },
      );
    };
    schedule();
  };
}
