/**
 * `doctor --connect`'s `moved-data` check: whether a part of an SQLite file the app would use was
 * moved elsewhere by `livecomponents move-data` (its mark, src/sql/moved-mark.ts) — DATABASE_URL's
 * file (the relational part, and the key-value part without REDIS_URL), or beside PostgreSQL without
 * REDIS_URL the embedded file (the key-value part). Start-up refuses such a file; so does this check,
 * as one failing line of its own: the file's other checks (`database`, `redis-server`,
 * `database-files`) still run and report what else is wrong with it, which the move's refusal hid.
 * Read-only, like every doctor check: a copy in memory when it can (no -wal/-shm left behind).
 */
import { existsSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { AppConfig } from '../ops/config.js';
import { movedMarks, movedMessage, type MovedPart } from '../sql/moved-mark.js';
import { DEFAULT_DATABASE_URL, describeDatabaseUrl, parseDatabaseUrl } from '../sql/url.js';
import { checked, type CheckResult } from './doctor-check.js';
import { openSnapshot } from './doctor-sqlite-snapshot.js';

export const MOVED_CHECK_NAMES = ['moved-data'] as const;
export type MovedCheckName = (typeof MOVED_CHECK_NAMES)[number];

/** A file the app would open, the variable that sends it there, and the parts it would use of it. */
interface UsedFile {
  readonly url: string;
  readonly variable: string;
  readonly parts: readonly MovedPart[];
}

/** The check; `cwd` resolves relative `sqlite:` paths as the app's working directory would. */
export async function checkMovedData(config: Pick<AppConfig, 'DATABASE_URL' | 'REDIS_URL'>, cwd: string = process.cwd()): Promise<CheckResult<MovedCheckName>> {
  const noRedis = config.REDIS_URL === undefined;
  const database = parseDatabaseUrl(config.DATABASE_URL, cwd);
  const files: UsedFile[] = [];
  if (database.engine === 'sqlite' && database.path !== ':memory:') files.push({ url: config.DATABASE_URL, variable: 'DATABASE_URL', parts: noRedis ? ['relational', 'key-value'] : ['relational'] });
  else if (database.engine === 'postgres' && noRedis) files.push({ url: DEFAULT_DATABASE_URL, variable: 'REDIS_URL', parts: ['key-value'] });
  const problems: string[] = [];
  const read: string[] = [];
  for (const file of files) {
    const where = describeDatabaseUrl(file.url, cwd);
    const marks = await marksIn(file, cwd);
    if (marks === undefined) continue;
    read.push(where);
    if (marks.length > 0) problems.push(`${file.variable}: ${movedMessage(where, marks, 'the app does not start on it')}`);
  }
  const summary = read.length === 0 ? 'no SQLite file in use to read a mark of move-data from' : `${read.join(', ')}: no part the app would use was moved by move-data`;
  return checked('moved-data', problems, summary);
}

/** The marks of `file`'s parts, or undefined when it does not exist or cannot be read (its own checks say why). */
async function marksIn(file: UsedFile, cwd: string) {
  const target = parseDatabaseUrl(file.url, cwd);
  if (target.engine !== 'sqlite' || !existsSync(target.path)) return undefined;
  let native: BetterSqlite3.Database;
  try {
    native = openSnapshot(target.path) ?? new BetterSqlite3(target.path, { readonly: true, fileMustExist: true });
  } catch {
    return undefined;
  }
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: native }) });
  try {
    return await movedMarks(db, file.parts);
  } catch {
    return undefined;
  } finally {
    await db.destroy();
  }
}
