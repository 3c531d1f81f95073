/**
 * `npm start` as npm runs it: the real `start` script of package.json (npm hands it to `sh -c`),
 * the real scripts/start.mjs, in a scratch project whose build is stubbed out and whose
 * dist/examples/demo/main.js runs the real reference app from the sources (tsx). SIGTERM to npm
 * alone — what a process manager or `kill <pid>` does — must shut the app down gracefully; a build
 * that fails must end in one line, not a stack trace.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { spawnedAppEnv } from '../helpers/demo.js';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'lc-npm-start-'));
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
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The scratch project; `build` is the body of scripts/build.mjs's `build()`. */
function project(build: string): void {
  for (const sub of ['scripts', 'dist/examples/demo']) mkdirSync(join(dir, sub), { recursive: true });
  const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'scratch', type: 'module', scripts: { start: scripts.start } }));
  copyFileSync(join(ROOT, 'scripts/start.mjs'), join(dir, 'scripts/start.mjs'));
  writeFileSync(join(dir, 'scripts/build.mjs'), `export async function build(options = {}) {\n${build}\n}\n`);
  writeFileSync(
    join(dir, 'dist/examples/demo/main.js'),
    `import { register } from 'tsx/esm/api';\nregister();\nawait import(${JSON.stringify(pathToFileURL(join(ROOT, 'examples/demo/main.ts')).href)});\n`,
  );
  rmSync(join(dir, 'node_modules'), { force: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
}

function npmStart() {
  const dataDir = mkdtempSync(join(dir, 'data-'));
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

async function until<T>(what: string, probe: () => T | undefined | false, ms: number, log: () => string): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
  }
  throw new Error(`${what} within ${ms} ms; output:\n${log()}`);
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

describe('npm start', () => {
  it('SIGTERM to npm alone shuts the app down gracefully and frees its port', { timeout: 90_000 }, async () => {
    project('');
    const run = npmStart();
    const log = (): string => run.stdout() + run.stderr();
    const listening = await until('the app listening', () => /"pid":(\d+)[^\n]*listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(run.stdout()) ?? undefined, 60_000, log);
    const [appPid, port] = [Number(listening[1]), Number(listening[2])];
    expect(await portOpen(port)).toBe(true);

    process.kill(run.proc.pid!, 'SIGTERM');
    expect(await run.exited).toBe(0);
    // With `sh -c` between npm and node (no exec), npm's signal killed only the shell: the app ran on, orphaned.
    await until('the app gone', () => !alive(appPid), 10_000, log);
    expect(await portOpen(port)).toBe(false);
    expect(run.stdout()).toMatch(/"msg":"shutdown: complete"/);
  });

  it('SIGTERM during the build stops it, tsc included, and exits 143', { timeout: 60_000 }, async () => {
    // A stand-in for tsc: a process that runs until stopped, started with the build's signal as
    // scripts/build.mjs starts tsc; its pid is written so the test can look for it afterwards.
    const pidFile = join(dir, 'tsc.pid');
    rmSync(pidFile, { force: true });
    project(`const { spawn } = await import('node:child_process');
const { writeFileSync } = await import('node:fs');
await new Promise((resolve, reject) => {
  const tsc = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { signal: options.signal, stdio: 'ignore' });
  writeFileSync(${JSON.stringify(pidFile)}, String(tsc.pid));
  tsc.once('error', reject);
  tsc.once('exit', (code) => (code === 0 ? resolve() : reject(new Error('tsc stopped'))));
});`);
    const run = npmStart();
    const log = (): string => run.stdout() + run.stderr();
    const tscPid = await until('the build running', () => existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8')), 30_000, log);
    process.kill(run.proc.pid!, 'SIGTERM');
    // npm passes on the code of the script it ran: 128 + 15.
    expect(await run.exited).toBe(143);
    // Before: the signal ended start.mjs only, and tsc ran on (and wrote dist/) with no parent.
    await until('the build stopped', () => !alive(tscPid), 10_000, log);
    expect(run.stderr()).toBe('');
  });

  it('a failed build ends in one line and exit 1, not a stack trace', { timeout: 60_000 }, async () => {
    project("throw new Error('Command failed: node tsc -p tsconfig.build.json --noEmitOnError');");
    const run = npmStart();
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toBe('npm start: the build failed (Command failed: node tsc -p tsconfig.build.json --noEmitOnError); see the errors above\n');
    expect(run.stdout()).toBe('');
  });
});
