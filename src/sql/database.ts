/**
 * One query layer for both engines (ARCHITECTURE "Chosen dependencies"): Kysely on the embedded
 * SQLite file (better-sqlite3, see `src/store/sqlite/index.ts` for why that driver) or on
 * PostgreSQL (`pg` pool). The schema and the migrations are the same for both.
 */
import { closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, type KyselyConfig } from 'kysely';
import type pg from 'pg';
import { checkTimerDelay, MAX_TIMER_MS } from '../core/deadline.js';
import { lazyRequire } from '../core/lazy-require.js';
import { attachCheckpointer, CHECKPOINT_PAGES, WAL_BACKSTOP_FACTOR } from '../store/sqlite/checkpointer.js';
import { OidIntrospectionPostgresDialect } from './pg-introspector.js';
import { withOutages } from './pg-outage.js';
import { OutageAwareSqliteDialect } from './sqlite-outage.js';
import type { DatabaseSchema } from './schema.js';
import { parseDatabaseUrl } from './url.js';
import { writeRefusal } from '../ops/writable-path.js';

export type DatabaseEngine = 'sqlite' | 'postgres';

export interface DatabaseOptions {
  /**
   * SQLite: how long a write waits for another process's write lock before failing with SQLITE_BUSY
   * (503), in ms. It waits OFF the event loop: it tries again after short timers, the connection's own
   * `busy_timeout` being 0 (`src/sql/sqlite-lock-wait.ts`); only opening the file (its PRAGMAs) waits
   * with SQLite's busy handler, blocking the thread. The SQLite store's writes wait up to its own
   * `timeoutMs`. At most 2^31 − 1 (SQLite's busy timeout is a 32-bit `int`).
   * @default 2_000
   */
  busyTimeoutMs?: number;
  /**
   * PostgreSQL: most connections in the pool. The readiness check has one more of its own
   * (`healthProbeOf`): at most `poolMax + 1` per database opened.
   * @default 10
   */
  poolMax?: number;
  /**
   * PostgreSQL: how long connecting may take before the query fails, in ms (a dead server never
   * hangs a request). At most 2^31 − 1 (a timer's limit).
   * @default 5_000
   */
  connectTimeoutMs?: number;
  /**
   * PostgreSQL: how long one query may take before it fails, in ms. The server enforces it too, on
   * every connection (see `serverTimeouts`): a statement is cancelled and rolled back by PostgreSQL a
   * little before the client gives up, and a transaction left idle for twice this long is ended.
   * At most `MAX_QUERY_TIMEOUT_MS` (1,073,741,823, about 12.4 days): twice it must still be a
   * PostgreSQL `int` of ms.
   * @default 10_000
   */
  queryTimeoutMs?: number;
  /**
   * PostgreSQL: errors of idle pooled connections (the server restarted, the network dropped).
   * The pool replaces such connections by itself; without a listener they would crash the process.
   * @default ignored
   */
  onPoolError?: (error: Error) => void;
  /**
   * PostgreSQL: how long a pooled connection lives, in ms (rounded up to whole seconds); one in use
   * then is closed when it is given back. A failover that moves the address (DNS, a virtual IP) moves
   * new connections only: without a limit, a busy pool kept every connection on the old primary, left
   * up and writable, and wrote there for as long as traffic lasted (probe P6: 6,001 rotations in 30 s,
   * none on the new primary), all of it lost when that server is shut down. 0: no limit.
   * @default 60_000
   */
  connectionLifetimeMs?: number;
  /**
   * SQLite: WAL pages from which the checkpoint worker checkpoints (src/store/sqlite/checkpointer.ts);
   * the connection's own automatic checkpoint, the backstop, runs at 4 times that.
   * @default 2_000
   */
  walCheckpointPages?: number;
  /**
   * The folder a relative `sqlite:` path is resolved against.
   * @default process.cwd()
   */
  cwd?: string;
}

interface Handle {
  readonly engine: DatabaseEngine;
  readonly sqlite: BetterSqlite3.Database | undefined;
  /** PostgreSQL: the same database on a connection of its own, for the readiness check. */
  readonly probe: Kysely<DatabaseSchema> | undefined;
}

/**
 * WAL pages at which a connection's automatic checkpoint runs (SQLite's default: 1,000): the
 * backstop, at 4 times the checkpoint worker's threshold, which keeps the WAL bounded when the
 * worker is gone or lags (src/store/sqlite/checkpointer.ts).
 */
export const WAL_AUTOCHECKPOINT_PAGES = WAL_BACKSTOP_FACTOR * CHECKPOINT_PAGES;

/** What `createDatabase` built, by the Kysely instance it returned (not by derived instances). */
const handles = new WeakMap<object, Handle>();

/**
 * Opens the database named by `url` (PROTOCOL §1 `DATABASE_URL`).
 *
 * - `sqlite:PATH`: one connection to the file (its folder is created), in WAL mode, with
 *   `busy_timeout` at open and 0 after it, `foreign_keys = ON`, `synchronous = NORMAL` (durable across process
 *   crashes; the last commits may be lost on power loss). Its WAL is checkpointed on a worker thread,
 *   one per file per process (`src/store/sqlite/checkpointer.ts`), with the connection's automatic
 *   checkpoint every `WAL_AUTOCHECKPOINT_PAGES` pages as the backstop. `sqlite::memory:` for tests. Transactions begin with
 *   `BEGIN IMMEDIATE` (the write lock first, so a transaction that reads before it writes waits for
 *   another process's lock instead of failing with SQLITE_BUSY), that lock is waited for off the
 *   event loop up to `busyTimeoutMs` (`src/sql/sqlite-lock-wait.ts`), and outages (busy past it,
 *   disk full, I/O error, read-only or corrupt file) reject as `StoreUnavailableError`
 *   (`src/sql/sqlite-outage.ts`).
 * - `postgres://…`: a `pg` pool with connect and query timeouts (the query timeout enforced by the
 *   server too: `serverTimeouts`), whose outages (connection refused or
 *   broken, a timeout, the server shutting down) reject as `StoreUnavailableError` (503 on the wire;
 *   `src/sql/pg-outage.ts`). Each connection is replaced after `connectionLifetimeMs` (a minute), so the pool follows
 *   its address to a new primary after a failover. BIGINT columns come back as numbers, as in SQLite (every BIGINT here is a millisecond time, far below 2^53).
 *   One more connection, in a pool of its own, serves the readiness check (`healthProbeOf`).
 *
 * Run `migrateToLatest(db)` before use; `db.destroy()` closes it.
 *
 * @example
 * const db = createDatabase(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
 * await migrateToLatest(db);
 */
export function createDatabase(url: string, options: DatabaseOptions = {}): Kysely<DatabaseSchema> {
  const target = parseDatabaseUrl(url, options.cwd);
  if (target.engine === 'sqlite') {
    const pages = positiveInteger('walCheckpointPages', options.walCheckpointPages ?? CHECKPOINT_PAGES);
    const busyTimeoutMs = options.busyTimeoutMs ?? 2_000;
    const native = openSqlite(target.path, busyTimeoutMs, WAL_BACKSTOP_FACTOR * pages);
    let release: () => Promise<void>;
    try {
      // Opened, the lock is waited for off the event loop, never in SQLite's busy handler (it sleeps
      // inside the synchronous driver): src/sql/sqlite-lock-wait.ts.
      native.pragma('busy_timeout = 0');
      release = attachCheckpointer(native, pages);
    } catch (error) {
      native.close();
      throw error;
    }
    // Write transactions begin with BEGIN IMMEDIATE, the lock is waited for up to busyTimeoutMs, and
    // outages (busy past it, disk full, I/O error…) reject as StoreUnavailableError: src/sql/sqlite-outage.ts.
    const db = new SqliteKysely({ dialect: new OutageAwareSqliteDialect(native, busyTimeoutMs) }, native, release);
    handles.set(db, { engine: 'sqlite', sqlite: native, probe: undefined });
    return db;
  }
  const queryTimeoutMs = timeoutOption('queryTimeoutMs', options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS, false, MAX_QUERY_TIMEOUT_MS);
  const connectTimeoutMs = timeoutOption('connectTimeoutMs', options.connectTimeoutMs ?? 5_000, false, MAX_TIMER_MS);
  const poolMax = positiveInteger('poolMax', options.poolMax ?? 10);
  const onPoolError = options.onPoolError ?? (() => undefined);
  const lifetimeMs = timeoutOption('connectionLifetimeMs', options.connectionLifetimeMs ?? DEFAULT_CONNECTION_LIFETIME_MS, true, MAX_CONNECTION_LIFETIME_MS);
  const openPool = (max: number): pg.Pool => {
    const pool = new (loadPg().Pool)({
      connectionString: target.connectionString,
      max,
      connectionTimeoutMillis: connectTimeoutMs,
      // Replaced now and then, so the pool follows the address to a new primary (connectionLifetimeMs).
      maxLifetimeSeconds: Math.ceil(lifetimeMs / 1_000),
      // The outer bound, for a server or network that stops answering altogether.
      query_timeout: queryTimeoutMs,
      // Sent as startup parameters, so they hold on every connection of the pool from its first query.
      ...serverTimeouts(queryTimeoutMs),
      types: BIGINT_AS_NUMBER,
    });
    pool.on('error', onPoolError);
    return pool;
  };
  // Outages (down, refusing, not answering) reject as StoreUnavailableError: 503, as for the other stores.
  // Catalog look-ups by OID: a schema dropped meanwhile by another session no longer fails the migrations.
  const dialectOf = (pool: pg.Pool) => new OidIntrospectionPostgresDialect({ pool: withOutages(pool) });
  // Readiness asks on a connection of its own: on the app's pool it measured the pool, not PostgreSQL —
  // requests waiting on a lock (an operator's ALTER TABLE) held every connection, the check found none
  // within its timeout, and every instance left the balancer at once while PostgreSQL answered.
  const probePool = openPool(1);
  const probe = new Kysely<DatabaseSchema>({ dialect: dialectOf(probePool) });
  const db = new PostgresKysely({ dialect: dialectOf(openPool(poolMax)) }, probePool);
  handles.set(db, { engine: 'postgres', sqlite: undefined, probe });
  return db;
}

/** The engine behind a database from `createDatabase`, `undefined` for any other Kysely instance. */
export function databaseEngine<DB>(db: Kysely<DB>): DatabaseEngine | undefined {
  return handles.get(db)?.engine;
}

/**
 * The better-sqlite3 connection behind a SQLite database from `createDatabase` (for the SQLite
 * store's prepared statements, which share it), `undefined` otherwise.
 */
export function sqliteConnectionOf<DB>(db: Kysely<DB>): BetterSqlite3.Database | undefined {
  return handles.get(db)?.sqlite;
}

/**
 * The database to run the readiness check on: for PostgreSQL from `createDatabase`, the same database
 * on a connection of its own (a pool of one, closed by `db.destroy()`), so a saturated app pool does
 * not read as PostgreSQL not answering; `db` itself otherwise.
 */
export function healthProbeOf<T extends object>(db: T): T | Kysely<DatabaseSchema> {
  return handles.get(db)?.probe ?? db;
}

/** `destroy()` also closes the readiness check's connection (`healthProbeOf`). */
class PostgresKysely extends Kysely<DatabaseSchema> {
  readonly #probePool: pg.Pool;

  constructor(config: KyselyConfig, probePool: pg.Pool) {
    super(config);
    this.#probePool = probePool;
  }

  override async destroy(): Promise<void> {
    try {
      await super.destroy();
    } finally {
      // pg refuses a second end(); destroy() may be called twice (Kysely's own is idempotent).
      if (!this.#probePool.ending) await this.#probePool.end();
    }
  }
}

/**
 * `destroy()` also releases the file's checkpoint worker (waiting for its thread to end), and closes
 * the connection even when no query ever ran (Kysely's driver then has nothing to close).
 */
class SqliteKysely extends Kysely<DatabaseSchema> {
  readonly #native: BetterSqlite3.Database;
  readonly #release: () => Promise<void>;

  constructor(config: KyselyConfig, native: BetterSqlite3.Database, release: () => Promise<void>) {
    super(config);
    this.#native = native;
    this.#release = release;
  }

  override async destroy(): Promise<void> {
    try {
      await super.destroy();
    } finally {
      if (this.#native.open) this.#native.close();
      await this.#release();
    }
  }
}

function openSqlite(path: string, busyTimeoutMs: number, autocheckpointPages: number): BetterSqlite3.Database {
  const timeout = timeoutOption('busyTimeoutMs', busyTimeoutMs, true, MAX_TIMER_MS);
  let native: BetterSqlite3.Database;
  // Private to the app's user from the start: the file holds password hashes, emails and sessions
  // (logs get 0640 for less). A folder or file that already exists keeps its mode; SQLite gives
  // the -wal and -shm files the database file's. Only a missing file is created here: closing a
  // descriptor to a file that this process already has open through SQLite (a second connection)
  // would drop the POSIX locks SQLite holds on it.
  if (path !== ':memory:') makeFolder(path);
  try {
    if (path !== ':memory:' && !existsSync(path)) createPrivate(path);
    native = new BetterSqlite3(path, { timeout });
  } catch (error) {
    throw new Error(sqliteOpenFailure(path, error), { cause: error });
  }
  try {
    switchToWal(native, path);
    if (path !== ':memory:') checkWritable(native, path);
    native.pragma('foreign_keys = ON');
    native.pragma('synchronous = NORMAL');
    // The backstop only (the worker checkpoints first, off the event loop): this one blocks the event
    // loop, the driver being synchronous, for the copy back and an fsync (100–485 ms measured at
    // 10,000 pages). Far above SQLite's 1,000 so it stays idle while the worker keeps up.
    native.pragma(`wal_autocheckpoint = ${autocheckpointPages}`);
    // When a writer starts the WAL over from its beginning, the file is cut back to the backstop's
    // size. The worker's TRUNCATE does that itself; this covers the resets it does not see (several
    // processes on the file, where another's PASSIVE checkpoint let a writer restart a long WAL).
    native.pragma(`journal_size_limit = ${autocheckpointPages * 4_120}`);
  } catch (error) {
    native.close();
    throw error;
  }
  return native;
}

/**
 * Makes the folder of the file at `path` (0700). On a read-only root file system (a container whose
 * volume is mounted elsewhere) Node says ENOENT, or EACCES for the folder asked for: the message
 * names the folder that refuses, why, and what to set, as the doctor does.
 */
function makeFolder(path: string): void {
  const folder = dirname(path);
  try {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new Error(
      `SQLite: cannot open ${path} (${writeRefusal(folder, error)}): the file and its folder must be writable by this process; point DATABASE_URL at a writable folder, such as a mounted volume (/app/data in the image)`,
      { cause: error },
    );
  }
}

/**
 * Puts the file in WAL mode. A file not yet in it (new, empty, or from elsewhere), and one in it
 * whose -shm SQLite must create, is written here first: one this process may not write fails here,
 * before `checkWritable`, and gets the same message (SQLite's own words name no file).
 */
function switchToWal(native: BetterSqlite3.Database, path: string): void {
  let mode: unknown;
  try {
    mode = native.pragma('journal_mode = WAL', { simple: true });
  } catch (error) {
    throw new Error(sqliteOpenFailure(path, error), { cause: error });
  }
  if (path !== ':memory:' && mode !== 'wal') {
    throw new Error(`SQLite: could not switch ${path} to WAL mode (journal_mode is ${String(mode)})`);
  }
}

/**
 * Fails (SQLITE_READONLY) unless SQLite can write the file. A file this process may not write
 * (mode 0444, or root's 0644 for the app's user) is opened read-only without a word, and every
 * write of every request then answered 503 while the liveness probe stayed green. A write of the
 * header's `user_version` with the value it has asks SQLite itself, the -wal and -shm files
 * included (`db.readonly` only tells how it was asked to open, and `access(W_OK)` says yes to root
 * on any file); it changes nothing: no migration or store reads it.
 */
function checkWritable(native: BetterSqlite3.Database, path: string): void {
  try {
    native.pragma(`user_version = ${Number(native.pragma('user_version', { simple: true }))}`);
  } catch (error) {
    throw new Error(sqliteOpenFailure(path, error), { cause: error });
  }
}

/**
 * What to do when better-sqlite3's native module does not load: an install with scripts off (pnpm's
 * default, `npm install --ignore-scripts`) leaves it unbuilt, and one built for another Node.js
 * version or platform fails to load.
 */
const SQLITE_DRIVER_NOT_BUILT =
  "the SQLite driver's native module (better-sqlite3) is not built for this Node.js: build it with `npm rebuild better-sqlite3`, or let its install script run (pnpm: list it in onlyBuiltDependencies; npm: allow its install script)";

/** `SQLITE_DRIVER_NOT_BUILT` with the driver's own words, when `error` is that; `undefined` otherwise. */
export function sqliteDriverNotBuilt(error: unknown): string | undefined {
  return isSqliteDriverNotBuilt(error) ? `${SQLITE_DRIVER_NOT_BUILT} (${firstLine((error as Error).message)})` : undefined;
}

/**
 * Whether `error` is better-sqlite3 failing to load its native module (thrown by its constructor,
 * where it loads it): not found (`bindings`: "Could not locate the bindings file"), or found and
 * refused by Node (ERR_DLOPEN_FAILED: another Node.js version or platform).
 */
function isSqliteDriverNotBuilt(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ERR_DLOPEN_FAILED' || /^Could not locate the bindings file/.test(error.message)) return true;
  return code === 'MODULE_NOT_FOUND' && /\.node'/.test(error.message);
}

/**
 * The file system or SQLite refusing to create, open or write the file (permissions, a read-only
 * file system or file — SQLITE_READONLY from `checkWritable` —, a folder where the file should be,
 * `ENOENT` when its folder went away after `makeFolder`, which words its own failures): what the
 * writability hint is about. A driver that does not load, or a file that is not a database, needs
 * something else.
 */
const OPEN_REFUSALS = ['EACCES', 'EPERM', 'EROFS', 'ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'SQLITE_CANTOPEN', 'SQLITE_PERM', 'SQLITE_READONLY'];

function isOpenRefusal(error: unknown): boolean {
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  // SQLite's extended codes (SQLITE_CANTOPEN_ISDIR, SQLITE_READONLY_DIRECTORY…) refine the primary one.
  return code !== undefined && OPEN_REFUSALS.some((refusal) => code === refusal || code.startsWith(`${refusal}_`));
}

/** The message of a failure to open the SQLite file at `path`, with what to fix when it is known. */
function sqliteOpenFailure(path: string, error: unknown): string {
  const driver = sqliteDriverNotBuilt(error);
  if (driver !== undefined) return `SQLite: cannot open ${path}: ${driver}`;
  // SQLite's own words ("unable to open database file") name neither the file nor what to fix.
  const message = error instanceof Error ? error.message : String(error);
  return `SQLite: cannot open ${path} (${message})${openFix(path, error)}`;
}

/**
 * What to fix, after the reason, as the doctor's `database` check says it. A folder is refused by
 * SQLite as SQLITE_CANTOPEN, which alone read as a permission problem; a file that is not a
 * database (SQLITE_NOTADB: another file, or one damaged or encrypted) is no writability problem either.
 */
function openFix(path: string, error: unknown): string {
  if (isFolder(path)) {
    return `: it is a folder, not an SQLite file; name a file in it, such as sqlite:${join(path, 'app.db')}`;
  }
  if (error instanceof Error && (error as NodeJS.ErrnoException).code === 'SQLITE_NOTADB') {
    return ": it is not an SQLite database; name the app's database file, or a new file to create";
  }
  return isOpenRefusal(error) ? `: the file and its folder must be writable by this process (WAL mode keeps ${basename(path)}-wal and -shm beside it)` : '';
}

/** The first line of a message ("Could not locate the bindings file. Tried:" lists 13 paths below it). */
function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/\.?\s*Tried:$/, '');
}

/** Whether `path` is a folder (false when it cannot be told: a parent this process may not search). */
function isFolder(path: string): boolean {
  try {
    return path !== ':memory:' && statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
  } catch {
    return false;
  }
}

/** Creates `path` (0600), unless another process just did. */
function createPrivate(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/**
 * The limits PostgreSQL itself enforces on each connection, from the client's `queryTimeoutMs`.
 *
 * The client-side `query_timeout` alone closes the socket and leaves the server to find out: a
 * backend waiting on a lock never does, so every timed-out query left one behind, holding its
 * connection slot (and whatever locks it already had), until `max_connections` refused everyone.
 * Hence, on the server:
 *
 * - `statement_timeout` a margin below `queryTimeoutMs` (a fifth of it, at most 1 s): the server
 *   cancels the statement first, so the outcome is certain (the statement, and its transaction,
 *   rolled back; SQLSTATE 57014) and the connection stays usable;
 * - `lock_timeout` the same (SQLSTATE 55P03 names the cause: a lock held elsewhere);
 * - `idle_in_transaction_session_timeout` twice `queryTimeoutMs`: a transaction whose client died
 *   or hung between two statements is ended, and its locks freed (SQLSTATE 25P03).
 */
export function serverTimeouts(queryTimeoutMs: number): {
  statement_timeout: number;
  lock_timeout: number;
  idle_in_transaction_session_timeout: number;
} {
  // Never 0, which means "no limit" to PostgreSQL (and which pg would not even send).
  const statement = Math.max(1, queryTimeoutMs - Math.min(1_000, Math.ceil(queryTimeoutMs / 5)));
  return { statement_timeout: statement, lock_timeout: statement, idle_in_transaction_session_timeout: 2 * queryTimeoutMs };
}

/** `connectionLifetimeMs` by default: a reconnection a minute per pooled connection costs next to nothing. */
export const DEFAULT_CONNECTION_LIFETIME_MS = 60_000;

/** pg-pool takes whole seconds and sets a timer of that many thousand ms: rounded up, it must stay a timer's. */
const MAX_CONNECTION_LIFETIME_MS = Math.floor(MAX_TIMER_MS / 1_000) * 1_000;

/** `queryTimeoutMs` by default, as the reference app opens its database. */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;

/**
 * The longest `queryTimeoutMs`: `idle_in_transaction_session_timeout` is twice it, and PostgreSQL
 * takes at most 2^31 − 1 ms there (an `int`) — more, and it refused every connection at start-up
 * (`invalid value for parameter`). It keeps `statement_timeout` and pg's own query timer (a Node
 * timer) within their limit of 2^31 − 1 too.
 */
export const MAX_QUERY_TIMEOUT_MS = Math.floor(MAX_TIMER_MS / 2);

/** A whole number from 1 (`poolMax`). */
function positiveInteger(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 1)) throw new TypeError(`createDatabase: ${name} must be a positive integer`);
  return value;
}

/**
 * A timeout: a whole number of ms from 1 (or 0) to `max`. SQLite's busy timeout and PostgreSQL's
 * are 32-bit `int`s of ms, and Node fires a timer of more than 2^31 − 1 ms after 1 ms
 * (`connectTimeoutMs: 2 ** 31` failed every connection at once).
 */
function timeoutOption(name: string, value: number, zeroAllowed: boolean, max: number): number {
  return checkTimerDelay(value, { zero: zeroAllowed, integer: true, max }, () => {
    return new TypeError(`createDatabase: ${name} must be a ${zeroAllowed ? 'non-negative' : 'positive'} integer, at most ${max}`);
  });
}

/** pg, loaded when a PostgreSQL database is first opened (src/core/lazy-require.ts). */
const loadPg = lazyRequire<typeof pg>('pg');

/** pg type parsers with BIGINT (`int8`) read as a JavaScript number instead of a string. */
const BIGINT_AS_NUMBER = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    const { types } = loadPg();
    if (oid === types.builtins.INT8 && format !== 'binary') return (text: string) => Number(text);
    return types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;
