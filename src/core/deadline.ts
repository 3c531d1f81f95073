/**
 * One deadline for a promise, used wherever a call must not hang its caller: an action past
 * `actionTimeoutMs`, a Redis call past the store's deadline, a health check past its timeout, a
 * doctor probe. `work` is not stopped (a promise cannot be), only no longer waited for.
 */

/**
 * Settles like `work`, or rejects with `timeoutError(ms)` once `ms` pass; a rejection of `work`
 * first goes through `rejection` (e.g. to wrap it). Whatever `work` does after the deadline is ignored.
 * The factories are called only when needed, so callers on a hot path can pass module-level functions.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, timeoutError: (ms: number) => Error, rejection?: (error: unknown) => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timeoutError(ms)), ms);
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
