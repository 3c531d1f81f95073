/**
 * SQLite through Kysely, with the two things its stock `SqliteDialect` gets wrong for a file that
 * several processes share (docs/scaling.md):
 *
 * - Write transactions begin with `BEGIN IMMEDIATE`, not Kysely's deferred `BEGIN`. A deferred
 *   transaction whose first statement reads holds a read snapshot; its first write must then upgrade
 *   it, and when another process wrote meanwhile (or holds the write lock) SQLite answers SQLITE_BUSY
 *   (SQLITE_BUSY_SNAPSHOT) at once, without calling the busy handler, so `busy_timeout` never helped:
 *   a refresh-token rotation (SELECT, then UPDATE) failed under light load from two processes.
 *   `BEGIN IMMEDIATE` takes the write lock first, waiting for it up to `busy_timeout`. Transactions
 *   set `accessMode: 'read only'` keep the deferred `BEGIN` (they never write).
 * - Errors that mean the database is unavailable rather than the query wrong (`isSqliteOutage`:
 *   locked or busy past `busy_timeout`, disk full, I/O error, read-only or corrupt file, cannot open
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

/** `SqliteDialect` on `native`, with `BEGIN IMMEDIATE` and outages mapped (see the module comment). */
export class OutageAwareSqliteDialect extends SqliteDialect {
  readonly #native: BetterSqlite3.Database;

  constructor(native: BetterSqlite3.Database) {
    super({ database: native });
    this.#native = native;
  }

  override createDriver(): Driver {
    return new OutageAwareSqliteDriver(this.#native);
  }
}

/**
 * Kysely's `SqliteDriver` (one connection behind a mutex, savepoints, destroy) with its transaction
 * start and rollback replaced, and its connection's errors mapped. Composed rather than subclassed:
 * the driver's declared methods take fewer parameters than the `Driver` interface passes.
 */
class OutageAwareSqliteDriver implements Driver {
  readonly #native: BetterSqlite3.Database;
  readonly #inner: SqliteDriver;
  /** The driver's one connection (it has no pool), wrapped once. */
  #wrapped: { inner: DatabaseConnection; outer: DatabaseConnection } | undefined;

  constructor(native: BetterSqlite3.Database) {
    this.#native = native;
    this.#inner = new SqliteDriver({ database: native });
  }

  init(): Promise<void> {
    return this.#inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const inner = await this.#inner.acquireConnection();
    if (this.#wrapped?.inner !== inner) this.#wrapped = { inner, outer: mapOutages(inner) };
    return this.#wrapped.outer;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    // The write lock up front, waiting for it up to busy_timeout (see the module comment).
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

function mapOutages(connection: DatabaseConnection): DatabaseConnection {
  return {
    async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
      try {
        return await connection.executeQuery<R>(compiledQuery);
      } catch (error) {
        throw sqliteOutage(error);
      }
    },
    async *streamQuery<R>(compiledQuery: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
      try {
        yield* connection.streamQuery<R>(compiledQuery, chunkSize);
      } catch (error) {
        throw sqliteOutage(error);
      }
    },
  };
}
