/**
 * One action at a time per component instance of a session, in this process.
 *
 * An action reads the instance's state in the pipeline's first store round trip and writes the new
 * state in its last one. Two actions on the same instance that overlap in between would both start
 * from the same state, and the second write would silently drop the first action's change (a lost
 * update: two clicks on "+" counting once). With an in-process store every call answers before the
 * next request is even parsed, so this never showed; on Redis, whose answers take a network round
 * trip, it did. Running them in arrival order closes it for every store and costs nothing when
 * actions do not overlap (the common case: a map lookup and one promise).
 *
 * Overlapping duplicates of one idempotency key therefore meet a completed record and replay it
 * (200, `cached: true`) rather than 409 `IDEMPOTENCY_KEY_IN_USE`, which remains the answer when the
 * duplicate reaches another instance while the first still runs. Actions on one instance arriving at
 * two app processes at the same moment are ordered by the instance lock in the store
 * (`src/pipeline/instance-lock/`); this queue keeps the ones of one process from polling that lock.
 */
export type OneAtATime = <T>(key: string, task: () => Promise<T>) => Promise<T>;

export function oneAtATime(): OneAtATime {
  /** Per key, the promise that settles when the last queued task has settled. */
  const tails = new Map<string, Promise<void>>();

  return function run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = tails.get(key);
    const result = previous === undefined ? task() : previous.then(task);
    // Settles once `result` has, after dropping the key when this is the last task of its line
    // (nothing waits behind it any more): one reaction per task, not a second promise to clean up.
    const settled = (): void => {
      if (tails.get(key) === tail) tails.delete(key);
    };
    const tail: Promise<void> = result.then(settled, settled);
    tails.set(key, tail);
    return result;
  };
}
