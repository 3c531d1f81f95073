/**
 * Driver: `better-sqlite3` 12.x (13 needs Node ≥ 22). It is the reference driver of Kysely's SQLite
 * dialect, synchronous (so every call below is atomic in-process), correct and the fastest tried
 * here. Its prebuilt binary is fetched from GitHub, which CI cannot reach, so `npm ci` builds it
 * from source with node-gyp (75–90 s; headers and g++ are on every machine). `libsql` 0.5 installs
 * prebuilt from npm, but on this machine it returned a previous key's row from `get()` after `all()`
 * on the same statement, cut strings at NUL and added `_metadata` to rows: not safe for a store.
 *
 * The SQLite store: the `Store` contract on the `lc_kv` table (migration `001_lc_kv`), so sessions,
 * sealed state, idempotency records and rate-limit state survive a restart. Expired rows read as
 * absent and are swept in the background. Each call runs its SQL synchronously between two awaits:
 * `claim`, `rateLimit` and `batch` run in one `BEGIN IMMEDIATE` transaction (atomic across
 * processes sharing the file, too); the other writes are single statements. Rate-limit state lives
 * in `lc_kv` as well, through the shared pure algorithms, so a restart does not reset a client's
 * budget and several processes on one file share it exactly.
 */
import BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { systemClock, type Clock } from '../../core/clock.js';
import { StoreUnavailableError } from '../../core/errors.js';
import { rateLimitStep } from '../../pipeline/rate-limit/algorithms.js';
import { createDatabase, sqliteConnectionOf } from '../../sql/database.js';
import { migrateToLatest } from '../../sql/migrate.js';
import type { DatabaseSchema } from '../../sql/schema.js';
import type { RateLimitDecision, RateLimitPolicy, Store, StoreOp, StoreOpResult } from '../types.js';
import * as SQL from './statements.js';
import { checkOp, checkTtl } from '../checks.js';

interface CommonOptions {
  /**
   * Time source for expiry (`expires_at` is written and compared on it).
   * @default systemClock
   */
  clock?: Clock;
  /**
   * How often expired rows are deleted in the background, in ms (`0`: never; they still read as
   * absent). The timer is `unref()`ed and stopped by `close()`.
   * @default 60_000
   */
  sweepIntervalMs?: number;
  /**
   * Longest wait of one call, in ms: for a transaction that other code holds open on the shared
   * connection (Kysely), and, with `url`, for another process's write lock (SQLite `busy_timeout`,
   * a wait that blocks the thread). Past it the call rejects with `StoreUnavailableError`.
   * @default 2_000
   */
  timeoutMs?: number;
  /**
   * Called when a background sweep fails (the next one tries again).
   * @default ignored
   */
  onSweepError?: (error: unknown) => void;
}

export type SqliteStoreOptions = CommonOptions &
  (
    | {
        /** A migrated SQLite database from `createDatabase`: the store shares its connection and never closes it. */
        db: Kysely<DatabaseSchema>;
        url?: never;
      }
    | {
        /** `sqlite:PATH`: the store opens the file, migrates it, and closes it on `close()`. */
        url: string;
        db?: never;
      }
  );

/** A SQLite `Store`, plus an on-demand sweep. */
export interface SqliteStore extends Store {
  readonly kind: 'sqlite';
  /** Deletes every expired row now; resolves how many. */
  sweepExpired(): Promise<number>;
}

/** Rows deleted per sweep statement; the sweep yields to the event loop between chunks. */
const SWEEP_CHUNK = 500;

/**
 * Opens the SQLite store.
 *
 * @example
 * const db = createDatabase('sqlite:./data/livecomponents.db');
 * await migrateToLatest(db);
 * const store = await createSqliteStore({ db });
 */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) throw new TypeError('createSqliteStore: timeoutMs must be positive');
  if (!(Number.isFinite(sweepIntervalMs) && sweepIntervalMs >= 0)) {
    throw new TypeError('createSqliteStore: sweepIntervalMs must be a non-negative number');
  }
  if (options.db !== undefined) return open(options.db, false, { ...options, timeoutMs, sweepIntervalMs });
  if (typeof options.url !== 'string') throw new TypeError('createSqliteStore: pass either db or url');
  const db = createDatabase(options.url, { busyTimeoutMs: Math.ceil(timeoutMs) });
  try {
    await migrateToLatest(db);
    return open(db, true, { ...options, timeoutMs, sweepIntervalMs });
  } catch (error) {
    await db.destroy();
    throw error;
  }
}

type Resolved = CommonOptions & { timeoutMs: number; sweepIntervalMs: number };

function open(db: Kysely<DatabaseSchema>, ownsDb: boolean, options: Resolved): SqliteStore {
  const native = connectionOf(db);
  const clock = options.clock ?? systemClock;
  const { timeoutMs } = options;
  const onSweepError = options.onSweepError ?? (() => undefined);

  let stmts: ReturnType<typeof prepare>;
  try {
    stmts = prepare(native);
  } catch (error) {
    throw new Error('createSqliteStore: the lc_kv table is missing or unreadable; run migrateToLatest(db) first', { cause: error });
  }
  const { get, set, deleteIfEquals, del, sweep, health } = stmts;
  const transaction = native.transaction((fn: () => unknown) => fn());
  /** Runs `fn` in `BEGIN IMMEDIATE … COMMIT` (ROLLBACK when it throws). */
  const immediate = <T>(fn: () => T): T => transaction.immediate(fn) as T;
  let closed = false;

  function read(key: string, now: number): string | null {
    return (get.get(key, now) as string | undefined) ?? null;
  }

  function claim(key: string, value: string, ttlMs: number, now: number): string | null {
    const held = read(key, now);
    if (held !== null) return held;
    set.run(key, value, now + ttlMs);
    return null;
  }

  function rateLimit(key: string, policy: RateLimitPolicy, nowMs: number, now: number): RateLimitDecision {
    const step = rateLimitStep(read(key, now), policy, nowMs);
    if (step.ttlMs > 0) set.run(key, step.state, now + step.ttlMs);
    else del.run(key);
    return step.decision;
  }

  /** One op of a batch (already checked); every op reads the same `now`. */
  function apply(op: StoreOp, now: number): StoreOpResult {
    switch (op.op) {
      case 'get':
        return read(op.key, now);
      case 'set':
        set.run(op.key, op.value, now + op.ttlMs);
        return null;
      case 'claim':
        return claim(op.key, op.value, op.ttlMs, now);
      case 'deleteIfEquals':
        return deleteIfEquals.run(op.key, op.expected, now).changes > 0;
      case 'delete':
        del.run(op.key);
        return null;
      case 'rateLimit':
        return rateLimit(op.key, op.policy, op.nowMs, now);
    }
  }

  function unavailable(detail: string, cause?: unknown): StoreUnavailableError {
    return new StoreUnavailableError(`SQLite store: ${detail}`, cause);
  }

  /** Driver failures (and a connection closed under us) become `StoreUnavailableError`; caller bugs pass through. */
  function mapError(error: unknown): Error {
    if (error instanceof BetterSqlite3.SqliteError || !native.open) {
      return unavailable(error instanceof Error ? error.message : String(error), error);
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  function attempt<T>(op: () => T): Promise<T> {
    if (closed) return Promise.reject(unavailable('the store is closed'));
    if (!native.open) return Promise.reject(unavailable('the database connection is closed'));
    try {
      return Promise.resolve(op());
    } catch (error) {
      return Promise.reject(mapError(error));
    }
  }

  /** Calls waiting for a transaction that other code holds open on the shared connection. */
  let queue: Promise<unknown> = Promise.resolve();
  let queued = 0;

  /**
   * Runs `op` now, unless other code (Kysely) holds a transaction open on the shared connection:
   * then the call waits for its end, in arrival order, at most `timeoutMs`. It never joins that
   * transaction, so a rollback there cannot undo a store write.
   */
  function run<T>(op: () => T): Promise<T> {
    if (queued === 0 && !native.inTransaction) return attempt(op);
    queued++;
    const deadline = performance.now() + timeoutMs;
    const result = queue.then(() => transactionEnd(deadline)).then(() => attempt(op));
    queue = result.then(
      () => queued--,
      () => queued--,
    );
    return result;
  }

  async function transactionEnd(deadline: number): Promise<void> {
    while (!closed && native.open && native.inTransaction) {
      if (performance.now() >= deadline) throw unavailable(`a transaction on the shared connection stayed open over ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  async function sweepExpired(): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await run(() => sweep.run(clock.now(), SWEEP_CHUNK).changes);
      total += deleted;
      if (deleted < SWEEP_CHUNK) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  let sweeping = false;
  const timer =
    options.sweepIntervalMs > 0
      ? setInterval(() => {
          if (sweeping || closed) return;
          sweeping = true;
          sweepExpired()
            .catch((error: unknown) => {
              if (!closed) onSweepError(error);
            })
            .finally(() => {
              sweeping = false;
            });
        }, options.sweepIntervalMs)
      : undefined;
  timer?.unref();

  return {
    kind: 'sqlite',
    get: (key) => run(() => read(key, clock.now())),
    getMany: (keys) =>
      run(() => {
        const now = clock.now();
        return keys.map((key) => read(key, now));
      }),
    set: (key, value, ttlMs) =>
      run(() => {
        checkTtl(ttlMs);
        set.run(key, value, clock.now() + ttlMs);
      }),
    claim: (key, value, ttlMs) =>
      run(() => {
        checkTtl(ttlMs);
        return immediate(() => claim(key, value, ttlMs, clock.now()));
      }),
    deleteIfEquals: (key, expected) => run(() => deleteIfEquals.run(key, expected, clock.now()).changes > 0),
    delete: (key) =>
      run(() => {
        del.run(key);
      }),
    rateLimit: (key, policy, nowMs) => run(() => immediate(() => rateLimit(key, policy, nowMs, clock.now()))),
    batch: (ops) =>
      run(() => {
        // Check every op before running any; a failing op rolls the whole batch back.
        for (const op of ops) checkOp(op);
        if (ops.length === 0) return [];
        const now = clock.now();
        return immediate(() => ops.map((op) => apply(op, now)));
      }),
    health: () =>
      run(() => {
        health.get();
      }),
    sweepExpired,
    async close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clearInterval(timer);
      if (ownsDb) await db.destroy();
    },
  };
}

function connectionOf(db: Kysely<DatabaseSchema>): BetterSqlite3.Database {
  const native = sqliteConnectionOf(db);
  if (native === undefined) throw new TypeError('createSqliteStore: db must be a SQLite database from createDatabase()');
  return native;
}

function prepare(native: BetterSqlite3.Database) {
  return {
    get: native.prepare<[string, number], string>(SQL.GET).pluck(),
    set: native.prepare<[string, string, number]>(SQL.SET),
    deleteIfEquals: native.prepare<[string, string, number]>(SQL.DELETE_IF_EQUALS),
    del: native.prepare<[string]>(SQL.DELETE),
    sweep: native.prepare<[number, number]>(SQL.SWEEP),
    health: native.prepare<[]>(SQL.HEALTH),
  };
}
