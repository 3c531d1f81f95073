/**
 * One deadline for a promise, used wherever a call must not hang its caller: an action past
 * `actionTimeoutMs`, a Redis call past the store's deadline, a health check past its timeout, a
 * doctor probe. `work` is not stopped (a promise cannot be), only no longer waited for.
 */

/**
 * The longest delay Node's `setTimeout`/`setInterval` honour: 2^31 − 1 ms (about 24.8 days). A
 * longer one is not refused: Node warns (TimeoutOverflowWarning) and fires after 1 ms, so a
 * deadline would pass at once and a periodic timer would run in a busy loop. Every option that
 * becomes a timer's delay is checked against it at start-up.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** How error messages state `MAX_TIMER_MS`, and why. */
export const MAX_TIMER_TEXT = `${MAX_TIMER_MS} ms (about 24.8 days, the longest a Node.js timer can wait)`;

/**
 * Settles like `work`, or rejects with `timeoutError(ms)` once `ms` pass; a rejection of `work`
 * first goes through `rejection` (e.g. to wrap it). Whatever `work` does after the deadline is ignored.
 * The factories are called only when needed, so callers on a hot path can pass module-level functions.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, timeoutError: (ms: number) => Error, rejection?: (error: unknown) => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // Capped: a budget's remainder (`deadline - now`, in floating point) can come out a fraction
    // above an `actionTimeoutMs` of exactly MAX_TIMER_MS, and Node would fire that timer after 1 ms.
    const timer = setTimeout(() => reject(timeoutError(ms)), Math.min(ms, MAX_TIMER_MS));
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(rejection === undefined ? error : rejection(error));
      },
    );
  });
}
