/**
 * `livecomponents move-data`, its source: the SQLite file opened so that no other process uses it
 * while the move runs, and checked to be at this release's migrations.
 */
import { readdirSync, readlinkSync, realpathSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { quoteIdentifier } from '../sql/identifiers.js';
import { changedMigrations, newerMigrations, newerReleaseMessage, pendingMigrations } from '../sql/migrate.js';
import { shellQuote } from '../sql/moved-mark.js';
import { describeDatabaseUrl } from '../sql/url.js';
import { Refusal } from './command.js';

/**
 * The source file, opened with an exclusive lock held until it is closed: refused at once while any
 * other process has it open. In WAL mode every connection holds a SHARED lock on the database file
 * from its first read until it closes (the app since a02724d: its start-up file check used to drop
 * it), and `BEGIN EXCLUSIVE` under `locking_mode = EXCLUSIVE` needs the file's EXCLUSIVE lock: this is
 * the check that sees an app in another PID namespace (a container sharing the volume), where
 * `/proc` shows nothing (test/scale/move-data-live-app.test.ts). Refused, the move has written nothing
 * and leaves the app's WAL as it is. A network filesystem that does not carry POSIX locks defeats it.
 */
export function openExclusively(path: string): BetterSqlite3.Database {
  const holders = processesWithOpen(path);
  if (holders.length > 0) throw new Refusal(`${path} is open in another process (pid ${holders.join(', ')}: the app, another instance, a sqlite3 shell, a backup): stop every process that uses it, then run move-data again`);
  let native: BetterSqlite3.Database;
  try {
    native = new BetterSqlite3(path, { fileMustExist: true, timeout: 0 });
  } catch (error) {
    throw new Refusal(`cannot open ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    native.pragma('locking_mode = EXCLUSIVE');
    native.exec('BEGIN EXCLUSIVE');
    return native;
  } catch (error) {
    native.close();
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY') {
      throw new Refusal(`${path} is open in another process (the app, another instance, a sqlite3 shell, a backup): stop every process that uses it, then run move-data again`);
    }
    throw error;
  }
}

/**
 * The other processes that have `path` (or its -wal, -shm or -journal file) open, read from Linux's
 * `/proc/<pid>/fd` (processes of other users are seen when this one runs as root or as their user;
 * those of another PID namespace never); empty elsewhere. Checked before SQLite's lock for its pids,
 * and for a process that lost its locks: closing any descriptor of a file drops every POSIX lock the
 * process holds on it, SQLite's included (as the app's start-up file check did before a02724d).
 */
function processesWithOpen(path: string): number[] {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return [];
  }
  const names = new Set(['', '-wal', '-shm', '-journal'].map((suffix) => real + suffix));
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    const holds = fds.some((fd) => {
      try {
        return names.has(readlinkSync(`/proc/${entry}/fd/${fd}`).replace(/ \(deleted\)$/, ''));
      } catch {
        return false;
      }
    });
    if (holds) pids.push(Number(entry));
  }
  return pids;
}

/** Refuses a source this release cannot read as its own: a newer release's, changed or not migrated. */
export async function checkSource(db: Kysely<unknown>, url: string, cwd: string | undefined): Promise<void> {
  const where = describeDatabaseUrl(url, cwd);
  const newer = await newerMigrations(db);
  if (newer.length > 0) throw new Refusal(`${where}: ${newerReleaseMessage(newer)}`);
  const changed = await changedMigrations(db);
  if (changed.length > 0) throw new Refusal(`${where}: ${changed.join('; ')}`);
  const pending = await pendingMigrations(db);
  if (pending.length > 0) {
    throw new Refusal(`${where} is not migrated to this release (pending: ${pending.join(', ')}): start this release's app on it once, or run \`livecomponents migrate\` with DATABASE_URL=${url}, then stop it and move`);
  }
}

/** A row of `PRAGMA foreign_key_check`: a row of `table` whose foreign key `fkid` names no row of `parent`. */
interface ForeignKeyViolation {
  readonly table: string;
  readonly rowid: number | null;
  readonly parent: string;
  readonly fkid: number;
}

/** A row of `PRAGMA foreign_key_list`: one column of the foreign key `id` (`to` null: the parent's primary key). */
interface ForeignKeyColumn {
  readonly id: number;
  readonly seq: number;
  readonly from: string;
  readonly to: string | null;
  readonly on_delete: string;
}

/** A name as the SQL printed for the operator writes it: bare when it needs no quotes. */
const sqlName = (name: string) => (/^[a-z_][a-z0-9_]*$/i.test(name) ? name : quoteIdentifier(name));

/**
 * Refuses a source holding rows whose parent row is gone, before either target is touched. SQLite
 * enforces foreign keys per connection: the app turns them on, the `sqlite3` shell does not, so a
 * `DELETE FROM users` made there cascaded nothing and left the account's tokens and reset links.
 * PostgreSQL enforces them: the copy failed at the first such row, after the target's migrations,
 * with only PostgreSQL's words. Read-only (`PRAGMA foreign_key_check`); the message counts them per
 * table and gives the SQL that removes them as the app's deletes would have (CASCADE: deleted; SET
 * NULL: the reference cleared).
 * @throws Refusal naming the rows and the SQL
 */
export function checkForeignKeys(native: BetterSqlite3.Database, where: string, path: string): void {
  const violations = native.prepare('PRAGMA foreign_key_check').all() as ForeignKeyViolation[];
  if (violations.length === 0) return;
  // Per table (by name: the check's own order is the schema's), per foreign key, the rows in breach.
  const tables = new Map<string, { rows: Set<number | string>; keys: Map<number, { parent: string; count: number }> }>();
  violations.forEach((v, i) => {
    const table = tables.get(v.table) ?? { rows: new Set(), keys: new Map() };
    tables.set(v.table, table);
    table.rows.add(v.rowid ?? `row ${i}`);
    const key = table.keys.get(v.fkid) ?? { parent: v.parent, count: 0 };
    table.keys.set(v.fkid, key);
    key.count++;
  });
  const counts: string[] = [];
  const deletes: string[] = [];
  const clears: string[] = [];
  for (const [name, table] of [...tables].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const described: string[] = [];
    for (const [fkid, { parent, count }] of table.keys) {
      const columns = (native.prepare(`PRAGMA foreign_key_list(${quoteIdentifier(name)})`).all() as ForeignKeyColumn[]).filter((c) => c.id === fkid).sort((a, b) => a.seq - b.seq);
      const from = columns.map((c) => sqlName(c.from));
      const to = columns.map((c) => c.to ?? primaryKeyOf(native, parent)[c.seq] ?? 'rowid').map(sqlName);
      const orphans = `${from.length === 1 ? from[0] : `(${from.join(', ')})`} NOT IN (SELECT ${to.join(', ')} FROM ${sqlName(parent)})`;
      described.push(`${from.join(', ')} naming no row of ${parent}${table.keys.size > 1 ? `: ${count}` : ''}`);
      // As the app's delete of the parent would have done: CASCADE deletes the row, SET NULL clears the reference.
      if (/^set null$/i.test(columns[0]?.on_delete ?? '')) clears.push(`UPDATE ${sqlName(name)} SET ${from.map((c) => `${c} = NULL`).join(', ')} WHERE ${orphans};`);
      else deletes.push(`DELETE FROM ${sqlName(name)} WHERE ${orphans};`);
    }
    counts.push(`${name} ${table.rows.size} (${described.join('; ')})`);
  }
  throw new Refusal(
    `${where} holds rows whose parent row is gone: ${counts.join(', ')} — deleted with foreign keys off, as the sqlite3 shell opens a file. PostgreSQL would refuse them, so nothing was moved, nor written anywhere. With every process on the file stopped, remove them as the app's deletes would have: sqlite3 ${shellQuote(path)} ${shellQuote(['PRAGMA foreign_keys = ON;', ...deletes, ...clears].join(' '))} — then run move-data again (and run PRAGMA foreign_keys = ON; first in a sqlite3 shell before deleting rows, so that deletes cascade as in the app)`,
  );
}

/** The primary key columns of `table`, in order. */
function primaryKeyOf(native: BetterSqlite3.Database, table: string): string[] {
  const columns = native.prepare(`PRAGMA table_info(${quoteIdentifier(table)})`).all() as { name: string; pk: number }[];
  return columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
}
