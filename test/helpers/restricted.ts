/**
 * Runs a snippet of TypeScript in a child process whose file system refuses what a production
 * container's refuses, although the tests run as root in CI (and root writes through file modes):
 *
 * - `asNobody`: as uid/gid 65534 when the tests run as root; as the current user otherwise, whom the
 *   file modes already bind;
 * - `readOnly`: with those folders mounted read-only, in a mount namespace of its own (needs root
 *   and util-linux's unshare), as `readOnlyRootFilesystem` / compose `read_only` leave the image.
 *
 * The snippet is an ES module body run by tsx; `src(path)` gives a source file's URL to import.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = join(import.meta.dirname, '../..');
const NOBODY = 65534;
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const isRoot = process.getuid?.() === 0;

/** The URL of a file of the repository, for `import` in a snippet. */
export function src(path: string): string {
  return pathToFileURL(join(ROOT, path)).href;
}

/** Why `readOnly` cannot be used here, or undefined when it can. */
export const readOnlyUnsupported: string | undefined = !isRoot
  ? 'mounting a folder read-only needs root'
  : spawnSync('unshare', ['--mount', '--propagation', 'private', 'true'], { stdio: 'ignore' }).status !== 0
    ? '`unshare --mount` is not available'
    : undefined;

/** Why `asNobody` cannot be used here (root without the right to change uid), or undefined when it can. */
export const nobodyUnsupported: string | undefined =
  isRoot && spawnSync('true', { uid: NOBODY, gid: NOBODY, stdio: 'ignore' }).status !== 0 ? 'this root may not start a process as nobody' : undefined;

/** Whether files and folders must be handed to nobody for `asNobody` snippets to own them. */
export const chownToNobody = isRoot;
export const NOBODY_ID = NOBODY;

export interface Restriction {
  asNobody?: boolean;
  readOnly?: readonly string[];
  cwd?: string;
}

/** Runs `code`; its stdout (trimmed), stderr and exit status. */
export function runRestricted(code: string, restriction: Restriction): { stdout: string; stderr: string; status: number | null } {
  const dir = mkdtempSync(join(tmpdir(), 'lc-restricted-'));
  try {
    chmodSync(dir, 0o755);
    const file = join(dir, 'snippet.mts');
    writeFileSync(file, code, { mode: 0o644 });
    // tsx by its file: a snippet may run in a folder from which `tsx` does not resolve.
    const node = [process.execPath, '--import', TSX, file];
    const [command, ...args] = restriction.readOnly
      ? [
          'unshare',
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          // Each folder bound onto itself, then that bind made read-only; the working folder entered
          // again by its name (the process still stood in the writable one); then the snippet.
          'n=$1; shift; i=0; while [ $i -lt $n ]; do mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 97; shift; i=$((i+1)); done; cd "$PWD" && exec "$@"',
          'sh',
          String(restriction.readOnly.length),
          ...restriction.readOnly,
          ...node,
        ]
      : node;
    const ids = restriction.asNobody && isRoot ? { uid: NOBODY, gid: NOBODY } : {};
    const result = spawnSync(command!, args, {
      cwd: restriction.cwd ?? ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: process.env.PATH ?? '' },
      ...ids,
    });
    return { stdout: result.stdout.trim(), stderr: result.stderr, status: result.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs `attempt` (statements, after `imports`) restricted: its printed `done` when it completes, else
 * the message it throws. A child that fails otherwise (exit status not 0) throws with its stderr.
 */
export function outcomeRestricted(imports: string, attempt: string, done: string, restriction: Restriction): string {
  const run = runRestricted(
    `${imports}
try {
  ${attempt}
  console.log(${JSON.stringify(done)});
} catch (error) {
  console.log(error.message);
}`,
    restriction,
  );
  if (run.status !== 0) throw new Error(`the child failed (${run.status}): ${run.stderr}`);
  return run.stdout;
}
