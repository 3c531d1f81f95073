/**
 * The reference app killed with SIGKILL (no shutdown, nothing flushed by the app) and started again
 * on the same store — the embedded SQLite file, or a Redis with `appendfsync always` that is killed
 * too and restarted from its AOF: an action answered before the kill replays after it with the
 * same session and CSRF token and never runs a second time, and a key whose process died in the
 * middle of its action (its claim stored, its result not) answers 409 `IDEMPOTENCY_KEY_IN_USE`
 * until the claim expires, then runs once. docs/scaling.md, "Crashes".
 *
 * The mid-action crash is made deterministic by writing, through the store's own API, the pending
 * claim a request leaves in its first round trip, and by making it expire at once after the 409
 * instead of waiting out its 30 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { requestFingerprint } from '../../src/pipeline/idempotency/fingerprint.js';
import { pendingRecordText } from '../../src/pipeline/idempotency/record.js';
import { sessionKeyOf } from '../../src/session/index.js';
import { storeKeys } from '../../src/store/keys.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { freePort } from '../helpers/ports.js';
import { REDIS_AVAILABLE, sleep, startRedis, type RedisServer } from '../redis/server.js';

const root = join(import.meta.dirname, '..', '..');
const keys = { LC_STATE_KEYS: randomBytes(32).toString('base64'), LC_SESSION_SECRET: randomBytes(32).toString('base64') };
const folders: string[] = [];
const children = new Set<ChildProcess>();

afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});
afterAll(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

interface App {
  url: string;
  kill(): Promise<void>;
}

async function startApp(env: Record<string, string>, port: number): Promise<App> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'examples/demo/main.ts')], {
    cwd: root,
    env: { ...process.env, ...keys, ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', NODE_ENV: 'development' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the app exited with ${child.exitCode}: ${stderr}`);
    if (i > 600) throw new Error(`the app did not start: ${stderr}`);
    if (await fetch(`${url}/health/ready`).then((r) => r.ok, () => false)) break;
    await sleep(100);
  }
  return {
    url,
    async kill() {
      child.kill('SIGKILL');
      await exited;
      children.delete(child);
    },
  };
}

interface Client {
  cookie: string;
  token: string;
  sessionKey: string;
}

async function openPage(url: string): Promise<Client> {
  const page = await fetch(`${url}/payment`);
  const cookies = page.headers.getSetCookie().map((c) => c.split(';')[0] as string);
  const token = /<meta name="csrf-token" content="([^"]+)"/.exec(await page.text())?.[1];
  const session = cookies.find((c) => c.startsWith('lc_session='));
  if (token === undefined || session === undefined) throw new Error('no session or CSRF token');
  return { cookie: cookies.join('; '), token, sessionKey: sessionKeyOf(decodeURIComponent(session.slice('lc_session='.length))) };
}

/** The parts of an action's answer the test reads (PROTOCOL §3). */
interface Answer {
  code?: string;
  state?: { balance: number };
  idempotency?: { key: string; cached: boolean; created_at: string };
}

async function pay(url: string, client: Client, key: string, amount: number): Promise<{ status: number; body: Answer; replayed: string | null }> {
  const res = await fetch(`${url}/api/livecomponents/action`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token, 'idempotency-key': key },
    body: JSON.stringify({ component_id: 'payment:main', action: 'processPayment', params: { amount } }),
  });
  return { status: res.status, body: (await res.json()) as Answer, replayed: res.headers.get('idempotent-replayed') };
}

async function paymentsMade(url: string, client: Client): Promise<{ balance: number; made: number }> {
  const html = await (await fetch(`${url}/payment`, { headers: { cookie: client.cookie } })).text();
  return { balance: Number(/data-balance>(\d+)</.exec(html)?.[1]), made: Number(/Payments made: (\d+)/.exec(html)?.[1]) };
}

interface Backend {
  name: string;
  skip: boolean;
  /** The app's environment, a way to open the same store from the test, and what to do on the crash. */
  open(): Promise<{ env: Record<string, string>; store(): Promise<Store>; crash(): Promise<void>; stop(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'the embedded SQLite file',
    skip: false,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'lc-crash-'));
      folders.push(dir);
      const url = `sqlite:${join(dir, 'app.db')}`;
      return {
        env: { DATABASE_URL: url },
        store: () => createSqliteStore({ url, sweepIntervalMs: 0 }),
        crash: async () => {},
        stop: async () => {},
      };
    },
  },
  {
    name: 'Redis with appendfsync always, killed too and restarted from its AOF',
    skip: !REDIS_AVAILABLE,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'lc-crash-'));
      folders.push(dir);
      const redis: RedisServer = await startRedis(undefined, ['--appendonly', 'yes', '--appendfsync', 'always']);
      return {
        env: { DATABASE_URL: `sqlite:${join(dir, 'app.db')}`, REDIS_URL: redis.url },
        store: async () => createRedisStore({ url: redis.url }),
        crash: () => redis.restart(),
        stop: () => redis.stop(),
      };
    },
  },
];

describe.each(backends)('SIGKILL and restart on $name', (backend) => {
  it.skipIf(backend.skip)('replays an action answered before the kill, and runs a key a dead process left claimed once, after its claim expired', async () => {
    const target = await backend.open();
    try {
      const port = await freePort();
      let app = await startApp(target.env, port);
      const client = await openPage(app.url);
      const first = await pay(app.url, client, 'pay-1', 7);
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ state: { balance: 993 }, idempotency: { cached: false } });

      // The answer came after the COMMIT (or the AOF's fsync): nothing the app or Redis kept in memory counts.
      await app.kill();
      await target.crash();
      app = await startApp(target.env, port);

      // Same session, same CSRF token: the replay, not a second payment.
      const replay = await pay(app.url, client, 'pay-1', 7);
      expect(replay.status).toBe(200);
      expect(replay.replayed).toBe('true');
      expect(replay.body).toMatchObject({ state: { balance: 993 }, idempotency: { key: 'pay-1', cached: true } });
      expect(replay.body.idempotency?.created_at).toBe(first.body.idempotency?.created_at);

      // What a process killed mid-action leaves: its claim (the default lock, 30 s), no result.
      const store = await target.store();
      try {
        const storeKey = storeKeys.idempotency(`s:${client.sessionKey}`, 'pay-2');
        const pending = pendingRecordText(requestFingerprint('payment:main', 'processPayment', { amount: 5 }), 'dead-process', Date.now() + 30_000);
        expect(await store.claim(storeKey, pending, 30_000)).toBeNull();
        const inUse = await pay(app.url, client, 'pay-2', 5);
        expect(inUse.status).toBe(409);
        expect(inUse.body.code).toBe('IDEMPOTENCY_KEY_IN_USE');
        // The lock expiring, made to happen now rather than waited out (polled in the store: every
        // action counts against the payment's limit of 5).
        await store.set(storeKey, pending, 1);
        while ((await store.get(storeKey)) !== null) await sleep(10);
      } finally {
        await store.close();
      }
      const second = await pay(app.url, client, 'pay-2', 5);
      expect(second.status).toBe(200);
      expect(second.body).toMatchObject({ state: { balance: 988 }, idempotency: { cached: false } });
      expect((await pay(app.url, client, 'pay-2', 5)).body).toMatchObject({ state: { balance: 988 }, idempotency: { cached: true } });
      expect(await paymentsMade(app.url, client)).toEqual({ balance: 988, made: 2 });
      await app.kill();
    } finally {
      await target.stop();
    }
  }, 120_000);
});
