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
 * absent and are swept in the background. Rate-limit state lives in `lc_kv` as well, through the
 * shared pure algorithms, so a restart does not reset a client's budget and several processes on
 * one file share it exactly.
 *
 * Group commit: a write transaction costs far more than the statements in it (WAL frames written
 * with two `pwrite`s each, shared-memory locks taken and released with six `fcntl`s), and an action
 * makes two of them. So every write call (and `batch`) made in one turn of the event loop is queued
 * and run in ONE write transaction on the next `setImmediate`: under load the two
 * batches of a dozen concurrent actions share one commit (~3× less store CPU per action in the
 * bench). Each call keeps its own guarantees: it fails alone (a call that throws rolls back alone, the
 * others committed without it, and a failed `batch` writes nothing: `commitJobs`), its SQL runs synchronously (atomic in-process),
 * `BEGIN IMMEDIATE` makes it atomic across processes sharing the file, and its promise settles only after the COMMIT, so it is
 * exactly as durable as with a transaction of its own. Reads run at once unless writes are queued,
 * and then queue behind them, so calls keep their order. A lone call waits one `setImmediate`
 * (microseconds).
 *
 * Lock waits: while another connection holds the write lock (another process, the checkpoint
 * worker's TRUNCATE), `BEGIN IMMEDIATE` fails at once with nothing written (the connection's
 * `busy_timeout` is 0: `createDatabase`), and the transaction runs again
 * after a short timer, up to `timeoutMs`: the wait happens off the event loop, which keeps serving
 * every other request (`src/sql/sqlite-lock-wait.ts`). The calls made after it wait behind it, in
 * order (`./call-queue.ts`).
 */
import { statSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { systemClock, type Clock } from '../../core/clock.js';
import { checkTimerDelay, MAX_TIMER_MS } from '../../core/deadline.js';
import { rateLimitPeek, rateLimitStep } from '../../pipeline/rate-limit/algorithms.js';
import { createDatabase, sqliteConnectionOf } from '../../sql/database.js';
import { migrateToLatest } from '../../sql/migrate.js';
import type { DatabaseSchema } from '../../sql/schema.js';
import type { RateLimitDecision, RateLimitPolicy, Store, StoreOpResult } from '../types.js';
import * as SQL from './statements.js';
import { checkpointerOf } from './checkpointer.js';
import { isBusy } from '../../sql/sqlite-lock-wait.js';
import { createCallQueue, storeError, unavailable } from './call-queue.js';
import { afterThisTurn } from '../after-this-turn.js';
import { runBatch, type PlainOp } from '../embedded-batch.js';
import { WRITE_CHECK_KEY } from '../keys.js';
import { checkCompare, checkKey, checkKeys, checkOps, checkRateLimitCall, checkTouch, checkWrite, rejection, sweepIntervalOf, wholeMs } from '../checks.js';

interface CommonOptions {
  /**
   * Time source for expiry (`expires_at` is written and compared on it).
   * @default systemClock
   */
  clock?: Clock;
  /**
   * How often expired rows are deleted in the background, in ms (`0`: never; they still read as
   * absent). The timer is `unref()`ed and stopped by `close()`. At most 2^31 − 1 (a timer's limit).
   * @default 60_000
   */
  sweepIntervalMs?: number;
  /**
   * Longest wait of one call, in ms: for a transaction that other code holds open on the shared
   * connection (Kysely), for the calls ahead of it, and for a lock another connection holds (another
   * process's write, the checkpoint worker's TRUNCATE). The lock is waited for off the event loop
   * (`src/sql/sqlite-lock-wait.ts`): the other requests are served meanwhile. Past it the call rejects with
   * `StoreUnavailableError` (`database is locked` for the lock). With `url`, also the migration's
   * `busy_timeout` at open. At most 2^31 − 1 (`busy_timeout` is a C `int`; better-sqlite3 refuses more).
   * @default 2_000
   */
  timeoutMs?: number;
  /**
   * Called when a background sweep fails (the next one tries again), and when the file's WAL
   * checkpoint worker dies or a checkpoint of it fails (`./checkpointer.ts`).
   * @default ignored (the worker's failures are a process warning)
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

/** How long the health check's row lives (swept like any other). */
const WRITE_CHECK_TTL_MS = 60_000;

/** `dev:ino` of a database file, `null` when it is missing or the database is in memory. */
function fileIdentity(path: string): string | null {
  if (path === ':memory:' || path === '') return null;
  const stat = statSync(path, { throwIfNoEntry: false });
  return stat === undefined ? null : `${stat.dev}:${stat.ino}`;
}

/** Rows deleted per sweep statement at most; the sweep yields to the event loop between chunks. */
const SWEEP_CHUNK = 500;

/**
 * Bytes of values deleted per sweep statement at most (the chunk ends with the row that crosses
 * it): freeing a value's overflow pages costs about its size, and 500 expired states of 1.4 MB took
 * 316 ms in one statement.
 */
export const SWEEP_CHUNK_BYTES = 16 * 1_048_576;

/**
 * Opens the SQLite store.
 *
 * @example
 * const db = createDatabase('sqlite:./data/livecomponents.db');
 * await migrateToLatest(db);
 * const store = await createSqliteStore({ db });
 */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  // SQLite's busy timeout is an `int` of ms: more failed to open the file with a message about its
  // permissions (better-sqlite3's RangeError, wrapped by createDatabase), and a fraction below 1 was
  // rounded up to 1 ms.
  const timeoutMs = checkTimerDelay(options.timeoutMs ?? 2_000, {}, () => {
    return new TypeError(`createSqliteStore: timeoutMs must be a positive number of ms, at most ${MAX_TIMER_MS} (SQLite's busy timeout is a 32-bit int), and at least 1`);
  });
  const sweepIntervalMs = sweepIntervalOf('createSqliteStore', options.sweepIntervalMs ?? 60_000);
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
  const { get, set, insertOrTakeOver, touch, replaceIfEquals, deleteIfEquals, del, sweep, anyExpired } = stmts;
  const transaction = native.transaction((fn: () => unknown) => fn());
  /**
   * Runs `fn` in `BEGIN IMMEDIATE … COMMIT` (ROLLBACK when it throws). The connection's
   * `busy_timeout` is 0 (`createDatabase`), so while another connection holds the write lock
   * `BEGIN IMMEDIATE` throws SQLITE_BUSY at once, with nothing written, instead of waiting for it on
   * the event loop; `run` waits for it off the loop (`src/sql/sqlite-lock-wait.ts`).
   */
  const writing = <T>(fn: () => T): T => transaction.immediate(fn) as T;
  /** Inside that transaction: runs `fn` in a savepoint (rolled back alone when it throws). */
  const savepoint = <T>(fn: () => T): T => transaction(fn) as T;
  let closed = false;

  function read(key: string, now: number): string | null {
    return (get.get(key, now) as string | undefined) ?? null;
  }

  /** One statement when the key is free (the usual case); a second one reads the holder's value. */
  function claim(key: string, value: string, ttlMs: number, now: number): string | null {
    if (insertOrTakeOver.run(key, value, now + wholeMs(ttlMs), now).changes > 0) return null;
    return read(key, now);
  }

  /** `touch`: one UPDATE of `expires_at`, only on a live row. */
  function renew(key: string, ttlMs: number, now: number): boolean {
    return touch.run(now + wholeMs(ttlMs), key, now).changes > 0;
  }

  function rateLimit(key: string, policy: RateLimitPolicy, nowMs: number, now: number): RateLimitDecision {
    const step = rateLimitStep(read(key, now), policy, nowMs);
    if (step.ttlMs > 0) set.run(key, step.state, now + step.ttlMs);
    else del.run(key);
    return step.decision;
  }

  /** Compare-and-replace for `runBatch`: one UPDATE in place instead of delete, read and insert. */
  function replace(key: string, expected: string, value: string, ttlMs: number, now: number): boolean {
    return replaceIfEquals.run(value, now + wholeMs(ttlMs), key, expected, now).changes > 0;
  }

  /** One op of a batch (already checked); every op reads the same `now`. */
  function apply(op: PlainOp, now: number): StoreOpResult {
    switch (op.op) {
      case 'get':
        return read(op.key, now);
      case 'set':
        set.run(op.key, op.value, now + wholeMs(op.ttlMs));
        return null;
      case 'claim':
        return claim(op.key, op.value, op.ttlMs, now);
      case 'touch':
        return renew(op.key, op.ttlMs, now);
      case 'deleteIfEquals':
        return deleteIfEquals.run(op.key, op.expected, now).changes > 0;
      case 'delete':
        del.run(op.key);
        return null;
      case 'rateLimit':
        return rateLimit(op.key, op.policy, op.nowMs, now);
      case 'rateLimitPeek':
        // A read of the row and the shared arithmetic: nothing written.
        return rateLimitPeek(read(op.key, now), op.policy, op.nowMs);
    }
  }

  const embedded = { apply, replace };

  const mapError = (error: unknown) => storeError(native, error);
  const calls = createCallQueue(native, timeoutMs);
  const { run } = calls;

  /** Calls waiting for the next group commit, in call order. */
  let group: Job[] = [];

  /**
   * Group commit: queues `op` (a write, or a read issued while writes are queued, so calls keep
   * their order) for ONE write transaction (`writing`) shared by every call made in this turn of
   * the event loop. Each call fails alone: one that throws rolls back alone (`commitJobs`);
   * a call settles only after the COMMIT, so it is as durable as when it had its own transaction.
   */
  function grouped<T>(op: () => T): Promise<T> {
    if (closed) return Promise.reject(unavailable('the store is closed'));
    return new Promise<T>((resolve, reject) => {
      if (group.length === 0) afterThisTurn(commitGroup);
      group.push({ op, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  function commitGroup(): void {
    const jobs = group;
    if (jobs.length === 0) return; // `close()` committed it already
    group = [];
    run(() => commitJobs(jobs)).then(
      (outcomes) => {
        for (let i = 0; i < jobs.length; i++) {
          const job = jobs[i] as Job;
          const outcome = outcomes[i] as Outcome;
          if (outcome.ok) job.resolve(outcome.value);
          else job.reject(outcome.error);
        }
      },
      (error: unknown) => {
        for (const job of jobs) job.reject(error);
      },
    );
  }

  /**
   * Runs `jobs` in one transaction; throws (rolling all back) only when the transaction itself fails.
   * First without savepoints: SQLite copies every page a call changes to the statement journal of its
   * savepoint (without them, 262k → 235k instructions per action on the bench's ops under callgrind,
   * 9561680). When a call throws, that transaction is rolled back,
   * nothing of it written or answered, and the jobs run again each in its own savepoint
   * (`commitJobsApart`), where the failing call rolls back alone: the same outcomes as if every call
   * had always had its savepoint. Running a job twice is safe: a job is SQL and arithmetic on what
   * it reads, with no effect outside the database. What the retry reads afresh is only what a later
   * group would: `clock.now()` (it decides on its own time: a row expired meanwhile is free), the rows
   * another process committed between the ROLLBACK and its BEGIN (or that process's lock: SQLITE_BUSY,
   * and the group waits and runs from the start), and the caller's arguments (a policy changed after
   * the call). Nothing of the first try was answered, so no call sees both
   * (`group-commit-retry.test.ts`, `group-commit-processes.test.ts`). A job added here must keep to
   * it: no cache, counter or callback of its own inside `op`.
   */
  function commitJobs(jobs: readonly Job[]): Outcome[] {
    if (jobs.length === 1) return [{ ok: true, value: writing((jobs[0] as Job).op) }];
    let callFailed = false;
    try {
      return writing(() => {
        const outcomes: Outcome[] = [];
        for (const job of jobs) {
          try {
            outcomes.push({ ok: true, value: job.op() });
          } catch (error) {
            // As in `commitJobsApart`: SQLite rolled it all back (disk full, I/O error), or SQLITE_BUSY
            // (nothing written: all of them wait for the lock and run again): the transaction fails.
            callFailed = native.inTransaction && !isBusy(error);
            throw error;
          }
        }
        return outcomes;
      });
    } catch (error) {
      if (!callFailed) throw error;
    }
    return commitJobsApart(jobs);
  }

  /** `commitJobs` with each job in its own savepoint: a job that throws rolls back alone and fails alone. */
  function commitJobsApart(jobs: readonly Job[]): Outcome[] {
    const outcomes: Outcome[] = [];
    writing(() => {
      for (const job of jobs) {
        try {
          outcomes.push({ ok: true, value: savepoint(job.op) });
        } catch (error) {
          // SQLite may have rolled the whole transaction back (disk full, I/O error): fail them all.
          // SQLITE_BUSY means nothing was written: all of them wait for the lock and run again.
          if (!native.inTransaction || isBusy(error)) throw error;
          outcomes.push({ ok: false, error: mapError(error) });
        }
      }
    });
    return outcomes;
  }

  /** `get`/`getMany`/`health` run at once, unless writes are queued ahead of them. */
  function reading<T>(op: () => T): Promise<T> {
    return group.length === 0 ? run(op) : grouped(op);
  }

  /** The file opened (device and inode), for `health`; `null` for an in-memory database. */
  const opened = fileIdentity(native.name);

  function checkFileIdentity(): void {
    if (opened === null) return;
    const now = fileIdentity(native.name);
    if (now === null || now !== opened) {
      throw unavailable(`the database file ${native.name} was deleted or replaced while the app ran (writes go to the old file and are lost at restart): restart the app`);
    }
  }

  /**
   * Deletes expired rows, then checkpoints the WAL and truncates it, on the checkpoint worker
   * (`./checkpointer.ts`; on the main thread when it is not running). The automatic checkpoint
   * never shrinks the file: on a small disk the WAL filled it with copies of the same few hot pages,
   * and then every write failed for good, even after a restart (the WAL itself was what filled the disk).
   */
  async function sweepExpired(): Promise<number> {
    let total = 0;
    for (;;) {
      const { deleted, more } = await run(() => writing(sweepChunk));
      total += deleted;
      if (!more) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (opened !== null && (await checkpointerOf(native)?.truncate()) === undefined) await run(truncateWal);
    return total;
  }

  /** One sweep statement (in `writing`: the lock is waited for off the loop); a chunk may end early by bytes, so a short one does not mean the end. */
  function sweepChunk(): { deleted: number; more: boolean } {
    const now = clock.now();
    const deleted = sweep.run(now, SWEEP_CHUNK, SWEEP_CHUNK_BYTES).changes;
    return { deleted, more: deleted === SWEEP_CHUNK || (deleted > 0 && anyExpired.get(now) !== undefined) };
  }

  /**
   * The sweep's `wal_checkpoint(TRUNCATE)` when no worker runs, without waiting (the connection's
   * `busy_timeout` is 0: `createDatabase`): while another process on the same file writes or reads
   * an older snapshot, it does what it can and the next sweep tries again.
   */
  function truncateWal(): void {
    native.pragma('wal_checkpoint(TRUNCATE)');
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
  // The checkpoint worker's failures (it is shared by every store and database on the file).
  const unsubscribe = options.onSweepError === undefined ? undefined : checkpointerOf(native)?.onError(options.onSweepError);

  return {
    kind: 'sqlite',
    get: (key) => rejection(() => checkKey(key)) ?? reading(() => read(key, clock.now())),
    getMany: (keys) =>
      rejection(() => checkKeys(keys)) ??
      reading(() => {
        const now = clock.now();
        return keys.map((key) => read(key, now));
      }),
    set: (key, value, ttlMs) =>
      rejection(() => checkWrite(key, value, ttlMs)) ??
      grouped(() => {
        set.run(key, value, clock.now() + wholeMs(ttlMs));
      }),
    claim: (key, value, ttlMs) => rejection(() => checkWrite(key, value, ttlMs)) ?? grouped(() => claim(key, value, ttlMs, clock.now())),
    touch: (key, ttlMs) =>
      rejection(() => checkTouch(key, ttlMs)) ?? grouped(() => renew(key, ttlMs, clock.now())),
    deleteIfEquals: (key, expected) =>
      rejection(() => checkCompare(key, expected)) ?? grouped(() => deleteIfEquals.run(key, expected, clock.now()).changes > 0),
    delete: (key) =>
      rejection(() => checkKey(key)) ??
      grouped(() => {
        del.run(key);
      }),
    rateLimit: (key, policy, nowMs) =>
      rejection(() => checkRateLimitCall(key, policy, nowMs)) ?? grouped(() => rateLimit(key, policy, nowMs, clock.now())),
    batch(ops) {
      // Check every op before running any; a failing op rolls the whole batch back.
      const invalid = rejection(() => checkOps(ops));
      if (invalid !== undefined) return invalid;
      if (ops.length === 0) return closed ? Promise.reject(unavailable('the store is closed')) : Promise.resolve([]);
      return grouped(() => runBatch(ops, embedded, clock.now()));
    },
    // A real write, in the group commit as every write: a read (SELECT 1) passed while a full disk
    // (the WAL unable to grow) refused every write with 503. And the file must still be the one
    // opened: deleted or replaced under the app, SQLite keeps writing to the unlinked file, and
    // everything is lost at the next restart.
    health: () =>
      grouped(() => {
        checkFileIdentity();
        set.run(WRITE_CHECK_KEY, '1', clock.now() + WRITE_CHECK_TTL_MS);
      }),
    sweepExpired,
    async close() {
      if (closed) return;
      // Calls already made still commit (or fail) before the store closes, those waiting for a lock
      // included (at most `timeoutMs`).
      commitGroup();
      closed = true;
      const waiting = calls.close();
      if (timer !== undefined) clearInterval(timer);
      unsubscribe?.();
      await waiting;
      // With the database its owner closes, the checkpoint worker stops (`db.destroy()` waits for it).
      if (ownsDb) await db.destroy();
    },
  };
}

/** A call queued for the next group commit. */
interface Job {
  readonly op: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: Error };

function connectionOf(db: Kysely<DatabaseSchema>): BetterSqlite3.Database {
  const native = sqliteConnectionOf(db);
  if (native === undefined) throw new TypeError('createSqliteStore: db must be a SQLite database from createDatabase()');
  return native;
}

/**
 * What SQLite says when the store's statements do not compile against the `lc_kv` table of
 * `native` (a column missing, `key` not its primary key: "ON CONFLICT clause does not match any
 * PRIMARY KEY or UNIQUE constraint"), or undefined when they do: `createSqliteStore` fails on the
 * same. It prepares them and runs none, so a read-only connection will do (`doctor --connect`).
 */
export function lcKvRefusal(native: BetterSqlite3.Database): string | undefined {
  try {
    prepare(native);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

function prepare(native: BetterSqlite3.Database) {
  return {
    get: native.prepare<[string, number], string>(SQL.GET).pluck(),
    set: native.prepare<[string, string, number]>(SQL.SET),
    insertOrTakeOver: native.prepare<[string, string, number, number]>(SQL.CLAIM),
    touch: native.prepare<[number, string, number]>(SQL.TOUCH),
    replaceIfEquals: native.prepare<[string, number, string, string, number]>(SQL.REPLACE_IF_EQUALS),
    deleteIfEquals: native.prepare<[string, string, number]>(SQL.DELETE_IF_EQUALS),
    del: native.prepare<[string]>(SQL.DELETE),
    sweep: native.prepare<[number, number, number]>(SQL.SWEEP),
    anyExpired: native.prepare<[number]>(SQL.ANY_EXPIRED).pluck(),
  };
}
