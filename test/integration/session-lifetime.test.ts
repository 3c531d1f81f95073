/**
 * How long a session lives, through the reference app with the auth module, on the memory, SQLite
 * and Redis stores.
 *
 * - A signed-out (or signed-in) session stays dead even when an action that started on it finishes
 *   after the sign-out: the action's renewal of the session is a `touch` (renews a live record,
 *   never makes one), not a rewrite of the record that would bring the old id — and every CSRF token
 *   derived from it — back to life (docs/auth.md).
 * - The idle lifetime is exactly SESSION_TTL past the last use, action or page view: every verified
 *   use renews the record (there was a time it was renewed only once per half-lifetime, so activity
 *   in the first half of a session's life did not extend it). Memory and SQLite only: the manual
 *   clock drives their expiry, while Redis expires keys on its own clock (the store contract covers
 *   `touch` there).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createDemoApp } from '../../examples/demo/app.js';
import { capturedMailTransport } from '../../src/auth/index.js';
import { manualClock } from '../../src/core/clock.js';
import { loadConfig } from '../../src/ops/config.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { sessionKeyOf } from '../../src/session/index.js';
import { storeKeys } from '../../src/store/keys.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store, StoreOp, StoreOpResult } from '../../src/store/types.js';
import { FAST_ARGON2, PASSWORD, T0, setCookies } from '../auth/harness.js';
import { REDIS_AVAILABLE, useRedisServer } from '../redis/server.js';

type Clock = ReturnType<typeof manualClock>;
const HOUR = 3_600_000;
const COOKIE = 'lc_session';

interface Browser {
  cookie: string;
  token: string;
}

/** A store whose writes can be held: `holdNext(match)` holds the next batch (or single write) with an op `match` accepts. */
function holdable(inner: Store) {
  let hold: { match: (op: StoreOp) => boolean; reached: () => void; gate: Promise<void> } | null = null;
  async function wait(ops: readonly StoreOp[]): Promise<void> {
    const h = hold;
    if (h === null || !ops.some(h.match)) return;
    hold = null;
    h.reached();
    await h.gate;
  }
  // Single writes too: the renewal was once a `set` of its own (on a page view).
  const store: Store = Object.assign(Object.create(inner) as Store, {
    batch: async (ops: readonly StoreOp[]): Promise<StoreOpResult[]> => (await wait(ops), inner.batch(ops)),
    set: async (key: string, value: string, ttlMs: number) => (await wait([{ op: 'set', key, value, ttlMs }]), inner.set(key, value, ttlMs)),
    touch: async (key: string, ttlMs: number) => (await wait([{ op: 'touch', key, ttlMs }]), inner.touch(key, ttlMs)),
  });
  return {
    store,
    /** Resolves once the batch is held; `release` lets it run. */
    holdNext(match: (op: StoreOp) => boolean): { held: Promise<void>; release: () => void } {
      let release!: () => void;
      let reached!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const held = new Promise<void>((r) => (reached = r));
      hold = { match, reached, gate };
      return { held, release };
    },
  };
}

async function startApp(store: Store, clock: Clock, env: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'lc-session-lifetime-'));
  const config = loadConfig({
    LC_STATE_KEYS: randomBytes(32).toString('base64'),
    LC_SESSION_SECRET: randomBytes(32).toString('base64'),
    DATABASE_URL: `sqlite:${join(dataDir, 'auth.db')}`,
    TOKEN_CLEANUP_INTERVAL: '0',
    ...env,
  });
  const app = await createDemoApp({
    config,
    framework: { events: memorySecurityEvents(), dataDir, clock, store },
    auth: { mail: capturedMailTransport(), password: FAST_ARGON2 },
  });
  await app.ready();
  return { app, origin: config.appOrigin };
}

/** The browser side: cookie jar of one session cookie, and the page's CSRF token. */
function driver(app: FastifyInstance, origin: string) {
  const cookieOf = (res: LightMyRequestResponse) => setCookies(res).find((c) => c.startsWith(`${COOKIE}=`))?.split(';')[0];
  const load = async (path: string, b?: Browser) => {
    const res = await app.inject({ method: 'GET', url: path, headers: b ? { cookie: b.cookie } : {} });
    expect(res.statusCode).toBe(200);
    return {
      res,
      /** The cookie this answer set, if any. */
      newCookie: cookieOf(res),
      browser: { cookie: cookieOf(res) ?? b?.cookie ?? '', token: /<meta name="csrf-token" content="([^"]+)"/.exec(res.body)?.[1] ?? '' },
      formToken: /name="_csrf_token" value="([^"]+)"/.exec(res.body)?.[1] ?? '',
    };
  };
  const form = (path: string, b: Browser, fields: Record<string, string>) =>
    app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: b.cookie, origin },
      payload: new URLSearchParams(fields).toString(),
    });
  const act = (b: Browser, componentId = 'counter:main', action = 'increment') =>
    app.inject({
      method: 'POST',
      url: '/api/livecomponents/action',
      headers: { 'content-type': 'application/json', cookie: b.cookie, 'x-csrf-token': b.token },
      payload: JSON.stringify({ component_id: componentId, action, params: {} }),
    });
  return { load, form, act, cookieOf };
}

const sessionKeyOfCookie = (cookie: string) => storeKeys.session(sessionKeyOf(cookie.slice(`${COOKIE}=`.length)));

const redis = REDIS_AVAILABLE ? useRedisServer() : undefined;

const stores: [string, (clock: Clock) => Promise<Store>][] = [
  ['memory', async (clock) => createMemoryStore({ clock, sweepIntervalMs: 0 })],
  ['sqlite', async (clock) => createSqliteStore({ url: `sqlite:${join(mkdtempSync(join(tmpdir(), 'lc-session-kv-')), 'kv.db')}`, clock, sweepIntervalMs: 0 })],
];
const withRedis: [string, (clock: Clock) => Promise<Store>][] = [
  ...stores,
  ...(REDIS_AVAILABLE ? [['redis', async () => createRedisStore({ url: redis?.server.url })] as [string, (clock: Clock) => Promise<Store>]] : []),
];

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe.each(withRedis)('a session deleted while an action on it runs stays deleted (%s store)', (_name, open) => {
  it('sign-out in another tab during an action: afterwards the old cookie gets 403 on actions and a new session on page views', async () => {
    const clock = manualClock(T0);
    const held = holdable(await open(clock));
    const started = await startApp(held.store, clock);
    app = started.app;
    const { load, form, act, cookieOf } = driver(app, started.origin);
    const registered = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: 'ada@example.com', password: PASSWORD, name: 'Ada' }),
    });
    expect(registered.statusCode).toBe(201);

    // Ada signs in and acts.
    const login = await load('/login');
    const signedIn = await form('/login', login.browser, { _csrf_token: login.formToken, email: 'ada@example.com', password: PASSWORD });
    expect(signedIn.statusCode).toBe(303);
    const tab1 = (await load('/', { cookie: cookieOf(signedIn) as string, token: '' })).browser;
    expect((await act(tab1)).statusCode).toBe(200);
    const key = sessionKeyOfCookie(tab1.cookie);

    // Past half of SESSION_TTL (24 h): the point where the session's renewal used to rewrite the record.
    clock.advance(13 * HOUR);

    // An action starts; its after-action batch (which carries the session's renewal) is held.
    const after = held.holdNext((op) => op.key === key && op.op !== 'get');
    const inFlight = act(tab1);
    await after.held;

    // Tab 2 signs out: the record is deleted.
    const page = await load('/login', tab1);
    const out = await form('/logout', page.browser, { _csrf_token: page.formToken });
    expect(out.statusCode).toBe(303);
    const next = cookieOf(out);
    expect(next).toBeDefined();
    expect(next).not.toBe(tab1.cookie);
    expect(await held.store.get(key)).toBeNull();

    // The held action finishes (its own answer is not the point; it started on a live session).
    after.release();
    await inFlight;

    // The old cookie and its CSRF token stay dead, now and later.
    const old = await act(tab1);
    expect(old.statusCode).toBe(403);
    expect(old.json().code).toBe('CSRF_TOKEN_INVALID');
    const oldPage = await load('/', tab1);
    expect(oldPage.newCookie, 'a page view with the old cookie starts a new session').toBeDefined();
    expect(oldPage.newCookie).not.toBe(tab1.cookie);
    expect(await held.store.get(key), 'the finished action did not recreate the record').toBeNull();
    clock.advance(20 * HOUR);
    expect((await act(tab1)).statusCode).toBe(403);
    expect(await held.store.get(key)).toBeNull();
  });

  it('sign-in during a page view of the anonymous session: the anonymous id stays dead', async () => {
    const clock = manualClock(T0);
    const held = holdable(await open(clock));
    const started = await startApp(held.store, clock);
    app = started.app;
    const { load, form, act, cookieOf } = driver(app, started.origin);
    await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: 'ada@example.com', password: PASSWORD }),
    });
    const home = await load('/');
    expect((await act(home.browser)).statusCode).toBe(200);
    const anon = await load('/login', home.browser);
    const key = sessionKeyOfCookie(anon.browser.cookie);
    clock.advance(13 * HOUR);

    // A page view reads the session; its renewal is held until the sign-in has replaced the session.
    const renewal = held.holdNext((op) => op.key === key && op.op !== 'get');
    const viewing = app.inject({ method: 'GET', url: '/', headers: { cookie: anon.browser.cookie } });
    await renewal.held;
    // The hold is on the page view's one batch (read and renewal together): the sign-in runs first.
    const signedIn = await form('/login', anon.browser, { _csrf_token: anon.formToken, email: 'ada@example.com', password: PASSWORD });
    expect(signedIn.statusCode).toBe(303);
    expect(cookieOf(signedIn)).toBeDefined();
    renewal.release();
    const view = await viewing;
    expect(view.statusCode).toBe(200);
    expect(cookieOf(view), 'the page view found no session: it started a new one').toBeDefined();

    expect(await held.store.get(key)).toBeNull();
    const old = await act(anon.browser);
    expect(old.statusCode).toBe(403);
    expect(old.json().code).toBe('CSRF_TOKEN_INVALID');
  });
});

describe.each(stores)('the idle lifetime is SESSION_TTL past the last use (%s store)', (_name, open) => {
  const TTL = 60_000; // SESSION_TTL=1 (minute)

  it('actions: one at 0.4·TTL keeps the session at 1.3·TTL; TTL + 1 ms after the last use it is gone', async () => {
    const clock = manualClock(T0);
    const started = await startApp(await open(clock), clock, { SESSION_TTL: '1' });
    app = started.app;
    const { load, act } = driver(app, started.origin);
    const b = (await load('/')).browser; // the session starts at T
    clock.advance(0.4 * TTL);
    expect((await act(b)).statusCode).toBe(200);
    clock.advance(0.9 * TTL); // T + 1.3·TTL: 0.9·TTL idle
    const kept = await act(b);
    expect(kept.statusCode, 'alive 0.9·TTL after its last use').toBe(200);
    clock.advance(TTL - 1);
    expect((await act(b)).statusCode, 'alive TTL − 1 ms after its last use').toBe(200);
    clock.advance(TTL + 1);
    const gone = await act(b);
    expect(gone.statusCode, 'gone TTL + 1 ms after its last use').toBe(403);
    expect(gone.json().code).toBe('CSRF_TOKEN_INVALID');
    expect((await load('/', b)).newCookie, 'a page view starts a new session').toBeDefined();
  });

  it('page views: one at 0.4·TTL keeps the session at 1.3·TTL; TTL + 1 ms after the last view it is gone', async () => {
    const clock = manualClock(T0);
    const started = await startApp(await open(clock), clock, { SESSION_TTL: '1' });
    app = started.app;
    const { load, act } = driver(app, started.origin);
    const b = (await load('/')).browser;
    clock.advance(0.4 * TTL);
    expect((await load('/', b)).newCookie).toBeUndefined();
    clock.advance(0.9 * TTL);
    const kept = await load('/', b);
    expect(kept.newCookie, 'alive 0.9·TTL after the last view').toBeUndefined();
    expect((await act(kept.browser)).statusCode).toBe(200);
    clock.advance(TTL + 1);
    expect((await load('/', b)).newCookie, 'gone TTL + 1 ms after the last use').toBeDefined();
  });
});
