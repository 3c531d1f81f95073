/**
 * `doctor --connect`'s checks of an SQLite file: DATABASE_URL's (`database`), or the embedded
 * key-value file without REDIS_URL (`redis-server`; the list: doctor-services.ts). Read-only: a file
 * that exists is read from a copy in memory (or opened read-only), one that does not is not created.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { messageOf } from '../core/errors.js';
import { sqliteDriverNotBuilt } from '../sql/database.js';
import { lcKvRefusal } from '../store/sqlite/index.js';
import { openSnapshot } from './doctor-sqlite-snapshot.js';
import { folderRefusal } from './doctor-files.js';
import { nearestExisting } from '../ops/writable-path.js';
import { schemaCheck, type Outcome } from './doctor-schema.js';

/**
 * The SQLite file at `path` (`where`, as messages name it, after `prefix`: the variable to change),
 * or the folder start-up would create it in. `holdsStore`: the key-value store opens on it too.
 */
export async function checkSqlite(path: string, where: string, prefix: string, holdsStore: boolean, timeoutMs: number): Promise<Outcome> {
  if (existsSync(path)) return await checkSqliteFile(path, where, prefix, holdsStore, timeoutMs);
  const folder = nearestExisting(dirname(path));
  // Tried with a probe file: access(W_OK) says yes to root on a folder whose bits refuse writing.
  if (folderRefusal(folder) !== undefined) {
    return { problems: [`${prefix}${where} does not exist and ${folder} is not a writable folder, so start-up cannot create it`], summary: '' };
  }
  // Start-up creates it only if the driver loads (an install with scripts off leaves it unbuilt): an in-memory database tries that alone.
  const memory = openForCheck(':memory:', {});
  if (typeof memory === 'string') return { problems: [`${prefix}${where} does not exist yet, and start-up cannot create it${memory}`], summary: '' };
  memory.close();
  return { problems: [], summary: `${where} does not exist yet; start-up creates and migrates it` };
}

async function checkSqliteFile(path: string, where: string, prefix: string, holdsStore: boolean, timeoutMs: number): Promise<Outcome> {
  // Read-only: the doctor never writes the database (no WAL switch, no migration), nor leaves a
  // -wal/-shm beside it (a read-only connection makes them and cannot remove them): a copy in memory.
  const native = openSnapshot(path) ?? openForCheck(path, { readonly: true, fileMustExist: true, timeout: timeoutMs });
  if (typeof native === 'string') return { problems: [`${prefix}${where} cannot be opened${native}`], summary: '' };
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: native }) });
  try {
    const schema = await schemaCheck(db, where, 'opens', prefix);
    // A part `move-data` moved elsewhere is the `moved-data` check's (src/cli/move-data-doctor.ts): this one goes on.
    // Start-up then prepares the store's statements on lc_kv, and stops when they do not compile
    // (a table with the migration's columns but no primary key on `key` is taken as its own).
    if (!holdsStore || schema.problems.length > 0 || !(await db.introspection.getTables()).some((t) => t.name === 'lc_kv')) return schema;
    const refusal = lcKvRefusal(native);
    if (refusal === undefined) return schema;
    return {
      problems: [`${prefix}${where}: table "lc_kv" is not the one migration 001_lc_kv makes: the key-value store's statements fail on it (${refusal}), so start-up would stop; restore a backup taken before it was changed`],
      summary: '',
    };
  } catch (error) {
    return { problems: [`${prefix}${where} cannot be read (${messageOf(error)})`], summary: '' };
  } finally {
    await db.destroy();
  }
}

/**
 * A better-sqlite3 connection to `path`, or why there is none (to follow "cannot be opened"): the
 * driver's native module not built, or SQLite's refusal (on a folder: "disk I/O error") — a FAIL
 * line of the report, which an uncaught error would have ended with no report at all.
 */
function openForCheck(path: string, options: BetterSqlite3.Options): BetterSqlite3.Database | string {
  try {
    return new BetterSqlite3(path, options);
  } catch (error) {
    const driver = sqliteDriverNotBuilt(error);
    if (driver !== undefined) return `: ${driver}`;
    const folder = path !== ':memory:' && statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
    return ` (${messageOf(error)})${folder ? ': it is a folder, not an SQLite file' : ''}`;
  }
}
