/**
 * The new-session limit on each store (memory, SQLite, Redis), counted where the sessions live: rows
 * of the SQLite file, keys of a test-owned redis-server, live keys of the memory store. A client past
 * its budget gets 429 with `Retry-After` and nothing is stored for it; a request with a valid cookie
 * is never limited and costs no extra round trip; client identity follows `TRUST_PROXY`; allowlisted
 * CIDRs are not counted; concurrent floods admit exactly the budget. Plus `NEW_SESSION_LIMIT` on the
 * reference app's own process (examples/demo/main.ts).
 *
 * Windows are an hour long, so no budget refills while a test runs (Redis steps on its own clock).
 */
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import type { Store, StoreOp } from '../../src/store/types.js';
import type { LiveComponentsOptions } from '../../src/runtime/setup.js';
import { demoApp } from '../helpers/demo.js';
import { REDIS_AVAILABLE, useRedisServer } from '../redis/server.js';
import { startInstances } from '../scale/instances.js';

type Demo = Awaited<ReturnType<typeof demoApp>>;
type Page = Awaited<ReturnType<Demo['app']['inject']>>;

const HOUR = 3600;

/** One store under test: how to start the reference app on it, and how many session and state keys it holds. */
interface Engine {
  readonly name: string;
  open(env: Record<string, string>, framework: Partial<LiveComponentsOptions>): Promise<{ demo: Demo; sessions(): Promise<number>; states(): Promise<number> }>;
}

/** Keys the memory store was asked to write, to count those still there (it has no listing of its own). */
function keyRecording(inner: Store): { store: Store; live(pattern: RegExp): Promise<number> } {
  const written = new Set<string>();
  const note = (key: string) => void written.add(key);
  const store: Store = {
    ...inner,
    get: (key) => inner.get(key),
    getMany: (keys) => inner.getMany(keys),
    set: (key, value, ttlMs) => (note(key), inner.set(key, value, ttlMs)),
    claim: (key, value, ttlMs) => (note(key), inner.claim(key, value, ttlMs)),
    touch: (key, ttlMs) => inner.touch(key, ttlMs),
    deleteIfEquals: (key, expected) => inner.deleteIfEquals(key, expected),
    delete: (key) => inner.delete(key),
    rateLimit: (key, policy, nowMs) => inner.rateLimit(key, policy, nowMs),
    batch: (ops: readonly StoreOp[]) => {
      for (const op of ops) if (op.op === 'set' || op.op === 'claim' || op.op === 'setIfAllowed') note(op.key);
      return inner.batch(ops);
    },
    health: () => inner.health(),
    close: () => inner.close(),
  };
  return {
    store,
    async live(pattern) {
      const keys = [...written].filter((k) => pattern.test(k));
      return (await inner.getMany(keys)).filter((v) => v !== null).length;
    },
  };
}

const SESSION_KEY = /^lc:\{s:[^}]+\}:session$/;
const STATE_KEY = /^lc:\{s:[^}]+\}:state:/;

/** The test-owned redis-server of the Redis suite (set while it is declared, started before its tests). */
let redis: ReturnType<typeof useRedisServer> | undefined;
let prefixes = 0;

const engines: Engine[] = [
  {
    name: 'memory',
    async open(env, framework) {
      const recorded = keyRecording(createMemoryStore({ sweepIntervalMs: 0 }));
      const demo = await demoApp(env, { store: recorded.store, ...framework });
      return { demo, sessions: () => recorded.live(SESSION_KEY), states: () => recorded.live(STATE_KEY) };
    },
  },
  {
    name: 'sqlite',
    async open(env, framework) {
      const demo = await demoApp(env, framework);
      const file = demo.config.DATABASE_URL.slice('sqlite:'.length);
      const count = (glob: string) => {
        const db = new Database(file, { readonly: true, fileMustExist: true });
        try {
          return Promise.resolve(db.prepare('SELECT count(*) FROM lc_kv WHERE key GLOB ? AND expires_at > ?').pluck().get(glob, Date.now()) as number);
        } finally {
          db.close();
        }
      };
      return { demo, sessions: () => count('lc:{s:*}:session'), states: () => count('lc:{s:*}:state:*') };
    },
  },
  {
    name: 'redis',
    async open(env, framework) {
      if (redis === undefined) throw new Error('redis-server is not started');
      const prefix = `test-nsl-${++prefixes}:`;
      // The app's own Redis store (closed with the app), with a command timeout a loaded test machine does not run into.
      const store = createRedisStore({ url: redis.server.url, keyPrefix: prefix, commandTimeoutMs: 10_000 });
      const demo = await demoApp(env, { store, ...framework });
      const client = redis.admin;
      const count = async (pattern: string) => (await client.keys(`${prefix}${pattern}`)).length;
      return { demo, sessions: () => count('lc:{s:*}:session'), states: () => count('lc:{s:*}:state:*') };
    },
  },
];

let current: Demo | undefined;
afterEach(async () => {
  await current?.app.close();
  current = undefined;
});

const get = (d: Demo, remoteAddress: string, headers: Record<string, string> = {}) => d.app.inject({ method: 'GET', url: '/', remoteAddress, headers });
const cookieOf = (page: Page) => (page.headers['set-cookie'] === undefined ? undefined : String(page.headers['set-cookie']).split(';')[0]);
const refusals = (d: Demo) => d.events.events.filter((e) => e.event === 'excess_rate_limit_exceeded').length;

/** A 429 of the limit: Retry-After (whole seconds, the body's retry_after), no cookie, no page. */
function expectRefused(page: Page, limit: number): void {
  expect(page.statusCode).toBe(429);
  expect(page.headers['set-cookie']).toBeUndefined();
  const retryAfter = Number(page.headers['retry-after']);
  expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= HOUR).toBe(true);
  expect(page.json()).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED', retry_after: retryAfter, limit, window: HOUR });
  expect(page.body).not.toContain('data-lc-id');
}

/** The store calls (each one round trip) made by `work`. */
async function roundTrips(store: Store, work: () => Promise<unknown>): Promise<string[]> {
  const calls: string[] = [];
  const methods = ['get', 'getMany', 'set', 'claim', 'touch', 'deleteIfEquals', 'delete', 'rateLimit', 'batch'] as const;
  const originals = methods.map((m) => [m, store[m]] as const);
  for (const [m, original] of originals) {
    (store as unknown as Record<string, unknown>)[m] = (...args: unknown[]) => {
      calls.push(m === 'batch' ? `batch(${(args[0] as StoreOp[]).map((op) => op.op).join(',')})` : m);
      return (original as (...a: unknown[]) => unknown).apply(store, args);
    };
  }
  try {
    await work();
  } finally {
    for (const [m, original] of originals) (store as unknown as Record<string, unknown>)[m] = original;
  }
  return calls;
}

for (const engine of engines) {
  describe.skipIf(engine.name === 'redis' && !REDIS_AVAILABLE)(`new sessions per client on ${engine.name}`, () => {
    if (engine.name === 'redis') redis = useRedisServer();

    const open = async (limit: number, env: Record<string, string> = {}, framework: Partial<LiveComponentsOptions> = {}) => {
      const opened = await engine.open(env, { newSessionLimit: { limit, windowSeconds: HOUR }, ...framework });
      current = opened.demo;
      return opened;
    };

    it('N + 20 cookie-less GETs from one address: exactly N sessions stored (with their state), 20 × 429 with Retry-After, one event each', async () => {
      const N = 10;
      const { demo, sessions, states } = await open(N);
      const pages: Page[] = [];
      for (let i = 0; i < N + 20; i++) pages.push(await get(demo, '198.51.100.7'));
      expect(pages.slice(0, N).map((p) => [p.statusCode, cookieOf(p) !== undefined])).toEqual(Array.from({ length: N }, () => [200, true]));
      for (const page of pages.slice(N)) expectRefused(page, N);
      expect(await sessions()).toBe(N);
      expect(await states()).toBe(N);
      expect(refusals(demo)).toBe(20);
    });

    it('a valid cookie is never limited and costs no extra round trip; another address has its own budget', async () => {
      const N = 5;
      const { demo, sessions } = await open(N);
      const first = await get(demo, '198.51.100.8');
      const cookie = cookieOf(first)!;
      for (let i = 1; i < N; i++) expect((await get(demo, '198.51.100.8')).statusCode).toBe(200);
      expectRefused(await get(demo, '198.51.100.8'), N);
      const { store } = demo.app.livecomponents.runtime;
      // The session's read and renewal, then its component's mount: no rate-limit step.
      const trips = await roundTrips(store, async () => {
        for (let i = 0; i < 30; i++) {
          const page = await get(demo, '198.51.100.8', { cookie });
          expect([page.statusCode, page.headers['set-cookie']]).toEqual([200, undefined]);
        }
      });
      expect(trips).toEqual(Array.from({ length: 30 }, () => ['batch(get,touch)', 'batch(claim,touch)']).flat());
      // A cookie-less view: its step with the session's write (guarded by it), then the mount: as many round trips as with a cookie.
      expect(await roundTrips(store, () => get(demo, '198.51.100.9'))).toEqual(['batch(rateLimit,setIfAllowed)', 'batch(claim,touch)']);
      for (let i = 1; i < N; i++) expect((await get(demo, '198.51.100.9')).statusCode).toBe(200);
      expectRefused(await get(demo, '198.51.100.9'), N);
      expect(await sessions()).toBe(2 * N);
      expect(refusals(demo)).toBe(2);
    });

    it('TRUST_PROXY off: a spoofed X-Forwarded-For buys no fresh budget', async () => {
      const N = 5;
      const { demo, sessions } = await open(N);
      const pages: Page[] = [];
      for (let i = 0; i < N + 20; i++) pages.push(await get(demo, '198.51.100.10', { 'x-forwarded-for': `203.0.113.${i + 1}` }));
      expect(pages.filter((p) => p.statusCode === 200)).toHaveLength(N);
      for (const page of pages.slice(N)) expectRefused(page, N);
      expect(await sessions()).toBe(N);
    });

    it('TRUST_PROXY=1: counts the address the proxy appended, not what the client wrote before it', async () => {
      const N = 5;
      const { demo, sessions } = await open(N, { TRUST_PROXY: '1' });
      const viaProxy = (client: string, spoofed: string) => get(demo, '10.0.0.2', { 'x-forwarded-for': `${spoofed}, ${client}` });
      const pages: Page[] = [];
      for (let i = 0; i < N + 20; i++) pages.push(await viaProxy('198.51.100.11', `203.0.113.${i + 1}`));
      expect(pages.filter((p) => p.statusCode === 200)).toHaveLength(N);
      for (const page of pages.slice(N)) expectRefused(page, N);
      // Another client behind the same proxy has its own budget: the proxy's address is not the client.
      const other: Page[] = [];
      for (let i = 0; i < N + 1; i++) other.push(await viaProxy('198.51.100.12', '203.0.113.1'));
      expect(other.map((p) => p.statusCode)).toEqual([...Array.from({ length: N }, () => 200), 429]);
      expect(await sessions()).toBe(2 * N);
    });

    it('an allowlisted CIDR is not counted (no step at all); an address outside it still is', async () => {
      const N = 5;
      const { demo, sessions } = await open(N, {}, { rateLimit: { allowlist: ['198.51.100.0/28'] } });
      const { store } = demo.app.livecomponents.runtime;
      const trips = await roundTrips(store, async () => {
        for (let i = 0; i < N + 20; i++) expect((await get(demo, '198.51.100.13')).statusCode).toBe(200);
      });
      expect(trips.filter((t) => t.includes('rateLimit'))).toEqual([]);
      const outside: Page[] = [];
      for (let i = 0; i < N + 3; i++) outside.push(await get(demo, '198.51.100.200'));
      expect(outside.map((p) => p.statusCode)).toEqual([...Array.from({ length: N }, () => 200), 429, 429, 429]);
      expect(await sessions()).toBe(N + 20 + N);
    });

    it('200 concurrent cookie-less GETs against a limit of 60: exactly 60 sessions, 140 × 429', async () => {
      const { demo, sessions, states } = await open(60);
      const pages = await Promise.all(Array.from({ length: 200 }, () => get(demo, '198.51.100.14')));
      expect(pages.filter((p) => p.statusCode === 200 && cookieOf(p) !== undefined)).toHaveLength(60);
      const refused = pages.filter((p) => p.statusCode === 429);
      expect(refused).toHaveLength(140);
      for (const page of refused) expectRefused(page, 60);
      expect(await sessions()).toBe(60);
      expect(await states()).toBe(60);
      expect(refusals(demo)).toBe(140);
    });
  });
}

describe('NEW_SESSION_LIMIT on the reference app process (npm start)', () => {
  let stop: (() => Promise<void>) | undefined;
  afterAll(async () => stop?.());

  // Two processes started through tsx: slow on a loaded machine.
  it('NEW_SESSION_LIMIT=5: the sixth cookie-less page of a client is 429; 0 turns the limit off', { timeout: 180_000 }, async () => {
    // Loopback is exempt: the test's requests arrive as a client behind a proxy on loopback.
    const started = await startInstances(1, { TRUST_PROXY: 'loopback', NEW_SESSION_LIMIT: '5' });
    stop = started.stop;
    const visit = (url: string) => fetch(`${url}/`, { headers: { 'x-forwarded-for': '198.51.100.20' } });
    const [limited] = started.instances;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const page = await visit(limited!.url);
      statuses.push(page.status);
      if (page.status === 429) {
        expect(page.headers.get('set-cookie')).toBeNull();
        expect(Number(page.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(((await page.json()) as { code: string }).code).toBe('RATE_LIMIT_EXCEEDED');
      } else await page.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    await started.stop();
    const off = await startInstances(1, { TRUST_PROXY: 'loopback', NEW_SESSION_LIMIT: '0' });
    stop = off.stop;
    const unlimited: number[] = [];
    for (let i = 0; i < 310; i++) {
      const page = await visit(off.instances[0]!.url);
      unlimited.push(page.status);
      await page.arrayBuffer();
    }
    expect(unlimited.filter((s) => s === 200)).toHaveLength(310);
  });
});
