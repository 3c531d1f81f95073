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
 *
 * This file decides what a run does (its arguments, the marks of an earlier run, the order of the
 * parts); each part's move is in move-data-relational-part.ts and move-data-key-value-part.ts.
 */
import { Kysely, SqliteDialect } from 'kysely';
import { checkForeignKeys, checkSource, openExclusively } from './move-data-source.js';
import { DEFAULT_DATABASE_URL, describeDatabaseUrl, parseDatabaseUrl } from '../sql/url.js';
import { redisKeyPrefix } from '../ops/config-fields.js';
import type { Store } from '../store/types.js';
import { redisDescription, Refusal, runCommand, type CommandIo } from './command.js';
import { clearMarks, messageOf, nothingLeft, nothingLeftRefusal, partsToSkip, probeMark, relationalTarget, writeMark, type RequestedParts } from './move-data-mark.js';
import { describeMark, movedMarks } from '../sql/moved-mark.js';
import { missingMarkNote, openRedis, writeCompletionMark } from './move-data-redis.js';
import { commitMissing, moveTables, targetSchema } from './move-data-relational-part.js';
import { moveKeyValues } from './move-data-key-value-part.js';
import { keyValueReRun } from './move-data-redis-holds.js';

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
    // PostgreSQL enforces the foreign keys a file edited in the sqlite3 shell may not hold to: refused
    // here, before either target is touched, naming the rows and the SQL that removes them.
    if (databaseUrl !== undefined && !skip.has('relational')) checkForeignKeys(native, where, source.path);
    // The key-value part marked in the file: Redis is asked for its completion mark and what it holds
    // of the move (keyValueReRun): the mark written when missing over the move's records, the part
    // copied again when Redis lost them, or refused. Redis not answering (a refusal is refused) does
    // not stop the rest of the run (the file's mark proves the records were put in): it says so, and
    // the run exits 1 at its end.
    const reRun = redisUrl !== undefined && targets['key-value'] !== undefined && skip.has('key-value') ? await keyValueReRun(native, { where, target: targets['key-value'], url: redisUrl, keyPrefix, dryRun, now }) : undefined;
    redis = reRun?.markOn;
    if (reRun?.copyAgain !== undefined) {
      skip.delete('key-value');
      out(`move-data: ${reRun.copyAgain}`);
    }
    const unanswered = reRun?.unanswered;
    // A dry run says the mark it would write, as the run would (exit 0), not "nothing left to move".
    const markDue = redis !== undefined || reRun?.markWouldBeWritten === true;
    const done = nothingLeft(targets, skip);
    if (done && !markDue) throw nothingLeftRefusal(marks, skip, where, unanswered);
    // Before any target is written: a file that cannot take the mark is never left moved and unmarked.
    if (!dryRun && !done) probeMark(native, where);
    out(`move-data: ${where}: opened exclusively (no other process has it open)${dryRun ? '; dry run, nothing is written' : ''}`);
    for (const part of skip) out(`move-data: the ${part} part was moved to ${targets[part]} already (marked in ${where}): not copied again`);
    if (unanswered !== undefined) out(`move-data: ${unanswered}`);
    if (markDue && redisUrl !== undefined) {
      const why = missingMarkNote(native, marks.find((m) => m.part === 'key-value')?.movedAt ?? '', now());
      if (redis === undefined) out(`move-data: ${redisDescription(redisUrl)}: completion mark would be written (${why})`);
      else {
        await writeCompletionMark(native, redis, now);
        out(`move-data: ${redisDescription(redisUrl)}: completion mark written (${why})`);
        await redis.close();
        redis = undefined;
      }
      if (done) {
        if (dryRun) out('move-data: dry run done: nothing was written');
        return;
      }
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
      throw new Refusal(
        dryRun
          ? `${redisDescription(redisUrl)}: its completion mark is unchecked (it did not answer, above), so the run would not be done: it would move the rest and exit 1; run it once Redis answers`
          : `${redisDescription(redisUrl)}: its completion mark is unchecked (it did not answer, above), so the move is not done, though the rest of it is: run the same move-data again once it answers, before starting the app on it`,
      );
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
