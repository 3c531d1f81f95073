/**
 * How SQLite's write lock is waited for while another connection holds it (another process on the
 * file, the checkpoint worker's TRUNCATE, a sweep elsewhere): OFF the event loop. SQLite's own wait,
 * its busy handler under `busy_timeout`, sleeps inside the statement, and better-sqlite3 is
 * synchronous: a write that met another process's `BEGIN IMMEDIATE` held the whole process for up
 * to the timeout (measured: `/health/live` answered after 2 s, and load shedding then turned the
 * next requests away for another half second).
 *
 * So the connection's `busy_timeout` is 0 once open (`createDatabase`): a `BEGIN IMMEDIATE` or a
 * statement outside a transaction that needs the lock fails at once with SQLITE_BUSY, having done
 * nothing, and runs again after a short timer (`busyPauseMs`, `pausedBeforeRetry`) until its
 * deadline, ending with the same `database is locked` error the busy handler gave:
 *
 * - the SQLite store (`src/store/sqlite/call-queue.ts`): its write transaction runs again whole, up
 *   to the store's `timeoutMs`;
 * - Kysely (`./sqlite-outage.ts`): the statement runs again, up to `busyTimeoutMs`. A transaction's
 *   callback never runs twice: it starts once `BEGIN IMMEDIATE` holds the lock, and nothing inside
 *   waits for it then.
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

/**
 * The pause before try `n` after SQLITE_BUSY (`busyPauseMs`), cut to what is left before `deadline`
 * (`performance.now()` time); `false` at once when nothing is: give up with the last SQLITE_BUSY.
 */
export async function pausedBeforeRetry(n: number, deadline: number): Promise<boolean> {
  const left = deadline - performance.now();
  if (left <= 0) return false;
  await new Promise((resolve) => setTimeout(resolve, Math.min(left, busyPauseMs(n))));
  return true;
}
