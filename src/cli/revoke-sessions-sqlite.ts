/**
 * `livecomponents revoke-sessions`: ending sessions in the SQLite store's `lc_kv` table (the
 * `DATABASE_URL` file, or beside PostgreSQL the embedded store), in pieces of one short write
 * transaction each, so the app sharing the file waits milliseconds at most.
 */
import { sql, type Kysely } from 'kysely';
import type { Clock } from '../core/clock.js';
import type { DatabaseSchema } from '../sql/schema.js';
import {
  countKey,
  emptySessionCounts,
  addCounts,
  parseSessionKey,
  PAST_SESSION_FAMILY,
  pickerOf,
  recordUser,
  SESSION_FAMILY,
  type ReadRecord,
  type SessionCounts,
  type SessionPicker,
  type SessionTarget,
} from './revoke-sessions-session-keys.js';
import { NEVER, stopIfAsked, type StopCheck } from './revoke-sessions-stop.js';

/**
 * Rows read and deleted per piece, one short write transaction each. Deleting a large value costs
 * about its size (the store's sweep measured 316 ms for 500 states of 1.4 MB): 200 keeps a piece of
 * such states near a tenth of the 2 s the app's writes wait for the lock.
 */
export const SQLITE_PIECE = 200;

/** The value of a session record only: the states beside it may be megabytes each, and are not read. */
const RECORD_VALUE = sql<string | null>`case when substr(key, -8) = ':session' then value end`.as('value');

/**
 * Ends the sessions of `target` in an SQLite store's `lc_kv` (live rows only: an expired row reads as
 * absent already, and the store's sweep deletes it). Walks the sessions' key range in pieces, each
 * read and deleted in one short write transaction, so the app sharing the file waits milliseconds at
 * most. With one user (or `--orphans`): a first walk finds the session records to end (those naming
 * the user, or those the target's picker chooses, page by page as they are read), a second deletes
 * their keys.
 * Counts into `counts` as each piece commits; `stop` is asked before each piece (`Interrupted`).
 *
 * Each piece asks `clock` for the time it reads at: with one time for the whole walk (a large store
 * takes seconds), a state or nonce that expired while the walk went on was still counted, by the dry
 * run and the run alike. The run counts the rows its DELETE returned (live ones: an expired row is
 * left to the sweep), not the rows its read listed.
 */
export async function endSqliteSessions(
  db: Kysely<DatabaseSchema>,
  target: SessionTarget,
  clock: Clock,
  dryRun: boolean,
  counts: SessionCounts = emptySessionCounts(),
  stop: StopCheck = NEVER,
): Promise<SessionCounts> {
  const owned = target.all ? null : await sqliteSessionsOf(db, pickerOf(target), clock, stop);
  if (owned !== null && owned.size === 0) return counts;
  let after = SESSION_FAMILY;
  for (;;) {
    stopIfAsked(stop);
    const pieceCounts = emptySessionCounts();
    const piece = await db.transaction().execute(async (trx) => {
      const now = clock.now();
      const rows = await sessionRowsFrom(trx, after, now);
      const doomed = new Map<string, { part: string; user: string | null | undefined }>();
      for (const row of rows) {
        const parsed = parseSessionKey(row.key);
        if (parsed === null || parsed.part === 'lock' || parsed.part === 'other') continue;
        if (owned !== null && !owned.has(parsed.session)) continue;
        doomed.set(row.key, { part: parsed.part, user: parsed.part === 'session' && row.value !== null ? recordUser(row.value) : undefined });
      }
      let ended: Iterable<string> = doomed.keys();
      if (!dryRun && doomed.size > 0) {
        const deleted = await trx.deleteFrom('lc_kv').where('key', 'in', [...doomed.keys()]).where('expires_at', '>', now).returning('key').execute();
        ended = deleted.map((row) => row.key);
      }
      for (const key of ended) {
        const { part, user } = doomed.get(key) as { part: string; user: string | null | undefined };
        countKey(pieceCounts, part, user);
      }
      return rows;
    });
    addCounts(counts, pieceCounts);
    if (piece.length < SQLITE_PIECE) return counts;
    // Past the last key read: `>=` on the next key up (the key plus the lowest character).
    after = `${(piece[piece.length - 1] as { key: string }).key}\u0000`;
    // Between pieces the app's requests get their turn (the driver is synchronous).
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Up to `SQLITE_PIECE` live rows of the session family in `lc_kv`, in key order from `after` (a transaction too). */
function sessionRowsFrom(db: Kysely<DatabaseSchema>, after: string, now: number) {
  return db
    .selectFrom('lc_kv')
    .select(['key', RECORD_VALUE])
    .where('key', '>=', after)
    .where('key', '<', PAST_SESSION_FAMILY)
    .where('expires_at', '>', now)
    .orderBy('key')
    .limit(SQLITE_PIECE)
    .execute();
}

/** The session keys (hash-tag contents) `picker` chooses among the live records in `lc_kv`, read a piece at a time. */
async function sqliteSessionsOf(db: Kysely<DatabaseSchema>, picker: SessionPicker, clock: Clock, stop: StopCheck): Promise<Set<string>> {
  const found = new Set<string>();
  let after = SESSION_FAMILY;
  for (;;) {
    stopIfAsked(stop);
    const rows = await sessionRowsFrom(db, after, clock.now());
    const records: ReadRecord[] = [];
    for (const row of rows) {
      const parsed = parseSessionKey(row.key);
      if (parsed?.part === 'session' && row.value !== null) records.push({ session: parsed.session, user: recordUser(row.value) });
    }
    for (const session of await picker.pick(records)) found.add(session);
    if (rows.length < SQLITE_PIECE) break;
    after = `${(rows[rows.length - 1] as { key: string }).key}\u0000`;
  }
  for (const session of await picker.done()) found.add(session);
  return found;
}
