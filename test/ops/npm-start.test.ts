/**
 * `npm start` as npm runs it: the real `start` script of package.json (npm hands it to `sh -c`),
 * the real bin/livecomponents.js, in a scratch project whose dist/src/cli/index.js runs the real
 * CLI from the sources (tsx), so `serve` runs the real reference app; scripts/build.mjs is a stub
 * when there is one. It works where the image and a release directory put it (no scripts/), in a
 * read-only checkout whose dist/ is up to date (no build: it used to remove dist/.build-stamp and
 * fail with EACCES), and in a checkout it builds first. SIGTERM to npm alone — what a process
 * manager or `kill <pid>` does — must shut the app down gracefully; a build that fails ends in one
 * line that says "above" only when something is.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { spawnedAppEnv } from '../helpers/demo.js';
import { waitUntil } from '../helpers/wait-until.js';

const ROOT = join(import.meta.dirname, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'lc-npm-start-'));
const dir = join(scratch, 'project');
let npm: ChildProcess | null = null;
afterEach(() => {
  // npm runs in a process group of its own: whatever it left behind goes with it.
  if (npm?.pid !== undefined) {
    try {
      process.kill(-npm.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  npm = null;
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface ProjectOptions {
  /** The body of scripts/build.mjs's `build()`; no scripts/ at all when undefined (the image, a release directory). */
  build?: string;
  /** Whether dist/ holds the compiled CLI. @default true */
  dist?: boolean;
  /** Whether a source is newer than dist/.build-stamp (so a checkout builds). @default true */
  sourcesNewer?: boolean;
}

/** The scratch project. */
function project({ build, dist: withDist = true, sourcesNewer = true }: ProjectOptions): void {
  rmSync(dir, { recursive: true, force: true });
  for (const sub of ['bin', 'src', 'dist/src/cli']) mkdirSync(join(dir, sub), { recursive: true });
  const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'scratch', type: 'module', scripts: { start: scripts.start } }));
  copyFileSync(join(ROOT, 'bin/livecomponents.js'), join(dir, 'bin/livecomponents.js'));
  if (build !== undefined) {
    mkdirSync(join(dir, 'scripts'));
    writeFileSync(join(dir, 'scripts/build.mjs'), `export async function build(options = {}) {\n${build}\n}\n`);
  }
  if (withDist) {
    writeFileSync(
      join(dir, 'dist/src/cli/index.js'),
      `import { register } from 'tsx/esm/api';\nregister();\nexport const { main } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'src/cli/index.ts')).href)});\n`,
    );
  }
  // A source, and the stamp of the last good build before or after it.
  const stamp = join(dir, 'dist/.build-stamp');
  writeFileSync(join(dir, 'src/app.ts'), '');
  writeFileSync(stamp, '');
  const [source, built] = sourcesNewer ? [2_000, 1_000] : [1_000, 2_000];
  utimesSync(join(dir, 'src/app.ts'), source, source);
  utimesSync(stamp, built, built);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
}

/** A build stub that fails as scripts/build.mjs does in a read-only checkout (its first step removes the stamp). */
const READ_ONLY_BUILD = `throw Object.assign(new Error(${JSON.stringify(`EACCES: permission denied, unlink '${dir}/dist/.build-stamp'`)}), { code: 'EACCES' });`;

function npmStart() {
  const dataDir = mkdtempSync(join(scratch, 'data-'));
  const proc = spawn('npm', ['start', '--silent'], {
    cwd: dir,
    detached: true,
    env: spawnedAppEnv(dataDir),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  npm = proc;
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // 'exit', not 'close': a process left behind would hold the pipes open.
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, stdout: () => stdout, stderr: () => stderr, exited };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/**
 * Waits for the app's "listening" line, as it is written (no clock: a loaded machine only makes it
 * late, and the test's timeout is the limit); its pid and port. npm exiting first fails at once.
 */
function listening(run: ReturnType<typeof npmStart>): Promise<{ appPid: number; port: number }> {
  return new Promise((resolve, reject) => {
    const onData = (): void => {
      const found = /"pid":(\d+)[^\n]*listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(run.stdout());
      if (found === null) return;
      run.proc.stdout.off('data', onData);
      resolve({ appPid: Number(found[1]), port: Number(found[2]) });
    };
    run.proc.stdout.on('data', onData);
    void run.exited.then((code) => reject(new Error(`npm start exited (${code}) before the app listened; output:\n${run.stdout()}${run.stderr()}`)));
  });
}

/** SIGTERM to npm alone: the app shuts down gracefully, npm exits 0 and the port is free. */
async function stopsGracefully(run: ReturnType<typeof npmStart>, { appPid, port }: { appPid: number; port: number }): Promise<void> {
  const log = (): string => run.stdout() + run.stderr();
  expect(await portOpen(port)).toBe(true);
  process.kill(run.proc.pid!, 'SIGTERM');
  expect(await run.exited).toBe(0);
  // With `sh -c` between npm and node (no exec), npm's signal killed only the shell: the app ran on, orphaned.
  // Polled (the app is npm's grandchild: no 'exit' event reaches us).
  await waitUntil(`the app (pid ${appPid}) to be gone`, () => !alive(appPid), { seen: log });
  expect(await portOpen(port)).toBe(false);
  expect(run.stdout()).toMatch(/"msg":"shutdown: complete"/);
}

describe('npm start', () => {
  it('serves where the image and a release directory run it (no scripts/), and SIGTERM to npm alone shuts the app down gracefully', { timeout: 90_000 }, async () => {
    // Before: "Cannot find module '…/scripts/start.mjs'" (package.json's start script ships, scripts/ does not).
    project({});
    const run = npmStart();
    await stopsGracefully(run, await listening(run));
    expect(run.stderr()).toBe('');
  });

  it('a read-only checkout whose dist/ is up to date serves without building (was: EACCES on dist/.build-stamp)', { timeout: 90_000 }, async () => {
    project({ build: READ_ONLY_BUILD, sourcesNewer: false });
    const run = npmStart();
    await stopsGracefully(run, await listening(run));
    expect(run.stderr()).toBe('');
  });

  it('a read-only checkout with newer sources says it cannot build, nothing about errors above, and serves the dist/ there', { timeout: 90_000 }, async () => {
    project({ build: READ_ONLY_BUILD });
    const run = npmStart();
    await stopsGracefully(run, await listening(run));
    expect(run.stderr()).toBe(
      'livecomponents: building dist/ from the sources (npm run build)...\n' +
        `livecomponents: cannot build dist/ (EACCES: permission denied, unlink '${dir}/dist/.build-stamp'): this user may not write the checkout; build it as one who may (\`npm run build\`)\n` +
        'livecomponents: running the dist/ that exists, which may be out of date\n',
    );
  });

  it('a checkout builds first when a source is newer, then serves', { timeout: 90_000 }, async () => {
    const marker = join(scratch, 'built');
    rmSync(marker, { force: true });
    project({ build: `(await import('node:fs')).writeFileSync(${JSON.stringify(marker)}, JSON.stringify(options));` });
    const run = npmStart();
    await stopsGracefully(run, await listening(run));
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toMatchObject({ quiet: true, diagnosticsToStderr: true, signal: {} });
  });

  it('SIGTERM during the build stops it, tsc included, and exits 143', { timeout: 60_000 }, async () => {
    // A stand-in for tsc: a process that runs until stopped, started with the build's signal as
    // scripts/build.mjs starts tsc; its pid is written so the test can look for it afterwards.
    const pidFile = join(scratch, 'tsc.pid');
    rmSync(pidFile, { force: true });
    project({
      build: `const { spawn } = await import('node:child_process');
const { writeFileSync } = await import('node:fs');
await new Promise((resolve, reject) => {
  const tsc = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { signal: options.signal, stdio: 'ignore' });
  writeFileSync(${JSON.stringify(pidFile)}, String(tsc.pid));
  tsc.once('error', reject);
  tsc.once('exit', (code) => (code === 0 ? resolve() : reject(new Error('tsc stopped'))));
});`,
    });
    const run = npmStart();
    const log = (): string => run.stdout() + run.stderr();
    const tscPid = await waitUntil('the build to write its pid file', () => existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8')), { seen: log });
    process.kill(run.proc.pid!, 'SIGTERM');
    // npm passes on the code of the script it ran: 128 + 15.
    expect(await run.exited).toBe(143);
    // Before: the signal ended start.mjs only, and tsc ran on (and wrote dist/) with no parent.
    await waitUntil(`the build (pid ${tscPid}) to stop`, () => !alive(tscPid), { seen: log });
    expect(run.stderr()).toBe('livecomponents: building dist/ from the sources (npm run build)...\n');
  });

  it('a failed compile with no dist/ to run ends in one line pointing at the errors above, and exit 1', { timeout: 60_000 }, async () => {
    project({
      build: "process.stderr.write('src/app.ts(1,1): error TS1005\\n'); throw Object.assign(new Error('Command failed: node tsc -p tsconfig.build.json --noEmitOnError (exit code 2)'), { name: 'BuildCommandError' });",
      dist: false,
    });
    const run = npmStart();
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toBe(
      'livecomponents: building dist/ from the sources (npm run build)...\n' +
        'src/app.ts(1,1): error TS1005\n' +
        'livecomponents: the build failed (Command failed: node tsc -p tsconfig.build.json --noEmitOnError (exit code 2)); its errors are above\n',
    );
    expect(run.stdout()).toBe('');
  });
});
