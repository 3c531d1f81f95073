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
 * and a late copy could overwrite newer data.
 *
 * One retry loop per request, nothing on the answer's path: a pause of `FIRST_PAUSE_MS` doubling up to
 * `LONGEST_PAUSE_MS` (each drawn from its half to its whole, so the requests of one outage do not
 * retry in step; with the store back, the releases go out within the longest pause), each release
 * dropped once its claim's TTL has passed since the failure (it has expired by then). The timers are
 * `unref`ed (they never keep the process alive) and cleared when `signal` aborts. A loop that gives up
 * (TTLs over, or the store refused the ops themselves) says so once to `onError`; the failures of the
 * attempts before are not reported one by one.
 */
import { StoreUnavailableError } from '../../core/errors.js';
import type { Store, StoreOp } from '../../store/types.js';

/** First and longest pause before an attempt, in ms (with the store back, a release goes out within the longest). */
const FIRST_PAUSE_MS = 100;
const LONGEST_PAUSE_MS = 1_000;

/** A release to retry: the token-guarded delete, and until when (`performance.now()`) its claim may still exist. */
export interface PendingRelease {
  readonly op: StoreOp & { readonly op: 'deleteIfEquals' };
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
export function releasesOf(failed: readonly StoreOp[], claims: readonly StoreOp[]): PendingRelease[] {
  const now = performance.now();
  const releases: PendingRelease[] = [];
  for (const op of failed) {
    if (op.op !== 'deleteIfEquals') continue;
    const claim = claims.find((c) => c.op === 'claim' && c.key === op.key && c.value === op.expected);
    if (claim?.op === 'claim') releases.push({ op, until: now + claim.ttlMs });
  }
  return releases;
}

/** Returns `retry(releases)`: starts one background loop sending `releases` until they succeed or expire. */
export function createReleaseRetry(options: ReleaseRetryOptions): (releases: readonly PendingRelease[]) => void {
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

  return function retry(initial) {
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
      store.batch(releases.map((r) => r.op)).then(
        () => {},
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
