/**
 * `livecomponents move-data`, the mark it leaves in the source file (`lc_moved`, src/sql/moved-mark.ts):
 * written for each part once that part is in its target (not by a dry run, not for a part that
 * failed), read before a run (a part moved already is not copied again from a file that is stale
 * since), and cleared by `move-data --unmark`, the one documented way back to the file.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { describeMark, MOVED_TABLE, unmarkCommand, type MovedMark, type MovedPart } from '../sql/moved-mark.js';
import { describeDatabaseUrl } from '../sql/url.js';
import { Refusal } from './command.js';

/** The parts a run was asked to move, each with its target as a mark records it (no credentials). */
export type RequestedParts = Partial<Record<MovedPart, string>>;

/**
 * The PostgreSQL target of the relational part as a mark records it and a re-run compares it: host
 * and database (describeDatabaseUrl: no password, no query string), then `schema`, the schema the
 * server puts the tables in for this connection (`effectiveSchema`). Host and database alone made two
 * schemas of one database one target: a run into the second skipped the relational part as "moved
 * there already" and said done, leaving the app pointed at it without its users. The schema is the
 * server's answer, not the URL's `search_path`: a path holding `$user` (PostgreSQL's default,
 * `"$user", public`) picks each user's own schema when it exists, so two users of one database may
 * reach two sets of tables. The user is left out otherwise: a move run as the owner and an app (or a
 * later key-value-only run, whose --to-database defaults to the app's DATABASE_URL) connecting as a
 * less privileged user reach the same tables in `public`, and must not be told "moved elsewhere".
 */
export function relationalTarget(url: string, schema: string, cwd?: string): string {
  // A schema name is no secret; nothing of the URL's query is kept.
  return `${describeDatabaseUrl(url, cwd)} (schema ${schema})`;
}

/**
 * The schema PostgreSQL creates and finds unqualified tables in for `db`'s connection: the first
 * schema of its search_path that exists, `$user` read as the connecting user (`current_schema()`).
 * @throws Refusal when no schema of the path exists (the migrations could create nothing)
 */
export async function effectiveSchema<DB>(db: Kysely<DB>, where: string): Promise<string> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema;
  if (typeof schema !== 'string') throw new Refusal(`${where}: no schema of the connection's search_path exists (select current_schema() is null): create it, or set search_path in the URL's options; nothing was written`);
  return schema;
}

/**
 * The requested parts the source's `marks` say are moved already, to skip. A part moved to the same
 * target is skipped (a run repeated after its key-value half failed finishes the move); a part moved
 * elsewhere is refused before anything is written: copying a stale file again would bring back
 * what the app on the new stores changed since. (A run with nothing left to do: `nothingLeft`.)
 */
export function partsToSkip(marks: readonly MovedMark[], requested: RequestedParts, where: string): Set<MovedPart> {
  const skip = new Set<MovedPart>();
  for (const mark of marks) {
    const target = requested[mark.part];
    if (target === undefined) continue;
    if (target !== mark.target) {
      throw new Refusal(
        `${where}: ${describeMark(mark)}: the file is stale since, and copying it to ${target} would bring back what was changed there (sessions signed out, tokens revoked, passwords changed); nothing was written. To move from this file again anyway, run \`${unmarkCommand(where)}\` first`,
      );
    }
    skip.add(mark.part);
  }
  return skip;
}

/** Whether every part `requested` is in `skip` (moved there already). */
export function nothingLeft(requested: RequestedParts, skip: ReadonlySet<MovedPart>): boolean {
  const parts = Object.keys(requested) as MovedPart[];
  return parts.length > 0 && parts.every((part) => skip.has(part));
}

/** The refusal of a run with every part it was asked to move moved there already; `more`, what else it has to say. */
export function nothingLeftRefusal(marks: readonly MovedMark[], skip: ReadonlySet<MovedPart>, where: string, more?: string): Refusal {
  return new Refusal(`${where}: ${marks.filter((m) => skip.has(m.part)).map(describeMark).join('; ')}: nothing left to move; nothing was written${more === undefined ? '' : `; ${more}`}`);
}

/** The `part` of the row the write probe puts in and takes out again: never a mark, never left. */
const PROBE_PART = 'write-probe';

/**
 * Tries, before anything is written to a target, that the source takes the write its mark will be:
 * a row put into `lc_moved`, taken out again, and committed (SQLite writes the changed page). A file
 * SQLite opened read-only, a read-only mount or a full disk fails here, and the move stops with the
 * targets untouched. Found only after the copy, as it was, the move ended with the data in the
 * targets and the file unmarked: an app started on it again served it, stale.
 * @throws Refusal naming the file and SQLite's answer
 */
export function probeMark(native: BetterSqlite3.Database, where: string): void {
  try {
    native.prepare(`INSERT INTO ${MOVED_TABLE} (part, target, moved_at) VALUES (?, '', '')`).run(PROBE_PART);
    native.prepare(`DELETE FROM ${MOVED_TABLE} WHERE part = ?`).run(PROBE_PART);
    native.exec('COMMIT');
  } catch (error) {
    throw new Refusal(`${where} cannot take the mark of the move (${messageOf(error)}): the app would start on it afterwards as if nothing had moved, so nothing was moved; make the file and its folder writable (and the disk not full), then run move-data again`);
  } finally {
    // As after writeMark: the run goes on (or ends) inside its exclusive transaction.
    if (!native.inTransaction) native.exec('BEGIN EXCLUSIVE');
  }
}

/**
 * Records in the source (opened exclusively, inside `BEGIN EXCLUSIVE`) that `part` is now in `target`,
 * and commits it at once: a failure of the next part must not take this one's mark back with it.
 * Called at the part's commit point — before the target's COMMIT for the relational part, before the
 * Redis completion mark for the key-value one —, so a mark the file refuses stops the part there.
 * Under `locking_mode = EXCLUSIVE` the lock stays held across the commit; the transaction is opened
 * again so the run goes on as before.
 */
export function writeMark(native: BetterSqlite3.Database, part: MovedPart, target: string, at: number): MovedMark {
  const mark: MovedMark = { part, target, movedAt: new Date(at).toISOString() };
  try {
    // OR REPLACE: a mark left by a run stopped before the target's COMMIT, the part copied again (move-data.ts).
    native.prepare(`INSERT OR REPLACE INTO ${MOVED_TABLE} (part, target, moved_at) VALUES (?, ?, ?)`).run(mark.part, mark.target, mark.movedAt);
    native.exec('COMMIT');
  } finally {
    if (!native.inTransaction) native.exec('BEGIN EXCLUSIVE');
  }
  return mark;
}

/**
 * Takes back the mark of `part`, written before a commit that then failed (the target rolled back
 * what it had): left, it would make a re-run skip the part as moved. Throws when the file refuses.
 */
export function removeMark(native: BetterSqlite3.Database, part: MovedPart): void {
  try {
    native.prepare(`DELETE FROM ${MOVED_TABLE} WHERE part = ?`).run(part);
    native.exec('COMMIT');
  } finally {
    if (!native.inTransaction) native.exec('BEGIN EXCLUSIVE');
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * `--unmark`: deletes every mark of the source and commits; prints each one cleared (or that there
 * was none). The file is then used as it is — as it was when it was moved.
 */
export function clearMarks(native: BetterSqlite3.Database, where: string, out: (line: string) => void): void {
  const rows = native.prepare(`SELECT part, target, moved_at FROM ${MOVED_TABLE} ORDER BY part`).all() as { part: MovedPart; target: string; moved_at: string }[];
  if (rows.length === 0) {
    out(`move-data: ${where}: no mark of a move: nothing to clear`);
    return;
  }
  native.prepare(`DELETE FROM ${MOVED_TABLE}`).run();
  native.exec('COMMIT');
  for (const row of rows) out(`move-data: ${where}: mark cleared: ${describeMark({ part: row.part, target: row.target, movedAt: row.moved_at })}`);
  out(`move-data: ${where}: the app and the commands use this file again, as it was when it was moved: what changed since on the new stores is not in it`);
}
