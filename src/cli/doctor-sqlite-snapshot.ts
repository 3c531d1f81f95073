/**
 * The SQLite file `doctor --connect` checks, opened without leaving a file behind. A read-only
 * connection to a WAL-mode database creates its `-wal` and `-shm` when they are missing (the app is
 * not running) and, read-only, cannot remove them on close: the doctor left both for good (with the
 * file's mode, so its own database-files check then named them too), against its read-only promise.
 */
import { closeSync, existsSync, openSync, readSync, readFileSync, statSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';

/** Above this size the file is opened in place (read-only), as before, rather than read into memory. */
export const SNAPSHOT_MAX_BYTES = 256 * 1024 * 1024;

const HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * A read-only in-memory copy of the database at `path` when no `-wal` is beside it (no connection has
 * it open, so the main file holds every commit), or undefined: a `-wal` is there (the app runs: the
 * file's companions exist already, and the latest commits may be in the `-wal`), the file is no
 * SQLite file or over `SNAPSHOT_MAX_BYTES` (the caller opens it in place and words its refusal).
 */
export function openSnapshot(path: string): BetterSqlite3.Database | undefined {
  try {
    // A -journal: a rollback-mode write was cut short, and the main file alone may be half-written.
    if (existsSync(`${path}-wal`) || existsSync(`${path}-journal`)) return undefined;
    const stat = statSync(path);
    if (!stat.isFile() || stat.size < 100 || stat.size > SNAPSHOT_MAX_BYTES || !startsWithHeader(path)) return undefined;
    const bytes = readFileSync(path);
    // WAL mode is in the header (bytes 18 and 19 = 2); an in-memory database cannot open one: the
    // copy says rollback (1). The file itself is not touched.
    if (bytes[18] === 2) bytes[18] = 1;
    if (bytes[19] === 2) bytes[19] = 1;
    return new BetterSqlite3(bytes, { readonly: true });
  } catch {
    return undefined;
  }
}

function startsWithHeader(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(HEADER.length);
    return readSync(fd, head, 0, head.length, 0) === head.length && head.equals(HEADER);
  } finally {
    closeSync(fd);
  }
}
