/**
 * Which folder refuses to take a new file, and why: for the messages of start-up (the SQLite file's
 * folder, the development keys', the log file's) and of `livecomponents doctor`, which judge a folder
 * not made yet by its nearest existing parent, since that is where the app makes the rest.
 *
 * Node's own error hides it when a folder must be made: on a read-only file system a recursive
 * `mkdir` reports ENOENT for the first missing parent (it could not create it, and the EROFS is lost
 * on the way back), and EACCES names the folder asked for, not the parent that refused.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** The nearest folder (or file) of `path` and its parents that exists. */
export function nearestExisting(path: string): string {
  let current = path;
  while (!existsSync(current) && dirname(current) !== current) current = dirname(current);
  return current;
}

const REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a part of the path is not a folder',
  ENOENT: 'does not exist',
  EISDIR: 'is a folder',
};

/** `EROFS: read-only file system`, without the path that Node's message carries (a probe's random name, say). */
export function errorReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined) return error instanceof Error ? error.message : String(error);
  return REASONS[code] === undefined ? code : `${code}: ${REASONS[code]}`;
}

/**
 * Why nothing could be written into `folder` after `error` (from making it, or a file in it), as
 * words that start with the absolute folder that refuses: `/srv/app/data is not writable (EACCES:
 * permission denied)`, `/srv/app/db cannot be created: /srv/app is not writable (EROFS: read-only
 * file system)`. A folder whose parent takes new files after all (a full disk, a race) gets
 * `error`'s own reason.
 */
export function writeRefusal(folder: string, error: unknown): string {
  const target = resolve(folder);
  const refused = refusingFolder(target);
  if (refused !== undefined) return refused;
  return existsSync(target) ? `${target} is not writable (${errorReason(error)})` : `${target} cannot be created (${errorReason(error)})`;
}

/**
 * Start-up's error when the development file of `variable` (unset) cannot be written in `folder`
 * after `error`: the folder that refuses, why, and the two ways out.
 */
export function devFileRefusal(variable: string, what: string, folder: string, error: unknown): Error {
  return new Error(
    `${variable} is not set and ${writeRefusal(folder, error)}, so the development ${what} cannot be written: set ${variable} (\`npx livecomponents keygen\` prints one) or make it writable for the app's user`,
    { cause: error },
  );
}

/**
 * Start-up's and the doctor's words when the development file of `variable` (unset) exists but
 * cannot serve: `why` says what is wrong with it (`cannot be read (EACCES: permission denied)`,
 * `holds fewer than 32 bytes`).
 */
export function devFileUnusable(variable: string, file: string, why: string): string {
  return `${variable} is not set and the development file ${resolve(file)} ${why}, so start-up cannot use it: fix or delete the file (start-up then generates a new one), or set ${variable} (\`npx livecomponents keygen\` prints one)`;
}

/** The text of the development file of `variable` (unset), or `devFileUnusable`'s words when it cannot be read. */
export function readDevFile(variable: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(devFileUnusable(variable, file, `cannot be read (${errorReason(error)})`), { cause: error });
  }
}

/**
 * The words of `writeRefusal` when `folder`, or the nearest existing parent it would be made in,
 * refuses new files; undefined when it takes them. For a failure already seen, so `access(W_OK)`
 * is exact here: it says yes to root whatever the permission bits, but root's write did not fail on
 * them either, and it reports a read-only mount to everyone.
 */
export function refusingFolder(folder: string): string | undefined {
  const target = resolve(folder);
  const existing = nearestExisting(target);
  const made = existing === target ? '' : `${target} cannot be created: `;
  try {
    if (!statSync(existing).isDirectory()) return `${made}${existing} is not a folder`;
    accessSync(existing, constants.W_OK);
    return undefined;
  } catch (refused) {
    return `${made}${existing} is not writable (${errorReason(refused)})`;
  }
}
