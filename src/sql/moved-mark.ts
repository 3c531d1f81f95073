/**
 * The mark `livecomponents move-data` leaves in the SQLite file it moved (table `lc_moved`, migration
 * `004_lc_moved`): which part went where, and when. The file stays behind (docs/scaling.md keeps it a
 * day), and an app or command that used it again — a unit file or env missed on one machine, a config
 * rolled back, `npm start` in the same folder — would serve sessions signed out since on Redis,
 * refresh tokens revoked since on PostgreSQL, passwords changed since, and split writes across two
 * stores. So whatever would open a marked part refuses, naming what happened and the two ways on:
 * point DATABASE_URL / REDIS_URL at the new stores, or clear the mark (`move-data --unmark`).
 */
import { sql, type Kysely } from 'kysely';
import { DEFAULT_DATABASE_URL, describeDatabaseUrl, parseDatabaseUrl } from './url.js';

/** The two parts of a file that move apart: `--to-database` moves `relational`, `--to-redis` `key-value`. */
export type MovedPart = 'relational' | 'key-value';

export const MOVED_TABLE = 'lc_moved';

export interface MovedMark {
  readonly part: MovedPart;
  /** Where it went, without credentials (`postgres://host/db`, `redis://host:6379 (key prefix …)`). */
  readonly target: string;
  /** ISO 8601. */
  readonly movedAt: string;
}

/** Stable code of `MovedFileError`, for a supervisor or a test to tell this refusal from others. */
export const MOVED_FILE_CODE = 'LC_SQLITE_FILE_MOVED';

/** Start-up refused: a part of the SQLite file the app would use was moved by `move-data`. */
export class MovedFileError extends Error {
  readonly code = MOVED_FILE_CODE;

  constructor(
    message: string,
    readonly marks: readonly MovedMark[],
  ) {
    super(message);
    this.name = 'MovedFileError';
  }
}

const WHAT: Readonly<Record<MovedPart, string>> = {
  relational: 'users, tokens and password resets',
  'key-value': 'sessions, state, idempotency records and rate limits',
};
const VARIABLE: Readonly<Record<MovedPart, string>> = { relational: 'DATABASE_URL', 'key-value': 'REDIS_URL' };

/**
 * The marks of `parts` in `db` (an SQLite file). None when the file has no `lc_moved` yet (made by a
 * release before it, so never marked): the callers that need the file migrated check that themselves.
 */
export async function movedMarks<DB>(db: Kysely<DB>, parts: readonly MovedPart[]): Promise<MovedMark[]> {
  if (parts.length === 0) return [];
  const { rows: exists } = await sql<{ n: number }>`select count(*) as n from sqlite_master where type = 'table' and name = ${MOVED_TABLE}`.execute(db);
  if (Number(exists[0]?.n ?? 0) === 0) return [];
  const { rows } = await sql<{ part: string; target: string; moved_at: string }>`select part, target, moved_at from lc_moved order by part`.execute(db);
  // A part this release does not know (a later one's) is not ours to read: it blocks nothing here.
  return rows.filter((row) => (parts as readonly string[]).includes(row.part)).map((row) => ({ part: row.part as MovedPart, target: row.target, movedAt: row.moved_at }));
}

/** What one mark says, for a message: "its users, … were moved to postgres://… at …". */
export function describeMark(mark: MovedMark): string {
  return `its ${WHAT[mark.part]} (the ${mark.part} part) were moved to ${mark.target} by \`livecomponents move-data\` at ${mark.movedAt}`;
}

/**
 * The refusal for `where` (`sqlite:PATH`) holding `marks`: what happened, why the file must not be
 * used, and the two ways on. `using` says who refuses ("the app does not start on it").
 */
export function movedMessage(where: string, marks: readonly MovedMark[], using: string): string {
  const point = marks.map((m) => `${VARIABLE[m.part]} at ${m.target}`).join(' and ');
  return (
    `${where}: ${marks.map(describeMark).join('; ')}: ${using}, since the file is as it was then — sessions signed out, refresh tokens revoked and passwords changed since would be valid here again, and writes would split across two stores. ` +
    `Point ${point}; or, only to go back to this file for good (losing what changed there since), stop every process using it and run \`${unmarkCommand(where)}\``
  );
}

/**
 * The command that clears the marks of `where` (`sqlite:PATH`), ready to paste into a POSIX shell:
 * the path quoted when it holds anything but the characters no shell reads specially. Printed as
 * it was, a path with a space or a quote split into several words or left the shell waiting.
 */
export function unmarkCommand(where: string): string {
  return `livecomponents move-data --unmark --from ${shellQuote(where)}`;
}

/** `word` as one POSIX shell word: as it is when it needs no quoting, else in single quotes (each `'` as `'\''`). */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Throws `MovedFileError` when `db` (an SQLite file, `where`) has any of `parts` marked as moved. */
export async function refuseMovedFile<DB>(db: Kysely<DB>, where: string, parts: readonly MovedPart[], using = 'the app does not start on it'): Promise<void> {
  const marks = await movedMarks(db, parts);
  if (marks.length > 0) throw new MovedFileError(movedMessage(where, marks, using), marks);
}

/** The stores a process opens, as the app picks them (src/runtime/backends.ts). */
export interface OpenedStores<DB> {
  readonly databaseUrl: string;
  readonly redisUrl: string | undefined;
  /** The DATABASE_URL database, opened. */
  readonly db: Kysely<DB>;
  /** The embedded key-value file opened beside PostgreSQL (no REDIS_URL), or undefined. */
  readonly kvDb?: Kysely<DB> | undefined;
  readonly cwd?: string | undefined;
}

/**
 * Throws `MovedFileError` when a part these stores would be used for is marked as moved in the SQLite
 * file that holds it: DATABASE_URL's file for the relational part, and the key-value part wherever it
 * is kept without REDIS_URL (that file, or the embedded file beside PostgreSQL). `using`: who refuses.
 */
export async function refuseMovedStores<DB>(stores: OpenedStores<DB>, using: string): Promise<void> {
  const { databaseUrl, cwd } = stores;
  const noRedis = !stores.redisUrl;
  await refuseMovedDatabase(databaseUrl, stores.db, using, noRedis && stores.kvDb === undefined ? ['relational', 'key-value'] : ['relational'], cwd);
  if (noRedis && stores.kvDb !== undefined) await refuseMovedFile(stores.kvDb, describeDatabaseUrl(DEFAULT_DATABASE_URL, cwd), ['key-value'], using);
}

/**
 * Throws `MovedFileError` when `url` (a DATABASE_URL, opened as `db`) names an SQLite file whose
 * `parts` (by default the relational one: users and tokens) are marked as moved. PostgreSQL and
 * `sqlite::memory:` hold no mark: nothing to refuse. The one place that decides which databases can
 * carry a mark, for the app (refuseMovedStores) and the commands that open DATABASE_URL alone.
 */
export async function refuseMovedDatabase<DB>(url: string, db: Kysely<DB>, using: string, parts: readonly MovedPart[] = ['relational'], cwd?: string): Promise<void> {
  const target = parseDatabaseUrl(url, cwd);
  if (target.engine !== 'sqlite' || target.path === ':memory:') return;
  await refuseMovedFile(db, describeDatabaseUrl(url, cwd), parts, using);
}
