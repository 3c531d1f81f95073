/**
 * How the SQLite store waits for the write lock while another connection holds it (another process
 * on the file, the checkpoint worker's TRUNCATE, a sweep elsewhere): OFF the event loop. SQLite's
 * own wait, its busy handler under `busy_timeout`, sleeps inside the statement, and better-sqlite3
 * is synchronous: a write that met another process's `BEGIN IMMEDIATE` held the whole process for
 * up to the timeout (measured: `/health/live` answered after 2 s, and load shedding then turned the
 * next requests away for another half second).
 *
 * SQLite never calls the busy handler for a transaction that already reads (it could deadlock), so
 * the store's write transactions begin with a plain `BEGIN` and a read (`SNAPSHOT`): their first
 * write then takes the lock or fails at once, with nothing written — SQLITE_BUSY while another
 * connection holds it, SQLITE_BUSY_SNAPSHOT when another wrote since the read. The transaction rolls
 * back and runs again after a short timer (`busyPauseMs`), until the store's `timeoutMs` runs out,
 * ending with the same `database is locked` error the busy handler gave. No PRAGMA per transaction:
 * the connection keeps its `busy_timeout`, which Kysely's queries on a shared connection wait with.
 */
import BetterSqlite3 from 'better-sqlite3';

/** The first pause after SQLITE_BUSY, in ms; it doubles up to `LAST_PAUSE_MS`. */
const FIRST_PAUSE_MS = 1;

/**
 * The longest pause: near SQLite's own busy handler (its sleeps grow from 1 ms to 100 ms), short
 * against the few ms a write lock is usually held, so a freed lock is taken soon.
 */
const LAST_PAUSE_MS = 32;

/** Whether `error` is SQLITE_BUSY (or one of its extended codes): another connection holds the lock. */
export function isBusy(error: unknown): boolean {
  return error instanceof BetterSqlite3.SqliteError && /^SQLITE_BUSY(?:_|$)/.test(error.code);
}

/**
 * The pause before try `n` (from 1) after SQLITE_BUSY: doubling from `FIRST_PAUSE_MS` to
 * `LAST_PAUSE_MS`, each between half and all of it at random, so processes that met the same lock
 * do not all come back at the same moment.
 */
export function busyPauseMs(n: number, random: () => number = Math.random): number {
  const pause = Math.min(FIRST_PAUSE_MS * 2 ** (n - 1), LAST_PAUSE_MS);
  return pause * (0.5 + random() / 2);
}
