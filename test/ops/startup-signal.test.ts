/**
 * SIGTERM while the reference app starts (examples/demo/main.ts, run from dist/ as the image runs
 * it): the process exits at once with 143, as PID 1 too. A process that is PID 1 of its PID
 * namespace — `CMD ["node", …]` without an init, in Docker or Kubernetes — is not ended by a
 * signal it has no handler for, and the only handler came with graceful shutdown, after start-up:
 * a pod scaled down while it started sat out its grace period and died by SIGKILL.
 *
 * Start-up is held where it is slowest in production, connecting to the database: DATABASE_URL
 * points at a socket that accepts and never answers (a PostgreSQL that hangs).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../deploy/nginx-harness.js';
import { ROOT } from '../deploy/tools.js';
import { spawnedAppEnv } from '../helpers/demo.js';
import { waitUntil } from '../helpers/wait-until.js';

const ENTRY = join(ROOT, 'dist/examples/demo/main.js');
const dataDir = mkdtempSync(join(tmpdir(), 'lc-startup-signal-'));

/** A PID namespace needs root (CAP_SYS_ADMIN) and util-linux's unshare. */
const pidNamespace = spawnSync('unshare', ['--pid', '--fork', 'true'], { stdio: 'ignore' }).status === 0;

let silent: Server;
let port = 0;
const connected: Socket[] = [];
beforeAll(async () => {
  ensureBuilt();
  silent = createServer((socket) => {
    connected.push(socket);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  port = (silent.address() as AddressInfo).port;
}, 120_000);
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});
afterAll(async () => {
  for (const socket of connected) socket.destroy();
  if (silent !== undefined) await new Promise((resolve) => silent.close(resolve));
  rmSync(dataDir, { recursive: true, force: true });
});

interface Started {
  /** The process the signal goes to: node itself (in the namespace: its host-side pid). */
  nodePid: number;
  output(): string;
  /** Settles with node's exit code, or with `signal:NAME` when a signal ended it. */
  exited: Promise<string>;
}

/** Starts the app from dist/ (as PID 1 of a new PID namespace when `asPid1`), its database the silent socket. */
async function startApp(asPid1: boolean): Promise<Started> {
  const env = spawnedAppEnv(dataDir, { DATABASE_URL: `postgres://lc:lc@127.0.0.1:${port}/lc` });
  // --kill-child: the namespace goes with unshare when the test kills it.
  const child = asPid1 ? spawn('unshare', ['--pid', '--fork', '--kill-child', process.execPath, ENTRY], { env }) : spawn(process.execPath, [ENTRY], { env });
  children.push(child);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  // unshare --fork exits with its child's status, and a signal's death as 128 + its number: the
  // exit code seen here is node's either way.
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(code === null ? `signal:${signal}` : String(code))));
  const nodePid = asPid1 ? await forkedChild(child.pid!) : child.pid!;
  return { nodePid, output: () => output, exited };
}

/** The pid (host side) of the process unshare forked: polled, as /proc is the only one to tell. */
function forkedChild(pid: number): Promise<number> {
  return waitUntil(`unshare (pid ${pid}) to fork node`, () => {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return children !== '' && Number(children.split(' ')[0]);
  });
}

/**
 * The app starting, once it has connected to the silent database: start-up is under way, well
 * before it listens. The connection is awaited as the server's event (armed before the spawn); an
 * app that exits first fails at once, with its output.
 */
async function startedAndConnected(asPid1: boolean): Promise<Started> {
  const connection = once(silent, 'connection');
  const app = await startApp(asPid1);
  const exitedFirst = app.exited.then((code) => {
    throw new Error(`the app exited (${code}) before it connected to the database; output:\n${app.output()}`);
  });
  await Promise.race([connection, exitedFirst]);
  exitedFirst.catch(() => {}); // settles later, when the test ends the app
  return app;
}

describe('SIGTERM during start-up', () => {
  it.skipIf(!pidNamespace)('ends node as PID 1 at once, with 143 (was: ignored, start-up went on)', { timeout: 60_000 }, async () => {
    const app = await startedAndConnected(true);
    process.kill(app.nodePid, 'SIGTERM');
    // Not timed (shared, noisy machines): start-up ignoring the signal goes on until its database
    // deadline and exits 1 (seen: after ~6 s); killed by the signal, it settles as signal:SIGTERM.
    expect(await app.exited).toBe('143');
    expect(app.output()).not.toMatch(/listening at/);
    expect(app.output()).toMatch(/"msg":"shutdown: SIGTERM during start-up, exiting at once"/);
  });

  it('ends node as an ordinary process with 143 too (was: killed by the signal)', { timeout: 60_000 }, async () => {
    const app = await startedAndConnected(false);
    process.kill(app.nodePid, 'SIGTERM');
    expect(await app.exited).toBe('143');
    expect(app.output()).not.toMatch(/listening at/);
  });
});

if (!pidNamespace) {
  // Loud on purpose: the PID 1 case is the defect this file is about.
  console.warn('startup-signal.test.ts: SKIPPED the PID 1 case: `unshare --pid --fork` is not available here (needs root and util-linux)');
}
