/**
 * `livecomponents move-data`, its source: the SQLite file opened so that no other process uses it
 * while the move runs, and checked to be at this release's migrations.
 */
import { readdirSync, readlinkSync, realpathSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { changedMigrations, newerMigrations, newerReleaseMessage, pendingMigrations } from '../sql/migrate.js';
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
