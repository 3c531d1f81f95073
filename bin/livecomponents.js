#!/usr/bin/env node
// The `livecomponents` command: runs the compiled CLI in dist/. In a source checkout (where
// scripts/build.mjs exists) it first builds dist/ when dist/ is missing or older than the sources,
// so `npx livecomponents doctor` works on a fresh clone right after `npm install`, with no
// postinstall step, and never runs stale code. An installed package, the image and a release
// directory ship dist/ without scripts/ and skip this.
//
// `npm start` is `exec node bin/livecomponents.js serve` (package.json), so it works wherever this
// does: a checkout (built first when a source is newer; a read-only one with an up-to-date dist/ is
// not written to), the image, a release directory. `exec`: npm hands the script to `sh -c` and
// passes SIGTERM/SIGINT to that shell only; dash does not exec the last command by itself, so
// without it the signal killed the shell and left the app running, orphaned, on its port. With it
// the signal reaches this process, which is the app: its own handlers take it.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist/src/cli/index.js');
const buildScript = join(root, 'scripts/build.mjs');
// scripts/build.mjs (`npm run build`, `npm start`, or here) writes it after a build that succeeded
// and removes it when one starts: missing, or older than a source, means dist/ may be stale.
const stamp = join(root, 'dist/.build-stamp');
const SOURCE_DIRS = ['src', 'examples', 'client'];

/** The newest modification time of the files that go into dist/ (tests excluded). */
function newestSource(dir) {
  let newest = 0;
  for (const item of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, item.name);
    if (item.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (!item.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function needsBuild() {
  if (!existsSync(entry)) return true;
  const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
  return SOURCE_DIRS.some((dir) => existsSync(join(root, dir)) && newestSource(join(root, dir)) > built);
}

/** 128 + the signal's number: what a shell reports for a process a signal ended. */
const EXIT_BY_SIGNAL = { SIGINT: 130, SIGTERM: 143 };

/**
 * Builds dist/. A SIGTERM or SIGINT meanwhile stops the build, tsc included (left running, it kept
 * writing dist/ under the next start), and ends the process with 128 + its number; the handlers
 * go with the build, so the command (the app, for `serve`) installs its own.
 */
async function buildStoppable() {
  const stopping = new AbortController();
  /** @type {'SIGINT' | 'SIGTERM' | undefined} */
  let stoppedBy;
  /** @param {'SIGINT' | 'SIGTERM'} signal */
  const stop = (signal) => {
    stoppedBy ??= signal;
    stopping.abort();
  };
  for (const signal of Object.keys(EXIT_BY_SIGNAL)) process.on(signal, stop);
  try {
    const { build } = await import(pathToFileURL(buildScript).href);
    // stdout belongs to the command (`keygen >> app.env`, `doctor --json`): compiler errors go to stderr.
    await build({ quiet: true, diagnosticsToStderr: true, signal: stopping.signal });
  } catch (error) {
    if (stoppedBy) process.exit(EXIT_BY_SIGNAL[stoppedBy]);
    process.stderr.write(`livecomponents: ${buildFailure(error)}\n`);
    if (!existsSync(entry)) process.exit(1);
    process.stderr.write('livecomponents: running the dist/ that exists, which may be out of date\n');
  } finally {
    for (const signal of Object.keys(EXIT_BY_SIGNAL)) process.removeListener(signal, stop);
  }
  if (stoppedBy) process.exit(EXIT_BY_SIGNAL[stoppedBy]);
}

/**
 * One line on a failed build: the compiler's errors are above it (stderr), a file it could not
 * write (a read-only checkout: EACCES on dist/.build-stamp) is named in its own words, with nothing above.
 */
function buildFailure(error) {
  const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
  if (error instanceof Error && error.name === 'BuildCommandError') return `the build failed (${why}); its errors are above`;
  const code = error instanceof Error ? /** @type {NodeJS.ErrnoException} */ (error).code : undefined;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return `cannot build dist/ (${why}): this user may not write the checkout; build it as one who may (\`npm run build\`)`;
  return `the build failed (${why})`;
}

if (existsSync(buildScript) && needsBuild()) {
  process.stderr.write('livecomponents: building dist/ from the sources (npm run build)...\n');
  await buildStoppable();
}
if (!existsSync(entry)) {
  process.stderr.write('livecomponents: dist/src/cli/index.js is missing; run `npm run build` first\n');
  process.exit(1);
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
