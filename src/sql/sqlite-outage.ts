/**
 * SQLite through Kysely, with the three things its stock `SqliteDialect` gets wrong for a file that
 * several processes share (docs/scaling.md):
 *
 * - Write transactions begin with `BEGIN IMMEDIATE`, not Kysely's deferred `BEGIN`. A deferred
 *   transaction whose first statement reads holds a read snapshot; its first write must then upgrade
 *   it, and when another process wrote meanwhile (or holds the write lock) SQLite answers SQLITE_BUSY
 *   (SQLITE_BUSY_SNAPSHOT) at once: a refresh-token rotation (SELECT, then UPDATE) failed under light
 *   load from two processes. `BEGIN IMMEDIATE` takes the write lock first, before any read.
 *   Transactions set `accessMode: 'read only'` keep the deferred `BEGIN` (they never write).
 * - The lock is waited for OFF the event loop (`./sqlite-lock-wait.ts`). The connection's
 *   `busy_timeout` is 0 (`createDatabase`): SQLite's busy handler slept inside the synchronous driver,
 *   and a sign-in meeting another process's lock held the whole process for up to `busyTimeoutMs`.
 *   Now a statement run outside a transaction (`BEGIN IMMEDIATE` itself, a single INSERT, UPDATE or
 *   DELETE) that meets the lock fails at once with SQLITE_BUSY, having done nothing, and runs again
 *   after a short timer until `busyTimeoutMs` after that first failure. A transaction's callback runs
 *   once, after its `BEGIN IMMEDIATE` got the lock: nothing in it waits for the lock again (WAL), and
 *   nothing is retried inside it. Reads outside a transaction never wait for a writer (WAL).
 * - Errors that mean the database is unavailable rather than the query wrong (`isSqliteOutage`:
 *   locked or busy past `busyTimeoutMs`, disk full, I/O error, read-only or corrupt file, cannot open
 *   it) reject as `StoreUnavailableError` (503 `SERVICE_UNAVAILABLE`) with the driver's error as
 *   `cause`, as `pg-outage.ts` does for PostgreSQL. Errors of the query itself (a constraint, a
 *   syntax error) pass through unchanged. And when SQLite already rolled the transaction back by
 *   itself (it does on SQLITE_FULL, SQLITE_IOERR and others), Kysely's ROLLBACK is not sent: it
 *   failed with "cannot rollback - no transaction is active" and hid the real error.
 */
import BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { StoreUnavailableError } from '../core/errors.js';
import { isBusy, pausedBeforeRetry } from './sqlite-lock-wait.js';

/**
 * Primary result codes (better-sqlite3's `err.code` carries the extended one, for example
 * `SQLITE_BUSY_SNAPSHOT` or `SQLITE_IOERR_WRITE`) that mean the file or the lock, not the statement.
 */
const OUTAGE_CODES = /^SQLITE_(?:BUSY|LOCKED|FULL|IOERR|READONLY|CORRUPT|NOTADB|CANTOPEN)(?:_[A-Z_]+)?$/;

/** Whether `error` means that the SQLite database is unavailable (see `OUTAGE_CODES`), rather than the query wrong. */
export function isSqliteOutage(error: unknown): boolean {
  return error instanceof BetterSqlite3.SqliteError && OUTAGE_CODES.test(error.code);
}

/** `error` as a `StoreUnavailableError` when it is an outage; anything else unchanged. */
export function sqliteOutage(error: unknown): unknown {
  if (!isSqliteOutage(error)) return error;
  // The message only (as for PostgreSQL): the driver error itself stays available as `cause`.
  return new StoreUnavailableError(`SQLite failed: ${(error as Error).message}`, error);
}

/**
 * `SqliteDialect` on `native` (its `busy_timeout` 0), with `BEGIN IMMEDIATE`, the lock waited for
 * off the event loop up to `lockWaitMs`, and outages mapped (see the module comment).
 */
export class OutageAwareSqliteDialect extends SqliteDialect {
  readonly #native: BetterSqlite3.Database;
  readonly #lockWaitMs: number;

  constructor(native: BetterSqlite3.Database, lockWaitMs: number) {
    super({ database: native });
    this.#native = native;
    this.#lockWaitMs = lockWaitMs;
  }

  override createDriver(): Driver {
    return new OutageAwareSqliteDriver(this.#native, this.#lockWaitMs);
  }
}

/**
 * Kysely's `SqliteDriver` (one connection behind a mutex, savepoints, destroy) with its transaction
 * start and rollback replaced, and its connection waiting for the lock and mapping errors. Composed
 * rather than subclassed: the driver's declared methods take fewer parameters than the `Driver`
 * interface passes.
 */
class OutageAwareSqliteDriver implements Driver {
  readonly #native: BetterSqlite3.Database;
  readonly #lockWaitMs: number;
  readonly #inner: SqliteDriver;
  /** The driver's one connection (it has no pool), wrapped once. */
  #wrapped: { inner: DatabaseConnection; outer: DatabaseConnection } | undefined;

  constructor(native: BetterSqlite3.Database, lockWaitMs: number) {
    this.#native = native;
    this.#lockWaitMs = lockWaitMs;
    this.#inner = new SqliteDriver({ database: native });
  }

  init(): Promise<void> {
    return this.#inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const inner = await this.#inner.acquireConnection();
    if (this.#wrapped?.inner !== inner) this.#wrapped = { inner, outer: lockWaitingAndMapped(inner, this.#native, this.#lockWaitMs) };
    return this.#wrapped.outer;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    // The write lock up front, waited for off the event loop: a statement outside a transaction (see
    // the module comment and `lockWaitingAndMapped`).
    await connection.executeQuery(CompiledQuery.raw(settings.accessMode === 'read only' ? 'begin' : 'begin immediate'));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.commitTransaction(connection);
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // SQLite rolled back by itself (disk full, I/O error…): a ROLLBACK now would fail and replace
    // the error that caused it.
    if (!this.#native.open || !this.#native.inTransaction) return;
    await this.#inner.rollbackTransaction(connection);
  }

  savepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    return this.#inner.savepoint(connection, name, compileQuery);
  }

  rollbackToSavepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    return this.#inner.rollbackToSavepoint(connection, name, compileQuery);
  }

  releaseSavepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    return this.#inner.releaseSavepoint(connection, name, compileQuery);
  }

  releaseConnection(): Promise<void> {
    return this.#inner.releaseConnection();
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}

/**
 * `connection` whose statements wait for another connection's lock off the event loop (see the
 * module comment) and whose errors are mapped (`sqliteOutage`). Only a statement run outside a
 * transaction runs again, and only when it left none open: SQLITE_BUSY then means it did nothing.
 * None inside a transaction does: one holding the lock (`BEGIN IMMEDIATE`) never meets it, and in
 * any other SQLite's rule is to roll back, not to retry the statement.
 */
function lockWaitingAndMapped(connection: DatabaseConnection, native: BetterSqlite3.Database, lockWaitMs: number): DatabaseConnection {
  return {
    async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
      const alone = !native.inTransaction;
      try {
        return await connection.executeQuery<R>(compiledQuery);
      } catch (error) {
        if (alone && lockWaitMs > 0 && isBusy(error) && !native.inTransaction) {
          return whenUnlocked(() => connection.executeQuery<R>(compiledQuery), error, native, lockWaitMs);
        }
        throw sqliteOutage(error);
      }
    },
    // Streams are reads (Kysely streams only SELECTs on SQLite), which never wait for a writer (WAL).
    async *streamQuery<R>(compiledQuery: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
      try {
        yield* connection.streamQuery<R>(compiledQuery, chunkSize);
      } catch (error) {
        throw sqliteOutage(error);
      }
    },
  };
}

/**
 * Runs `statement` again after short timers (`busyPauseMs`) while it fails with SQLITE_BUSY having
 * done nothing (outside a transaction, none left open), until `lockWaitMs` after the first failure
 * (`busy`); then rejects with the last SQLITE_BUSY, as SQLite's busy handler did when its timeout
 * ran out (`database is locked`, 503). The event loop serves everything else meanwhile; Kysely's
 * other queries on this connection wait behind it (its mutex), in order.
 */
async function whenUnlocked<T>(statement: () => Promise<T>, busy: unknown, native: BetterSqlite3.Database, lockWaitMs: number): Promise<T> {
  const deadline = performance.now() + lockWaitMs;
  for (let tries = 1; ; tries++) {
    if (!(await pausedBeforeRetry(tries, deadline))) throw sqliteOutage(busy);
    // Closed meanwhile (`db.destroy()`): still the lock that kept it from running.
    if (!native.open) throw sqliteOutage(busy);
    try {
      return await statement();
    } catch (error) {
      if (!isBusy(error) || native.inTransaction) throw sqliteOutage(error);
      busy = error;
    }
  }
}
