/**
 * Starts reference-app processes (`examples/demo/main.ts` through tsx) on free loopback ports, all
 * sharing one Redis and one set of keys, as several machines behind a balancer would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../redis/server.js';
import { waitUntil } from '../helpers/wait-until.js';

export interface Instance {
  readonly url: string;
  readonly process: ChildProcess;
}

const root = join(import.meta.dirname, '..', '..');

export async function startInstances(count: number, env: Record<string, string>): Promise<{ instances: Instance[]; stop(): Promise<void> }> {
  const shared = {
    LC_STATE_KEYS: randomBytes(32).toString('base64'),
    LC_SESSION_SECRET: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'warn',
    ...env,
  };
  const instances: Instance[] = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), `lc-instance-${i}-`));
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'examples/demo/main.ts')], {
      cwd: root,
      // A file of its own unless `env` names one (a test that restarts an instance on its file).
      env: { ...process.env, DATABASE_URL: `sqlite:${join(dir, 'app.db')}`, ...shared, PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    instances.push({ url: `http://127.0.0.1:${port}`, process: child });
    await waitReady(`http://127.0.0.1:${port}`, child, () => stderr);
  }
  return {
    instances,
    async stop() {
      await Promise.all(
        instances.map(
          (i) =>
            new Promise<void>((resolve) => {
              // Ended already (a test's SIGKILL leaves exitCode null and signalCode set): no 'exit' to wait for.
              if (i.process.exitCode !== null || i.process.signalCode !== null) return resolve();
              i.process.once('exit', () => resolve());
              i.process.kill('SIGTERM');
              setTimeout(() => i.process.kill('SIGKILL'), 5_000).unref();
            }),
        ),
      );
    },
  };
}

/** Polled until the hook's timeout (a loaded machine only makes it late); an instance that exits fails at once. */
async function waitReady(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  let last = '';
  await waitUntil(
    `the instance at ${url} to answer /health/ready with 2xx`,
    async () => {
      if (child.exitCode !== null) throw new Error(`instance exited with ${child.exitCode}: ${stderr()}`);
      // Ready, not just live: its Redis (a Cluster client may still be taking the slot table) answers, as a balancer would wait for.
      const answer = await fetch(`${url}/health/ready`).catch((error: Error) => error);
      last = answer instanceof Error ? `not listening yet (${answer.message})` : `status ${answer.status}`;
      return !(answer instanceof Error) && answer.ok;
    },
    { seen: () => `${last}; stderr: ${stderr()}` },
  );
}

/** A browser-like client: one session cookie and the latest CSRF token, usable against any instance. */
export interface WebClient {
  cookie: string;
  token: string;
  action(base: string, componentId: string, action: string, params?: object, headers?: Record<string, string>): Promise<Response>;
}

export async function openWebClient(base: string, path = '/'): Promise<WebClient> {
  const page = await fetch(`${base}${path}`);
  const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const token = /<meta name="csrf-token" content="([^"]+)"/.exec(await page.text())?.[1];
  if (!token) throw new Error('no csrf token');
  const client: WebClient = {
    cookie,
    token,
    async action(url, componentId, action, params = {}, headers = {}) {
      return fetch(`${url}/api/livecomponents/action`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token, ...headers },
        body: JSON.stringify({ component_id: componentId, action, params }),
      });
    },
  };
  return client;
}
