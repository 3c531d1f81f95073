/**
 * Runs `fn` once the current turn of the event loop is over (`setImmediate`): where the SQLite store
 * waits to group-commit, and the Redis store to uncork, the calls of every request that turn handled.
 * It is `setImmediate` as it was when this module loaded, so tests that fake timers later do not
 * stall the stores.
 */
export const afterThisTurn: (fn: () => void) => void = setImmediate;
