/**
 * `livecomponents doctor --connect`: the folders the app writes to on this machine. Start-up, the
 * SQLite store and the file log each fail there in their own way — start-up stops on a read-only
 * `./data`, every write answers 503 on a full disk, and a log folder the app cannot write loses
 * every line while the app runs on — so the doctor tries each folder the way the app will:
 *
 * - `data-dir`: outside production, without `LC_STATE_KEYS` or `LC_SESSION_SECRET`, start-up
 *   generates them into `./data` (createLiveComponents' `dataDir`), or reads them from there: the
 *   folder must take a new file, a key file already there must be readable (and, for the state key,
 *   one too open must be the app user's, as start-up resets it to 0600), and its disk has room.
 * - `database-files`: the SQLite file, its `-wal`/`-shm` companions and its folder (SQLite creates
 *   the companions there) are writable, and its disk has room; in production none of the files may
 *   be readable by group or others (outside production the ok line says so). With PostgreSQL and no
 *   `REDIS_URL`, the embedded key-value file (`./data/livecomponents.db`) is checked the same way,
 *   and the folder it will be made in when it does not exist yet.
 * - `log-file`: with `LOG_DESTINATION=file:PATH`, the folder of PATH takes a new file, the file of
 *   today that the app continues (if there) opens for appending, and its disk has room.
 *
 * Writability is tried, not asked: a probe file is created and removed at once (`access(W_OK)`
 * answers yes to root whatever the permission bits say). A folder that does not exist yet is
 * judged by its nearest existing parent, since the app creates the rest. Run the doctor as the
 * user the app runs as: another user's answer says nothing about the app's.
 */
import { closeSync, existsSync, openSync, readdirSync, realpathSync, rmSync, statfsSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve, sep } from 'node:path';
import { passed, checked, type CheckResult } from './doctor-check.js';
import type { AppConfig } from '../ops/config.js';
import { logDestinationForMessage, parseLogDestination } from '../ops/logging/destination.js';
import { startingFile } from '../ops/logging/file-roller.js';
import { DEFAULT_DATABASE_URL, describeDatabaseUrl, parseDatabaseUrl } from '../sql/url.js';
import { devFileUnusable, errorReason as reason, nearestExisting } from '../ops/writable-path.js';
// Not src/runtime/setup.ts: that would load the whole runtime into the `doctor` command.
import { readDevStateKeys } from '../pipeline/state/keyring.js';
import { readDevSessionSecret } from '../runtime/dev-files.js';

export const FILE_CHECK_NAMES = ['data-dir', 'database-files', 'log-file'] as const;
export type FileCheckName = (typeof FILE_CHECK_NAMES)[number];

export type FileCheckResult = CheckResult<FileCheckName>;

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * Below this much free space a check fails. The app's own steady needs: the file log keeps up to
 * 8 files of 10 MB (the current file plus 7 rotated, src/ops/logging/file-roller.ts), and the SQLite
 * WAL grows by up to ~40 MB (WAL_AUTOCHECKPOINT_PAGES × 4 KiB) between two checkpoints. Under
 * 100 MiB one busy spell fills the disk, and then every write answers 503 or every log line is lost.
 */
export const MIN_FREE_BYTES = 100 * MiB;
/**
 * Below this much free space the ok line says the disk is low: room for about ten times the
 * above, days rather than hours of growth for a modest app — time to act before it fails.
 */
export const LOW_FREE_BYTES = GiB;
/** A WAL past this (~1.5 times the automatic checkpoint's size) is named in the ok line: checkpoints are held back. */
const LARGE_WAL_BYTES = 64 * MiB;

export interface FileCheckOptions {
  /** The folder relative paths (`sqlite:./data/…`, `file:./logs/…`) are read against. @default process.cwd() */
  cwd?: string;
  /** Where start-up keeps generated development keys (createLiveComponents' `dataDir`). @default `<cwd>/data` */
  dataDir?: string;
  /** Free space below which `data-dir`, `database-files` and `log-file` fail, bytes. @default MIN_FREE_BYTES (100 MiB) */
  minFreeBytes?: number;
  /** Free space below which their ok line calls the disk low, bytes. @default LOW_FREE_BYTES (1 GiB) */
  lowFreeBytes?: number;
  /**
   * This process has the SQLite database open (start-up's own check, after opening it): its file,
   * -wal and -shm are not opened to try them. POSIX record locks belong to the process, and closing
   * any descriptor of a file drops every one it holds there — SQLite's included, so the next process
   * to close the file would think itself the last, checkpoint and delete the WAL the app still
   * writes to. SQLite's own open has proved them writable (src/sql/database.ts, checkWritable).
   * @default false (the doctor, a process of its own)
   */
  databaseOpenHere?: boolean;
}

interface Limits {
  readonly min: number;
  readonly low: number;
  /** FileCheckOptions.databaseOpenHere. */
  readonly databaseOpenHere: boolean;
}

/** Every file check, in order. Synchronous: a few system calls per folder. */
export function runFileChecks(config: AppConfig, options: FileCheckOptions = {}): FileCheckResult[] {
  const cwd = options.cwd ?? process.cwd();
  const limits = { min: options.minFreeBytes ?? MIN_FREE_BYTES, low: options.lowFreeBytes ?? LOW_FREE_BYTES, databaseOpenHere: options.databaseOpenHere === true };
  return [
    checkDataDir(config, resolve(cwd, options.dataDir ?? 'data'), limits, cwd),
    checkDatabaseFiles(config, cwd, limits),
    checkLogFile(config.LOG_DESTINATION, cwd, limits),
  ];
}

function checkDataDir(config: AppConfig, dataDir: string, limits: Limits, cwd: string): FileCheckResult {
  const generated = [
    ...(config.LC_STATE_KEYS === undefined ? [{ variable: 'LC_STATE_KEYS', file: join(dataDir, 'state-keys', 'LC_STATE_KEYS'), what: 'development state key' }] : []),
    ...(config.LC_SESSION_SECRET === undefined ? [{ variable: 'LC_SESSION_SECRET', file: join(dataDir, 'session-secret'), what: 'development session secret' }] : []),
  ];
  if (generated.length === 0) return passed('data-dir', `LC_STATE_KEYS and LC_SESSION_SECRET are set: nothing is written to ${dataDir}`);
  if (config.production) return passed('data-dir', 'production never generates keys into a file (the keys and secrets checks ask for them)');
  const problems: string[] = [];
  // An SQLite file on the path of a development file (sqlite:./data): start-up writes the keys first
  // (examples/demo/app.ts, since 1e777f0), which makes the path a folder, and then cannot open the
  // database there ("it is a folder, not an SQLite file").
  const database = parseDatabaseUrl(config.DATABASE_URL, cwd);
  const onPath = (file: string) => database.engine === 'sqlite' && (file === database.path || file.startsWith(`${database.path}${sep}`));
  for (const { variable, file, what } of generated) {
    if (onPath(file) && database.engine === 'sqlite') {
      problems.push(`${variable} is not set and DATABASE_URL names ${database.path}, on the path of ${file}: start-up writes the ${what} there first, which makes ${database.path} a folder, then cannot open the database file and stops; give DATABASE_URL another file name, or set ${variable} (\`npx livecomponents keygen\` prints one)`);
      continue;
    }
    if (existsSync(file)) {
      // Read as start-up reads it, with its readers (their words: a file it cannot read, EACCES or a
      // folder in its place, or one that holds no usable value), then the mode reset start-up makes.
      const problem = devFileContentProblem(variable, file) ?? (variable === 'LC_STATE_KEYS' ? modeResetRefusal(file) : undefined);
      if (problem !== undefined) problems.push(problem);
      continue;
    }
    const folder = nearestExisting(dirname(file));
    const refusal = folderRefusal(folder);
    if (refusal !== undefined) {
      problems.push(
        `${variable} is not set and ${folder} ${refusal}, so start-up cannot write the ${what} to ${file} and stops; make ${folder} writable for the app's user, or set ${variable} (\`npx livecomponents keygen\` prints one)`,
      );
    }
  }
  const space = spaceProblem(nearestExisting(dataDir), limits, 'start-up cannot write a development key once it is full');
  if (space.problem !== undefined) problems.push(`data folder: ${space.problem}`);
  return checked('data-dir', problems, `${generated.map((g) => g.variable).join(' and ')} not set: start-up can keep development values in ${dataDir}; ${space.note}`);
}

function checkDatabaseFiles(config: AppConfig, cwd: string, limits: Limits): FileCheckResult {
  const url = config.DATABASE_URL;
  const target = parseDatabaseUrl(url, cwd);
  if (target.engine === 'postgres') {
    if (config.REDIS_URL !== undefined) return passed('database-files', 'no SQLite file: the database is PostgreSQL and the key-value store Redis');
    // Without Redis, start-up keeps sessions, state and idempotency records in the embedded file
    // (src/runtime/backends.ts), which it creates and migrates: a folder it cannot write stops it
    // while this line said "no SQLite file".
    const embedded = parseDatabaseUrl(DEFAULT_DATABASE_URL, cwd);
    if (embedded.engine !== 'sqlite') throw new Error('the embedded key-value store is an SQLite file');
    const outcome = sqliteFiles(embedded.path, describeDatabaseUrl(DEFAULT_DATABASE_URL, cwd), EMBEDDED_STORE, limits, config.production);
    return checked('database-files', outcome.problems, `the database is PostgreSQL; no REDIS_URL: sessions and state go to the embedded SQLite file ${outcome.summary}`);
  }
  if (target.path === ':memory:') return passed('database-files', 'no SQLite file: in-memory SQLite');
  const outcome = sqliteFiles(target.path, describeDatabaseUrl(url), DATABASE_FILE, limits, config.production);
  return checked('database-files', outcome.problems, outcome.summary);
}

/** Whose SQLite file `sqliteFiles` checks: the words before each problem, and the other way out. */
interface SqliteFileRole {
  readonly prefix: string;
  readonly orElse: string;
  /** Whether a file not made yet has its folder tried here (the `database` check does it for DATABASE_URL's). */
  readonly tryFolderOfMissing: boolean;
}

const DATABASE_FILE: SqliteFileRole = { prefix: 'DATABASE_URL: ', orElse: '', tryFolderOfMissing: false };
const EMBEDDED_STORE: SqliteFileRole = {
  prefix: 'REDIS_URL is not set, so sessions and state go to the embedded SQLite file: ',
  orElse: ', or set REDIS_URL',
  tryFolderOfMissing: true,
};

/** The SQLite file at `path` (`where`, as messages name it), its -wal/-shm and its folder: problems, and the ok line. */
function sqliteFiles(path: string, where: string, role: SqliteFileRole, limits: Limits, production: boolean): { problems: string[]; summary: string } {
  const { prefix, orElse } = role;
  const problems: string[] = [];
  if (!existsSync(path)) {
    const parent = nearestExisting(dirname(path));
    const refused = role.tryFolderOfMissing ? folderRefusal(parent) : undefined;
    if (refused !== undefined) problems.push(`${prefix}${parent} ${refused}, so start-up cannot create ${where} and stops; make it writable for the app's user${orElse}`);
    // Whether start-up can create DATABASE_URL's is the `database` check's; the disk it will fill is this one's.
    const space = spaceProblem(parent, limits, 'SQLite writes fail ("database or disk is full") and the app answers 503');
    if (space.problem !== undefined) problems.push(`${prefix}${space.problem}`);
    return { problems, summary: `${where} does not exist yet; ${space.note}` };
  }
  // A symbolic link: SQLite opens the file it points to and keeps -wal and -shm beside that one.
  const file = realpathSync(path);
  const folder = dirname(file);
  const folderRefused = folderRefusal(folder);
  if (folderRefused !== undefined) {
    problems.push(`${prefix}${folder} ${folderRefused}, so SQLite cannot create its -wal and -shm files beside ${where} and start-up or every write fails; make the folder writable for the app's user${orElse}`);
  }
  const open: string[] = [];
  for (const companion of [file, `${file}-wal`, `${file}-shm`]) {
    if (!existsSync(companion)) continue;
    const refusal = limits.databaseOpenHere ? undefined : openRefusal(companion, 'r+');
    if (refusal !== undefined) problems.push(`${prefix}${companion} ${refusal}, so every write fails (503); make it writable for the app's user${orElse}`);
    // The app creates them 0600; a file from an older version, a copy or a restore may be readable
    // by every local user, and it holds password hashes, emails, sessions and sealed state.
    const mode = statSync(companion).mode & 0o777;
    if ((mode & 0o077) !== 0) open.push(`${companion} (mode 0${mode.toString(8)})`);
  }
  const tooOpen = open.length === 0 ? '' : `${open.join(', ')} can be read by other local users, and the database holds password hashes, emails and sessions: \`chmod 600\` ${open.length === 1 ? 'it' : 'them'}`;
  if (tooOpen !== '' && production) problems.push(`${prefix}${tooOpen}`);
  const space = spaceProblem(folder, limits, 'SQLite writes fail ("database or disk is full") and the app answers 503');
  if (space.problem !== undefined) problems.push(`${prefix}${space.problem}`);
  const wal = existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0;
  const walNote =
    wal > LARGE_WAL_BYTES
      ? `; its WAL is ${bytes(wal)} (large: a long-running reader holds checkpoints back; the app's sweep truncates it once none does)`
      : '';
  const openNote = tooOpen === '' ? '' : `; note: ${tooOpen}`;
  return { problems, summary: `${where} and its folder are writable; ${space.note}${walNote}${openNote}` };
}

function checkLogFile(destination: string, cwd: string, limits: Limits): FileCheckResult {
  let parsed: ReturnType<typeof parseLogDestination>;
  try {
    parsed = parseLogDestination(destination);
  } catch {
    // The `logging` check shows the format problem.
    return passed('log-file', 'LOG_DESTINATION does not parse (see the logging check)');
  }
  if (parsed.kind !== 'file') return passed('log-file', `no log file: logs go to ${logDestinationForMessage(destination)}`);
  const file = resolve(cwd, parsed.path);
  const folder = nearestExisting(dirname(file));
  const refusal = folderRefusal(folder);
  if (refusal !== undefined) {
    return checked('log-file', [`LOG_DESTINATION: ${folder} ${refusal}, so the app would start and every log line would be lost; make it writable for the app's user, or log to stdout`], '');
  }
  const problems: string[] = [];
  const continued = continuedLogFile(file);
  if (continued !== undefined) {
    const fileRefused = openRefusal(continued, 'a');
    if (fileRefused !== undefined) {
      problems.push(`LOG_DESTINATION: ${continued} ${fileRefused}, and the app continues that file today, so every log line would be lost; make it writable for the app's user, or move it away`);
    }
  }
  const space = spaceProblem(folder, limits, 'log lines are lost once it is full');
  if (space.problem !== undefined) problems.push(`LOG_DESTINATION: ${space.problem}`);
  const writable = folder === dirname(file) ? `${folder} is writable` : `${dirname(file)} can be created in ${folder}`;
  const appended = continued === undefined ? '' : ` and ${continued} opens for appending`;
  return checked('log-file', problems, `${writable}${appended}; ${space.note}`);
}

/**
 * The existing file a start would append to: today's newest, as the roller picks it with its default
 * daily rotation (`file: { frequency }` is set in code, out of the doctor's sight; timed rolls start a
 * new file, hourly ones continue this hour's). Undefined when there is none yet.
 */
function continuedLogFile(file: string): string | undefined {
  let entries: string[];
  try {
    entries = readdirSync(dirname(file));
  } catch {
    return undefined;
  }
  const start = startingFile(file, 'daily', entries, new Date());
  return start.continued && existsSync(start.path) ? start.path : undefined;
}

/** A problem when `folder`'s disk has less than `limits.min` free, and the words for the ok line. */
function spaceProblem(folder: string, limits: Limits, consequence: string): { problem?: string; note: string } {
  const free = freeBytes(folder);
  if (free === undefined) return { note: 'its free space is unknown' };
  if (free < limits.min) {
    return { problem: `${folder} has ${bytes(free)} free (under ${bytes(limits.min)}): ${consequence}; free some space or move it to a larger disk`, note: '' };
  }
  return { note: free < limits.low ? `${bytes(free)} free (low: under ${bytes(limits.low)})` : `${bytes(free)} free` };
}

/** Bytes an unprivileged user may still write on `path`'s file system (root's reserve excluded: the app is no root). */
export function freeBytes(path: string): number | undefined {
  try {
    const stats = statfsSync(path);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}

/**
 * Why `folder` takes no new file, as words after its name (`is not writable (EROFS: …)`), or
 * undefined when it does. A real file is created and removed: `access(W_OK)` says yes to root
 * whatever the permission bits, and only a real create meets a read-only mount, a full inode
 * table or a quota the same way the app will.
 */
export function folderRefusal(folder: string): string | undefined {
  try {
    if (!statSync(folder).isDirectory()) return 'is not a folder';
  } catch (error) {
    return `cannot be read (${reason(error)})`;
  }
  const probe = join(folder, `.lc-doctor-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(probe, 'wx', 0o600);
  } catch (error) {
    return `is not writable (${reason(error)})`;
  }
  closeSync(fd);
  rmSync(probe, { force: true });
  return undefined;
}

/**
 * Why `file` cannot be opened for writing with `flags` (`r+`, `a`: neither changes it), or undefined.
 * A real open, like the app's: `access(W_OK)` says yes to root whatever the permission bits.
 */
function openRefusal(file: string, flags: 'r+' | 'a'): string | undefined {
  try {
    closeSync(openSync(file, flags));
    return undefined;
  } catch (error) {
    return `is not writable (${reason(error)})`;
  }
}

/**
 * What start-up says of a development file that it cannot read or that holds no usable value — a
 * state key file that is no key ring, a session secret of fewer than 32 bytes — read by start-up's
 * own readers (`readDevStateKeys`, `readDevSessionSecret`: read only); undefined when it is usable.
 * Key material is wiped where it can be, never shown.
 */
function devFileContentProblem(variable: string, file: string): string | undefined {
  try {
    if (variable === 'LC_STATE_KEYS') readDevStateKeys(file);
    else readDevSessionSecret(file).fill(0);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Start-up resets a state key file that group or others may read to 0600 (loadOrCreateDevKeys), and
 * only its owner (or root) may: start-up's words when that would fail for this user (the EPERM it
 * gets), or undefined.
 */
function modeResetRefusal(file: string): string | undefined {
  const { mode, uid } = statSync(file);
  const user = process.getuid?.();
  if ((mode & 0o077) === 0 || user === undefined || user === 0 || user === uid) return undefined;
  return devFileUnusable('LC_STATE_KEYS', file, `is too open (mode 0${(mode & 0o777).toString(8)}) and cannot be reset to 0600 (EPERM: operation not permitted)`);
}

/** `0 MiB`, `512 MiB`, `3.2 GiB`: MiB rounded down, so a disk just under a limit never reads as at it. */
function bytes(n: number): string {
  return n >= GiB ? `${(Math.floor((n / GiB) * 10) / 10).toFixed(1)} GiB` : `${Math.floor(n / MiB)} MiB`;
}

