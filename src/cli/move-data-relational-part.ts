/**
 * `livecomponents move-data`, the relational part: the source's tables copied into the PostgreSQL
 * target (migrated first, as `livecomponents migrate` does) in one transaction, the file's mark
 * written before that transaction's COMMIT, and what a COMMIT that failed, or whose answer was lost,
 * means for that mark (settled by asking the target again). Also what a re-run asks of the target:
 * its schema (the mark names it) and whether it holds none of the file's rows (a run stopped before
 * its COMMIT).
 */
import type BetterSqlite3 from 'better-sqlite3';
import { changedMigrations, migrateToLatest, newerMigrations, newerReleaseMessage, pendingMigrations } from '../sql/migrate.js';
import { MIGRATION_TIMEOUT_MS, migrationWaitFailure, openMigrationDatabase } from '../sql/migration-database.js';
import { describeDatabaseUrl } from '../sql/url.js';
import { unmarkCommand, type MovedMark } from '../sql/moved-mark.js';
import { Refusal, type CommandIo } from './command.js';
import { copyTables, readSourceTables, type SourceTable, type TargetState } from './move-data-sql.js';
import { effectiveSchema, messageOf, removeMark, writeMark } from './move-data-mark.js';

/** Where the relational part's mark goes: the source (`where`), what it records (`target`), its clock. */
export interface MarkPlace {
  readonly where: string;
  readonly target: string;
  readonly now: () => number;
}

/**
 * Copies the tables and, unless a dry run, marks the source as moved: the mark is written once every
 * row is in the target's transaction and before its COMMIT, so a source that refuses it rolls the
 * copy back; a COMMIT that fails after it takes the mark back out (else a re-run would skip the part).
 * @returns the mark written, or undefined for a dry run
 */
export async function moveTables(native: BetterSqlite3.Database, url: string, dryRun: boolean, io: CommandIo, place: MarkPlace): Promise<MovedMark | undefined> {
  const where = describeDatabaseUrl(url, io.cwd);
  const tables = await readSourceTables(native);
  const db = openMigrationDatabase(url, { cwd: io.cwd });
  let mark: MovedMark | undefined;
  const markSource = () => {
    try {
      mark = writeMark(native, 'relational', place.target, place.now());
    } catch (error) {
      throw new Refusal(
        `${place.where} cannot take the mark of the move (${messageOf(error)}): the copy into ${where} was rolled back, nothing of it was written there; make the file writable (and the disk not full), then run move-data again`,
      );
    }
  };
  try {
    const pending = await migrateTarget(db, where, dryRun, io.out);
    // A dry run against a database without our tables yet: nothing there to refuse.
    const state = dryRun && pending.length > 0 ? await copyTables(db, tables, true).catch(() => ({ state: 'empty' }) as const) : await copyTables(db, tables, dryRun, dryRun ? undefined : markSource);
    if (state.state === 'occupied') {
      const held = Object.entries(state.counts).map(([t, n]) => `${t} ${n}`).join(', ');
      throw new Refusal(`${where} already holds data (${held}) that is not this file's: move-data copies into an empty database only (no merge); nothing was written. Point --to-database at a new database, or empty this one if its data is not wanted`);
    }
    const verb = state.state === 'same' ? 'already there (an earlier run copied them), left as they are' : dryRun ? 'would be copied' : 'copied';
    for (const table of tables) io.out(`move-data: table ${table.name}: ${table.rows.length} rows ${verb}`);
    io.out(`move-data: ${where}: ${summary(tables)}${state.state === 'empty' && !dryRun ? ', in one transaction' : ''}`);
    // The rows an earlier run copied (no transaction of ours to commit): marked now.
    if (!dryRun && mark === undefined) markSource();
    return mark;
  } catch (error) {
    if (mark !== undefined) await settleMark(native, url, io.cwd, tables, place.where, error);
    throw error;
  } finally {
    await db.destroy().catch(() => undefined);
  }
}

/**
 * Whether the target at `url` holds none of the rows of the source's relational tables while the
 * source has some: every table empty (an app on it since would have left its users there).
 */
export async function commitMissing(native: BetterSqlite3.Database, url: string, cwd: string | undefined): Promise<boolean> {
  const tables = await readSourceTables(native);
  if (tables.every((table) => table.rows.length === 0)) return false;
  // Not answering, or not this release's tables there (nothing a move of this file put in): skipped as marked.
  return (await targetStateOf(url, cwd, tables)) === 'empty';
}

/**
 * What the target at `url` holds of `tables` (copyTables' dry run, on a connection of its own), or
 * undefined when it cannot say (no answer, not this release's tables).
 */
async function targetStateOf(url: string, cwd: string | undefined, tables: readonly SourceTable[]): Promise<TargetState['state'] | undefined> {
  const db = openMigrationDatabase(url, { cwd });
  try {
    return (await copyTables(db, tables, true)).state;
  } catch {
    return undefined;
  } finally {
    await db.destroy().catch(() => undefined);
  }
}

/**
 * The copy failed after the source's mark was written — at the COMMIT, or its answer lost on the way
 * back. Which, only the target tells: asked again on a connection of its own, it holds the file's
 * rows (the COMMIT went through: the mark stays, or an app started on the file would serve it
 * stale), none of its tables' rows (rolled back: the mark is taken back, so a re-run copies the
 * part), or it cannot say (the mark stays, and the error says how to tell).
 * @throws Refusal, but for a copy rolled back whose mark was taken back (the copy's error is thrown on)
 */
async function settleMark(native: BetterSqlite3.Database, url: string, cwd: string | undefined, tables: readonly SourceTable[], where: string, cause: unknown): Promise<void> {
  const target = describeDatabaseUrl(url, cwd);
  const state = await targetStateOf(url, cwd, tables);
  if (state === 'empty') {
    takeBackMark(native, where, target, cause);
    return;
  }
  if (state === 'same') {
    throw new Refusal(
      `${messageOf(cause)}; but the copy is in PostgreSQL: its COMMIT went through, only its answer was lost. ${where} stays marked as moved to ${target}: run the same move-data again for what is left of the move`,
    );
  }
  throw new Refusal(
    state === undefined
      ? `${messageOf(cause)}; whether the copy's COMMIT went through is unknown (${target} did not answer), so ${where} stays marked as moved: run the same move-data again once ${target} answers (it copies the part when ${target} holds none of the file's rows, and skips it as moved when it holds them)`
      : `${messageOf(cause)}; whether the copy's COMMIT went through is unknown (${target} holds rows other than the file's), so ${where} stays marked as moved: if none of the file's users are in ${target}, the copy did not commit: run \`${unmarkCommand(where)}\`, then look at what ${target} holds before moving again`,
  );
}

/**
 * The target's COMMIT failed after the source's mark was written (the connection lost at the last
 * moment): the mark is taken back, so that a re-run copies the part instead of skipping it. When the
 * file refuses that too, the error says what is left and how to clear it.
 */
function takeBackMark(native: BetterSqlite3.Database, where: string, target: string, cause: unknown): void {
  try {
    removeMark(native, 'relational');
  } catch (error) {
    throw new Refusal(
      `${messageOf(cause)}; and the mark written in ${where} before the copy's commit could not be taken back (${messageOf(error)}): the app refuses the file until the same move-data, run again, copies the part (${target} holds none of its rows), or \`${unmarkCommand(where)}\` clears the mark`,
    );
  }
}

/** Migrates the target (a dry run only reads what it would do); returns the migrations pending before. */
async function migrateTarget(db: ReturnType<typeof openMigrationDatabase>, where: string, dryRun: boolean, out: (line: string) => void): Promise<string[]> {
  try {
    const newer = await newerMigrations(db);
    if (newer.length > 0) throw new Refusal(`${where}: ${newerReleaseMessage(newer)}`);
    const changed = await changedMigrations(db);
    if (changed.length > 0) throw new Refusal(`${where}: ${changed.join('; ')}`);
    const pending = await pendingMigrations(db);
    if (dryRun) {
      if (pending.length > 0) out(`move-data: ${where}: would apply ${pending.join(', ')}`);
      return pending;
    }
    for (const name of await migrateToLatest(db)) out(`move-data: ${where}: applied ${name}`);
    return pending;
  } catch (error) {
    if (error instanceof Refusal) throw error;
    const reason = migrationWaitFailure(error, MIGRATION_TIMEOUT_MS);
    throw new Refusal(`${where}: ${reason instanceof Error ? reason.message : String(reason)}`);
  }
}

/** The schema the relational target's tables are in for this URL's connection (effectiveSchema). */
export async function targetSchema(url: string, cwd: string | undefined): Promise<string> {
  const where = describeDatabaseUrl(url, cwd);
  const db = openMigrationDatabase(url, { cwd });
  try {
    return await effectiveSchema(db, where);
  } catch (error) {
    if (error instanceof Refusal) throw error;
    throw new Refusal(`${where}: ${messageOf(error)}`);
  } finally {
    await db.destroy().catch(() => undefined);
  }
}

function summary(tables: readonly SourceTable[]): string {
  return `${tables.reduce((n, t) => n + t.rows.length, 0)} rows in ${tables.length} tables`;
}
