/**
 * The SQLite store's calls in order, each run when the shared connection is free: no transaction
 * that other code (Kysely) holds open on it, and no lock another connection holds (another
 * process's write, the checkpoint worker's TRUNCATE). Both are waited for OFF the event loop, at
 * most the store's `timeoutMs` (`src/sql/sqlite-lock-wait.ts`), and the calls made after a waiting
 * one wait behind it, so they keep their order. A call never joins another's transaction, so a
 * rollback there cannot undo a store write.
 */
import BetterSqlite3 from 'better-sqlite3';
import { StoreUnavailableError } from '../../core/errors.js';
import { isBusy, pausedBeforeRetry } from '../../sql/sqlite-lock-wait.js';

/** A failure of the SQLite store, as every store reports one: 503 `SERVICE_UNAVAILABLE`. */
export function unavailable(detail: string, cause?: unknown): StoreUnavailableError {
  return new StoreUnavailableError(`SQLite store: ${detail}`, cause);
}

/** Driver failures (and a connection closed under us) become `StoreUnavailableError`; caller bugs pass through. */
export function storeError(native: BetterSqlite3.Database, error: unknown): Error {
  if (error instanceof BetterSqlite3.SqliteError || !native.open) {
    return unavailable(error instanceof Error ? error.message : String(error), error);
  }
  return error instanceof Error ? error : new Error(String(error));
}

export interface CallQueue {
  /**
   * Runs `op` now, unless other code holds a transaction open on the shared connection, or calls
   * wait ahead of it: then it waits for them, in arrival order, at most `timeoutMs`. When another
   * connection holds the lock (SQLITE_BUSY, nothing done), it waits for it the same way.
   */
  run<T>(op: () => T): Promise<T>;
  /** Refuses new calls; resolves once the calls already waiting have settled (at most `timeoutMs`). */
  close(): Promise<unknown>;
}

export function createCallQueue(native: BetterSqlite3.Database, timeoutMs: number): CallQueue {
  const mapError = (error: unknown) => storeError(native, error);
  let closed = false;
  /** Calls waiting for a transaction that other code holds open on the shared connection, or for a lock. */
  let queue: Promise<unknown> = Promise.resolve();
  let queued = 0;

  function run<T>(op: () => T): Promise<T> {
    if (closed) return Promise.reject(unavailable('the store is closed'));
    if (queued > 0 || native.inTransaction) return waitThenRun(op);
    if (!native.open) return Promise.reject(unavailable('the database connection is closed'));
    try {
      return Promise.resolve(op());
    } catch (error) {
      return isBusy(error) ? waitThenRun(op, error) : Promise.reject(mapError(error));
    }
  }

  /** `run`'s wait: behind the calls queued before it, then for the shared connection's transaction and the lock. */
  function waitThenRun<T>(op: () => T, busy?: unknown): Promise<T> {
    queued++;
    const deadline = performance.now() + timeoutMs;
    const result = queue.then(() => runWhenFree(op, deadline, busy));
    queue = result.then(
      () => queued--,
      () => queued--,
    );
    return result;
  }

  /**
   * Runs `op` once the shared connection has no transaction open and no other connection holds the
   * lock, trying again after a short timer (`pausedBeforeRetry`) while SQLite answers SQLITE_BUSY.
   * Such a try did nothing: the store's `BEGIN IMMEDIATE` (or a statement outside a transaction)
   * failed.
   */
  async function runWhenFree<T>(op: () => T, deadline: number, busy: unknown): Promise<T> {
    for (let tries = 1; ; tries++) {
      // Past the deadline, the same error as SQLite's busy handler gave when its timeout ran out: `database is locked`.
      if (busy !== undefined && !(await pausedBeforeRetry(tries, deadline))) throw mapError(busy);
      await transactionEnd(deadline);
      // `close()` ended the wait for that transaction: never join it.
      if (closed && native.inTransaction) throw unavailable('the store is closed');
      if (!native.open) throw unavailable('the database connection is closed');
      try {
        return op();
      } catch (error) {
        if (!isBusy(error)) throw mapError(error);
        busy = error;
      }
    }
  }

  async function transactionEnd(deadline: number): Promise<void> {
    while (!closed && native.open && native.inTransaction) {
      if (performance.now() >= deadline) throw unavailable(`a transaction on the shared connection stayed open over ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  return {
    run,
    close() {
      closed = true;
      return queue;
    },
  };
}
