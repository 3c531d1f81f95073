/**
 * Creates a development secret's file once, however many processes start together (Node's cluster
 * module, PM2, two `npm start`s on one folder): each would otherwise find it missing, write its own,
 * and keep using it, so every process but the last to write held a secret the others refuse.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, lstatSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `text` to a private temporary file (mode 0600), then links it into place only if `file` is
 * absent, so a concurrent reader never sees a half-written file. Where the file system has no hard
 * links, falls back to an exclusive create. False when another process created `file` first: read
 * theirs. First removes the temporary files of `file` that processes no longer running left behind.
 */
export function createFileOnce(file: string, text: string): boolean {
  removeLeftoverTemps(file);
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
    linkSync(temp, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
    return createExclusive(file, text);
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // never created
    }
  }
}

function createExclusive(file: string, text: string): boolean {
  try {
    writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * A temporary file younger than this is left alone whatever its pid: the pid of a process in another
 * PID namespace (two containers on one volume, a host and a container) does not run here, so that
 * process's file, which it is about to link, looked left behind; removing it made its link fail
 * (ENOENT) and its start-up stop. Writing and linking take far less.
 */
export const TEMP_FILE_GRACE_MS = 60_000;

/**
 * A process killed between its write and its unlink (SIGKILL, a crash, the machine stopping) left
 * `file.<pid>.<hex>.tmp`, key material, for good. Those of a pid that no longer runs, written over
 * `TEMP_FILE_GRACE_MS` ago, are removed; a running process's (this one's too) may still be linking its
 * own, and is left alone. A pid reused since keeps its leftover until that process ends: rare, and
 * only ever a file left, never one taken. The development secrets' readers call it on every start
 * too, not only when they create the file: a process killed after its link (the file exists), or a
 * leftover still within the grace on a quick restart, would otherwise never be swept.
 */
export function removeLeftoverTemps(file: string): void {
  const name = basename(file);
  let entries: string[];
  try {
    entries = readdirSync(dirname(file));
  } catch {
    return; // the folder cannot be read: the write below says why
  }
  for (const entry of entries) {
    if (!entry.startsWith(`${name}.`)) continue;
    const pid = /^\.(\d+)\.[0-9a-f]{12}\.tmp$/.exec(entry.slice(name.length))?.[1];
    if (pid === undefined || running(Number(pid))) continue;
    const path = join(dirname(file), entry);
    try {
      // lstat: a link is judged by its own time, and unlink removes the link, never what it names.
      if (Date.now() - lstatSync(path).mtimeMs < TEMP_FILE_GRACE_MS) continue;
      unlinkSync(path);
    } catch {
      // removed by another process sweeping too, or not ours to remove: it stays, as before
    }
  }
}

/** Whether a process with this pid runs (EPERM: it does, as another user's). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
