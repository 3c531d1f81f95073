/**
 * `livecomponents move-data`, the mark it leaves in the source file (`lc_moved`, src/sql/moved-mark.ts):
 * written for each part once that part is in its target (not by a dry run, not for a part that
 * failed), read before a run (a part moved already is not copied again from a file that is stale
 * since), and cleared by `move-data --unmark`, the one documented way back to the file.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { describeMark, MOVED_TABLE, type MovedMark, type MovedPart } from '../sql/moved-mark.js';
import { describeDatabaseUrl, parseDatabaseUrl } from '../sql/url.js';
import { Refusal } from './command.js';

/** The parts a run was asked to move, each with its target as a mark records it (no credentials). */
export type RequestedParts = Partial<Record<MovedPart, string>>;

/**
 * The PostgreSQL target of the relational part as a mark records it and a re-run compares it: host
 * and database (describeDatabaseUrl: no password, no query string), then the schema a `search_path`
 * in the URL's `options` picks. Host and database alone made two schemas of one database one target:
 * a run into the second skipped the relational part as "moved there already" and said done, leaving
 * the app pointed at it without its users. The user is left out: a move run as the owner and an app
 * (or a later key-value-only run, whose --to-database defaults to the app's DATABASE_URL) connecting as
 * a less privileged user reach the same tables in `public`, and must not be told "moved elsewhere".
 */
export function relationalTarget(url: string, cwd?: string): string {
  const where = describeDatabaseUrl(url, cwd);
  const target = parseDatabaseUrl(url, cwd);
  if (target.engine !== 'postgres') return where;
  let options: string;
  try {
    options = new URL(target.connectionString).searchParams.get('options') ?? '';
  } catch {
    return where;
  }
  // A schema name is no secret; nothing else of `options` is kept.
  const schema = /(?:^|\s)(?:-c\s*|--)search_path=(\S+)/.exec(options)?.[1];
  return schema === undefined ? where : `${where} (search_path ${schema})`;
}

/**
 * The requested parts the source's `marks` say are moved already, to skip. A part moved to the same
 * target is skipped (a run repeated after its key-value half failed finishes the move); a part moved
 * elsewhere, or a run with nothing left to do, is refused before anything is written: copying a
 * stale file again would bring back what the app on the new stores changed since.
 */
export function partsToSkip(marks: readonly MovedMark[], requested: RequestedParts, where: string): Set<MovedPart> {
  const skip = new Set<MovedPart>();
  for (const mark of marks) {
    const target = requested[mark.part];
    if (target === undefined) continue;
    if (target !== mark.target) {
      throw new Refusal(
        `${where}: ${describeMark(mark)}: the file is stale since, and copying it to ${target} would bring back what was changed there (sessions signed out, tokens revoked, passwords changed); nothing was written. To move from this file again anyway, run \`livecomponents move-data --unmark --from ${where}\` first`,
      );
    }
    skip.add(mark.part);
  }
  const parts = Object.keys(requested) as MovedPart[];
  if (parts.length > 0 && parts.every((part) => skip.has(part))) {
    throw new Refusal(`${where}: ${marks.filter((m) => skip.has(m.part)).map(describeMark).join('; ')}: nothing left to move; nothing was written`);
  }
  return skip;
}

/**
 * Records in the source (opened exclusively, inside `BEGIN EXCLUSIVE`) that `part` is now in `target`,
 * and commits it at once: a failure of the next part must not take this one's mark back with it.
 * Under `locking_mode = EXCLUSIVE` the lock stays held across the commit; the transaction is opened
 * again so the run goes on as before.
 */
export function writeMark(native: BetterSqlite3.Database, part: MovedPart, target: string, at: number): MovedMark {
  const mark: MovedMark = { part, target, movedAt: new Date(at).toISOString() };
  native.prepare(`INSERT INTO ${MOVED_TABLE} (part, target, moved_at) VALUES (?, ?, ?)`).run(mark.part, mark.target, mark.movedAt);
  native.exec('COMMIT');
  native.exec('BEGIN EXCLUSIVE');
  return mark;
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
