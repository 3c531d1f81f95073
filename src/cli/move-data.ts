/**
 * `livecomponents move-data`: moves the data of the embedded default (one SQLite file) to the
 * engines several instances share — the relational data (users, tokens, password resets) into
 * PostgreSQL, the key-value data (sessions, sealed state, CSRF nonces, idempotency records,
 * rate-limit state) into Redis — so that growing from one machine to several signs no one out and
 * runs no paid action twice. docs/scaling.md, "Moving from one machine to several".
 *
 * The source is opened with an exclusive lock (SQLite's `locking_mode = EXCLUSIVE`, `BEGIN EXCLUSIVE`)
 * held for the whole run: a process that has the file open — the app, its checkpoint worker, a
 * `sqlite3` shell, an app in another container sharing the volume — makes it fail at once (in WAL
 * mode every open connection holds a SHARED lock on the file), and no app can open the file while
 * the move runs. `/proc/<pid>/fd` is read first, to name the processes it can see.
 * The source must be migrated by this release; the target database is migrated to it (the same
 * code as `livecomponents migrate`, which refuses a database whose applied migrations differ).
 */
import type BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { changedMigrations, migrateToLatest, newerMigrations, newerReleaseMessage, pendingMigrations } from '../sql/migrate.js';
import { checkSource, openExclusively } from './move-data-source.js';
import { MIGRATION_TIMEOUT_MS, migrationWaitFailure, openMigrationDatabase } from '../sql/migration-database.js';
import { DEFAULT_DATABASE_URL, describeDatabaseUrl, parseDatabaseUrl } from '../sql/url.js';
import { redisKeyPrefix } from '../ops/config-fields.js';
import { redisClientOf } from '../store/redis/index.js';
import type { Store } from '../store/types.js';
import { redisDescription, Refusal, runCommand, type CommandIo } from './command.js';
import { copyTables, readSourceTables, type SourceTable, type TargetState } from './move-data-sql.js';
import { clearMarks, effectiveSchema, messageOf, nothingLeft, nothingLeftRefusal, partsToSkip, probeMark, relationalTarget, removeMark, writeMark, type RequestedParts } from './move-data-mark.js';
import { describeMark, movedMarks, unmarkCommand, type MovedMark } from '../sql/moved-mark.js';
import { completionMarkOf, missingMarkNote, openRedis, unansweredNote, writeCompletionMark } from './move-data-redis.js';
import { classify, copyToRedis, emptyCounts, KV_KINDS, SKIPPED_KINDS, type KvCounts, type KvRow } from './move-data-kv.js';

export interface MoveDataArgs {
  /** `sqlite:PATH` of the file to move. @default 'sqlite:./data/livecomponents.db' */
  readonly from?: string | undefined;
  /** `postgres://…`. @default env DATABASE_URL when it is a PostgreSQL URL */
  readonly toDatabase?: string | undefined;
  /** One Redis URL, or a Cluster's seed URLs comma-separated. @default env REDIS_URL */
  readonly toRedis?: string | undefined;
  /** The Redis store's key prefix. @default env REDIS_KEY_PREFIX */
  readonly redisKeyPrefix?: string | undefined;
  /** Check and count, write nothing. */
  readonly dryRun?: boolean | undefined;
  /**
   * Clear the source's mark of a completed move (move-data-mark.ts), so that the app and the commands
   * use the file again; alone (with `from` only).
   */
  readonly unmark?: boolean | undefined;
}

export interface MoveDataIo extends CommandIo {
  /** The clock `expires_at` is compared with. @default Date.now */
  readonly now?: () => number;
}

/**
 * Runs the move and prints what it copied.
 * @returns 0 moved (or, with `dryRun`, would move), 1 refused or failed (nothing written to the
 *   database; the key-value copy may be run again), 2 a usage error
 * @example
 * process.exitCode = await moveData({ from: 'sqlite:./data/livecomponents.db' }, { env: process.env, out: console.log, err: console.error });
 */
export async function moveData(args: MoveDataArgs, io: MoveDataIo): Promise<number> {
  return runCommand('move-data', io, () => run(args, io));
}

async function run(args: MoveDataArgs, io: MoveDataIo): Promise<void> {
  const { out } = io;
  const now = io.now ?? Date.now;
  const dryRun = args.dryRun === true;
  const fromUrl = args.from?.trim() || DEFAULT_DATABASE_URL;
  const databaseUrl = args.toDatabase?.trim() || (/^postgres(ql)?:\/\//.test(io.env.DATABASE_URL?.trim() ?? '') ? io.env.DATABASE_URL?.trim() : undefined);
  const redisUrl = args.toRedis?.trim() || io.env.REDIS_URL?.trim() || undefined;
  // Trimmed, as the app reads it (a value from an env file may end in a newline or spaces).
  const keyPrefix = args.redisKeyPrefix?.trim() ?? io.env.REDIS_KEY_PREFIX?.trim() ?? '';
  if (args.unmark === true) {
    if (args.toDatabase !== undefined || args.toRedis !== undefined || args.redisKeyPrefix !== undefined || dryRun) throw new Refusal('--unmark takes --from only', 2);
    return unmarkFile(fromUrl, io);
  }
  if (databaseUrl === undefined && redisUrl === undefined) {
    throw new Refusal('nothing to move to: give --to-database postgres://… and/or --to-redis redis://… (or set DATABASE_URL to a postgres:// URL, REDIS_URL)', 2);
  }
  const source = parseDatabaseUrl(fromUrl, io.cwd);
  if (source.engine !== 'sqlite' || source.path === ':memory:') throw new Refusal('--from must name a SQLite file (sqlite:PATH)', 2);
  if (databaseUrl !== undefined && parseDatabaseUrl(databaseUrl, io.cwd).engine !== 'postgres') {
    throw new Refusal('--to-database must be a postgres:// URL (to move a SQLite file elsewhere, copy the file while the app is stopped)', 2);
  }

  if (keyPrefix !== '') {
    try {
      redisKeyPrefix(keyPrefix);
    } catch (error) {
      throw new Refusal(`--redis-key-prefix (or REDIS_KEY_PREFIX) ${(error as Error).message}`, 2);
    }
  }

  const native = openExclusively(source.path);
  let redis: Store | undefined;
  try {
    const sourceDb = new Kysely<unknown>({ dialect: new SqliteDialect({ database: native }) });
    await checkSource(sourceDb, fromUrl, io.cwd);
    const where = describeDatabaseUrl(fromUrl, io.cwd);
    // As the marks record them: no credentials (describeDatabaseUrl, redisDescription).
    const targets: RequestedParts = {
      ...(databaseUrl === undefined ? {} : { relational: relationalTarget(databaseUrl, await targetSchema(databaseUrl, io.cwd), io.cwd) }),
      ...(redisUrl === undefined ? {} : { 'key-value': `${redisDescription(redisUrl)}${keyPrefix === '' ? '' : ` (key prefix ${keyPrefix})`}` }),
    };
    const marks = await movedMarks(sourceDb, ['relational', 'key-value']);
    const skip = partsToSkip(marks, targets, where);
    // The relational part marked, but PostgreSQL holds none of the file's rows: the run that marked it
    // stopped before the COMMIT (killed, or the mark kept when the target could not say): copied now.
    if (databaseUrl !== undefined && skip.has('relational') && (await commitMissing(native, databaseUrl, io.cwd))) {
      skip.delete('relational');
      out(`move-data: the relational part is marked in ${where} as moved to ${targets.relational}, which holds none of its rows (a run stopped before PostgreSQL's COMMIT): ${dryRun ? 'would be copied' : 'copied now'}`);
    }
    // The key-value part marked in the file: Redis is asked for its completion mark, written now when
    // missing (skipping the part would leave Redis without it for good, taking a second copy). Redis not
    // answering (didNotAnswer; a refusal is refused) does not stop the rest of the run (the file's mark
    // proves the records are in): it says so, and the run exits 1 at its end.
    const redisMark = !dryRun && redisUrl !== undefined && skip.has('key-value') ? await completionMarkOf(redisUrl, keyPrefix) : undefined;
    if (redisMark?.state === 'missing') redis = redisMark.store;
    const unanswered = redisMark?.state === 'unknown' && redisUrl !== undefined ? unansweredNote(redisUrl, redisMark.reason) : undefined;
    const done = nothingLeft(targets, skip);
    if (done && redis === undefined) throw nothingLeftRefusal(marks, skip, where, unanswered);
    // Before any target is written: a file that cannot take the mark is never left moved and unmarked.
    if (!dryRun && !done) probeMark(native, where);
    out(`move-data: ${where}: opened exclusively (no other process has it open)${dryRun ? '; dry run, nothing is written' : ''}`);
    for (const part of skip) out(`move-data: the ${part} part was moved to ${targets[part]} already (marked in ${where}): not copied again`);
    if (unanswered !== undefined) out(`move-data: ${unanswered}`);
    if (redis !== undefined && redisUrl !== undefined) {
      const why = missingMarkNote(native, marks.find((m) => m.part === 'key-value')?.movedAt ?? '', now());
      await writeCompletionMark(native, redis, now);
      out(`move-data: ${redisDescription(redisUrl)}: completion mark written (${why})`);
      if (done) return;
      await redis.close();
      redis = undefined;
    }
    // Redis is reached, and its completion mark read, before anything is written: a Redis URL that is
    // wrong or down is refused with the database untouched.
    if (redisUrl !== undefined && !skip.has('key-value')) redis = await openRedis(redisUrl, keyPrefix);
    if (databaseUrl !== undefined && targets.relational !== undefined) {
      if (!skip.has('relational')) {
        const mark = await moveTables(native, databaseUrl, dryRun, io, { where, target: targets.relational, now });
        if (mark !== undefined) out(`move-data: ${where}: marked: ${describeMark(mark)}`);
      }
    } else out('move-data: no --to-database (nor a postgres:// DATABASE_URL): the relational tables are not moved');
    if (redis !== undefined && redisUrl !== undefined && targets['key-value'] !== undefined) {
      const target = targets['key-value'];
      // Once every record is in Redis, before its completion mark: a file refusing its mark leaves a
      // Redis a run can finish (no completion mark), and the command exits 1 saying so.
      const markFile = () => {
        try {
          return writeMark(native, 'key-value', target, now());
        } catch (error) {
          throw new Refusal(
            `${where} cannot take the mark of the move (${messageOf(error)}): the key-value records are in ${redisDescription(redisUrl)}, but neither the file nor Redis is marked as moved, so the app would still start on the file; make it writable (and the disk not full), then run the same move-data again (records in Redis are left as they are)`,
          );
        }
      };
      const mark = await moveKeyValues(native, redis, redisUrl, keyPrefix, dryRun, now, out, markFile);
      if (mark !== undefined) out(`move-data: ${where}: marked: ${describeMark(mark)}`);
    } else if (redisUrl === undefined) out('move-data: no --to-redis (nor REDIS_URL): the key-value rows are not moved');
    // The rest is moved, but not the move: a first run whose Redis did not take the completion mark
    // exits 1 the same way (moveKeyValues). Said done (exit 0), a script went on to start the app, and
    // nothing ran move-data again to write a missing mark: a stale copy of the file (a backup from
    // before the move) was then copied into the Redis in use, bringing back what the app deleted.
    if (unanswered !== undefined && redisUrl !== undefined) {
      throw new Refusal(`${redisDescription(redisUrl)}: its completion mark is unchecked (it did not answer, above), so the move is not done, though the rest of it is: run the same move-data again once it answers, before starting the app on it`);
    }
    out(
      dryRun
        ? 'move-data: dry run done: nothing was written'
        : `move-data: done: point DATABASE_URL and REDIS_URL at the targets and start the app (the app, revoke-sessions and move-data now refuse the moved parts of ${where}; \`livecomponents move-data --unmark\` clears that)`,
    );
  } finally {
    if (native.inTransaction) native.exec('ROLLBACK');
    native.close();
    await redis?.close().catch(() => undefined);
  }
}

/** `--unmark`: the file opened exclusively (the app stopped), migrated by this release, its marks cleared. */
async function unmarkFile(fromUrl: string, io: MoveDataIo): Promise<void> {
  const source = parseDatabaseUrl(fromUrl, io.cwd);
  if (source.engine !== 'sqlite' || source.path === ':memory:') throw new Refusal('--from must name a SQLite file (sqlite:PATH)', 2);
  const native = openExclusively(source.path);
  try {
    await checkSource(new Kysely<unknown>({ dialect: new SqliteDialect({ database: native }) }), fromUrl, io.cwd);
    clearMarks(native, describeDatabaseUrl(fromUrl, io.cwd), io.out);
  } finally {
    if (native.inTransaction) native.exec('ROLLBACK');
    native.close();
  }
}


/** Where the relational part's mark goes: the source (`where`), what it records (`target`), its clock. */
interface MarkPlace {
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
async function moveTables(native: BetterSqlite3.Database, url: string, dryRun: boolean, io: MoveDataIo, place: MarkPlace): Promise<MovedMark | undefined> {
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
async function commitMissing(native: BetterSqlite3.Database, url: string, cwd: string | undefined): Promise<boolean> {
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
async function targetSchema(url: string, cwd: string | undefined): Promise<string> {
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

/**
 * Copies the key-value rows into Redis and, unless a dry run, marks the source (`markSource`, once
 * every record is in) and then Redis (its completion mark).
 * @returns the source's mark, or undefined for a dry run
 */
async function moveKeyValues(
  native: BetterSqlite3.Database,
  store: Store,
  url: string,
  keyPrefix: string,
  dryRun: boolean,
  now: () => number,
  out: (line: string) => void,
  markSource: () => MovedMark,
): Promise<MovedMark | undefined> {
  const at = now();
  const all = native.prepare('SELECT key, value, expires_at FROM lc_kv').all() as KvRow[];
  const live = all.filter((row) => row.expires_at > at);
  const counts = emptyCounts();
  let expired = all.length - live.length;
  const where = redisDescription(url);
  let mark: MovedMark | undefined;
  if (dryRun) {
    for (const row of live) {
      const move = classify(row.key, row.value);
      if (move.as === 'skip') counts[move.kind].skipped++;
      else counts[move.kind].moved++;
    }
  } else {
    const client = redisClientOf(store);
    if (client === undefined) throw new Error('the Redis store has no client');
    expired += await copyToRedis(live, counts, { store, client, keyPrefix, now });
    mark = markSource();
    try {
      await writeCompletionMark(native, store, now);
    } catch (error) {
      throw new Refusal(
        `${where} did not take the completion mark of the move (${messageOf(error)}): the key-value records are in it and the file is marked as moved there; run the same move-data again to write that mark (it refuses a second copy into this Redis)`,
      );
    }
  }
  printCounts(counts, expired, where, dryRun, out);
  return mark;
}

function printCounts(counts: KvCounts, expired: number, where: string, dryRun: boolean, out: (line: string) => void): void {
  for (const kind of KV_KINDS) {
    const { moved, present, skipped } = counts[kind];
    const reason = SKIPPED_KINDS[kind];
    if (reason !== undefined) {
      out(`move-data: key-value ${kind}: ${skipped} not moved (${reason})`);
      continue;
    }
    const there = present > 0 ? `, ${present} already in Redis (left as they are)` : '';
    out(`move-data: key-value ${kind}: ${moved} ${dryRun ? 'would be copied' : 'copied'}${there}`);
  }
  out(`move-data: key-value expired: ${expired} not moved (past their TTL)`);
  const total = Object.values(counts).reduce((n, c) => n + c.moved, 0);
  out(`move-data: ${where}: ${total} key-value records ${dryRun ? 'would be copied' : 'copied'} with the TTL each had left`);
}
