/**
 * Device cookies (src/auth/device.ts): a browser that signed in to an account keeps a sign-in budget
 * of its own there, so others spending the shared per-account budget cannot lock its owner out.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, expect, it } from 'vitest';
import { authKeys, deviceDigest } from '../../src/auth/keys.js';
import { authApp, eachEngine, PASSWORD, setCookies, type AuthApp } from './harness.js';

/** The value of `lc_device_token` an answer sets, or `undefined`. */
function deviceCookie(res: LightMyRequestResponse): string | undefined {
  const line = setCookies(res).find((c) => c.startsWith('lc_device_token='));
  return line === undefined ? undefined : (line.split(';')[0] as string).slice('lc_device_token='.length);
}

/** A sign-in through the browser form at `/login`: its page (session cookie, CSRF token), then the POST. */
async function formSignIn(app: AuthApp['app'], email: string): Promise<LightMyRequestResponse> {
  const page = await app.inject({ method: 'GET', url: '/login' });
  const session = setCookies(page).find((c) => c.startsWith('lc_session='))?.split(';')[0] as string;
  const token = /name="_csrf_token" value="([^"]+)"/.exec(page.body)?.[1] as string;
  return app.inject({
    method: 'POST',
    url: '/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session, origin: 'http://127.0.0.1:3000' },
    payload: new URLSearchParams({ email, password: PASSWORD, _csrf_token: token }).toString(),
  });
}

eachEngine('device cookies', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  /** `n` wrong passwords for `email`, 4 per client address (under the per-client limit of 5). */
  const guesses = async (app: AuthApp, email: string, n: number, first = 0, headers: Record<string, string> = {}) => {
    const out: Record<number, number> = {};
    for (let i = 0; i < n; i++) {
      const ip = `198.51.${Math.floor((first + i) / 4 / 250)}.${(Math.floor((first + i) / 4) % 250) + 1}`;
      const { statusCode } = await app.post('/login', { email, password: `guess ${i}` }, headers, ip);
      out[statusCode] = (out[statusCode] ?? 0) + 1;
    }
    return out;
  };
  const signIn = (app: AuthApp, email: string, ip: string, device?: string, password = PASSWORD) =>
    app.post('/login', { email, password }, device === undefined ? {} : { cookie: `lc_device_token=${device}` }, ip);

  it('a sign-in sets the device cookie: HttpOnly, SameSite=Strict, Path=/, 90 days; Secure and __Host- in production', async () => {
    t = await authApp(engine);
    await t.register('ada@example.com');
    const res = await signIn(t, 'ada@example.com', '203.0.113.1');
    expect(res.statusCode).toBe(200);
    const line = setCookies(res).find((c) => c.startsWith('lc_device_token='));
    expect(line).toMatch(/^lc_device_token=[A-Za-z0-9_-]{43}; Max-Age=7776000; Path=\/; HttpOnly; SameSite=Strict$/);
    // A failed attempt sets none.
    expect(deviceCookie(await signIn(t, 'ada@example.com', '203.0.113.1', undefined, 'wrong'))).toBeUndefined();
    await t.close();

    t = await authApp(engine, { production: true });
    await t.register('ada@example.com');
    const secure = await signIn(t, 'ada@example.com', '203.0.113.1');
    expect(setCookies(secure).find((c) => c.startsWith('__Host-lc_device_token='))).toMatch(/; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
  });

  it("the owner's browser signs in while others have spent the account's shared budget; a browser without the cookie is refused", async () => {
    t = await authApp(engine);
    const app = t;
    await app.register('ada@example.com');
    const device = deviceCookie(await signIn(app, 'ada@example.com', '203.0.113.1')) as string;
    // The first sign-in was one of the 100 shared attempts: 99 guesses spend the rest.
    expect(await guesses(app, 'ada@example.com', 99)).toEqual({ 401: 99 });
    expect((await signIn(app, 'ada@example.com', '203.0.113.2')).statusCode).toBe(429);
    const owner = await signIn(app, 'ada@example.com', '203.0.113.3', device);
    expect(owner.statusCode).toBe(200);
    // The trusted token is kept (and its lifetime renewed), not replaced.
    expect(deviceCookie(owner)).toBe(device);
    // Wrong guesses with the cookie count against the device, not the spent shared budget.
    expect((await signIn(app, 'ada@example.com', '203.0.113.4', device, 'wrong')).statusCode).toBe(401);
  });

  it('the per-device budget: 20 attempts an hour from one trusted browser, then a 429 of the policy "login-device"; the shared budget is untouched', async () => {
    t = await authApp(engine);
    const app = t;
    await app.register('ada@example.com');
    const device = deviceCookie(await signIn(app, 'ada@example.com', '203.0.113.1')) as string;
    expect(await guesses(app, 'ada@example.com', 20, 0, { cookie: `lc_device_token=${device}` })).toEqual({ 401: 20 });
    const refused = await signIn(app, 'ada@example.com', '203.0.113.9', device);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED', retry_after: 3600, limit: 20, window: 3600 });
    expect([refused.headers['retry-after'], refused.headers['ratelimit-policy'], refused.headers['ratelimit']]).toEqual([
      '3600',
      '"login-device";q=20;w=3600',
      '"login-device";r=0;t=3600',
    ]);
    expect(app.events.filter((e) => e.event === 'excess_rate_limit_exceeded').map((e) => e.description)).toEqual([
      'Sign-in refused: 20 attempts on one email within 3600 s (per-device limit of a browser that signed in to it before)',
    ]);
    // Without the cookie the shared budget (one sign-in spent) still admits.
    expect((await signIn(app, 'ada@example.com', '203.0.113.10')).statusCode).toBe(200);
  });

  it("another account's device cookie, a planted token and a malformed value buy nothing; a success replaces a planted token", async () => {
    t = await authApp(engine, { auth: { limits: { 'login-account': { limit: 3, windowSeconds: 3600 } } } });
    const app = t;
    await app.register('ada@example.com');
    await app.register('bob@example.com');
    const bobs = deviceCookie(await signIn(app, 'bob@example.com', '203.0.113.1')) as string;
    const planted = 'A'.repeat(43);
    expect(await guesses(app, 'ada@example.com', 3)).toEqual({ 401: 3 });
    for (const device of [bobs, planted, 'not-a-token', `${bobs}x`]) {
      expect((await signIn(app, 'ada@example.com', '203.0.113.2', device)).statusCode).toBe(429);
    }
    await app.close();

    t = await authApp(engine);
    await t.register('ada@example.com');
    const fresh = deviceCookie(await signIn(t, 'ada@example.com', '203.0.113.1', planted));
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fresh).not.toBe(planted);
  });

  it('an account trusts its 10 most recently used devices in one store key: sign-ins without the cookie do not grow the store', async () => {
    t = await authApp(engine);
    const app = t;
    await app.register('ada@example.com');
    const devices: string[] = [];
    for (let i = 0; i < 15; i++) devices.push(deviceCookie(await signIn(app, 'ada@example.com', `203.0.113.${i + 1}`)) as string);
    expect(new Set(devices).size).toBe(15);
    const stored = (await app.store.get(authKeys.devices('ada@example.com'))) as string;
    expect(stored.split(' ')).toEqual(devices.slice(5).map(deviceDigest));
    // The oldest five were dropped: their cookies get a fresh token; the last ten are kept.
    expect(deviceCookie(await signIn(app, 'ada@example.com', '203.0.114.1', devices[0]))).not.toBe(devices[0]);
    expect(deviceCookie(await signIn(app, 'ada@example.com', '203.0.114.2', devices[14]))).toBe(devices[14]);
  });

  it('a browser sign-in refused after the password check (a reset committed meanwhile) trusts no device and sets no cookie', async () => {
    t = await authApp(engine);
    const { app, db } = t;
    await t.register('ada@example.com');
    const service = app.livecomponentsAuth.service;
    const startWebSession = service.startWebSession.bind(service);
    service.startWebSession = async (...args) => {
      await db.updateTable('users').set({ password_hash: 'changed by a reset' }).where('email', '=', 'ada@example.com').execute();
      return startWebSession(...args);
    };
    const res = await formSignIn(app, 'ada@example.com');
    expect(res.statusCode).toBe(401);
    expect(deviceCookie(res)).toBeUndefined();
    expect(await t.store.get(authKeys.devices('ada@example.com'))).toBeNull();
  });

  it('a store failure while recording the device still signs in (tokens, no device cookie) and is reported', async () => {
    const reported: unknown[] = [];
    t = await authApp(engine, { auth: { onBackgroundError: (error) => void reported.push(error) } });
    const app = t;
    await app.register('ada@example.com');
    // Every write of the list refused: `claim` (no list yet) and the batch of `replaceIfEquals` (one there).
    const devices = authKeys.devices('ada@example.com');
    const claim = app.store.claim.bind(app.store);
    const batch = app.store.batch.bind(app.store);
    app.store.claim = async (key, value, ttlMs) => {
      if (key === devices) throw new Error('store down');
      return claim(key, value, ttlMs);
    };
    app.store.batch = async (ops) => {
      if (ops.some((op) => op.key === devices)) throw new Error('store down');
      return batch(ops);
    };
    const res = await signIn(app, 'ada@example.com', '203.0.113.1');
    expect(res.statusCode).toBe(200);
    expect(setCookies(res).some((c) => c.startsWith('refresh_token='))).toBe(true);
    expect(deviceCookie(res)).toBeUndefined();
    expect(reported.map((e) => (e as Error).message)).toEqual(['store down']);
    // With a list already there (written behind the refusing store's back), the replace is refused alike.
    await app.store.set(devices, 'a-device-digest', 60_000);
    const again = await signIn(app, 'ada@example.com', '203.0.113.2');
    expect(again.statusCode).toBe(200);
    expect(deviceCookie(again)).toBeUndefined();
    expect(reported.map((e) => (e as Error).message)).toEqual(['store down', 'store down']);
    expect(await app.store.get(devices)).toBe('a-device-digest');
  });

  it('the browser form at /login reads and sets the same cookie', async () => {
    t = await authApp(engine);
    const app = t.app;
    await t.register('ada@example.com');
    const res = await formSignIn(app, 'ada@example.com');
    expect(res.statusCode).toBe(303);
    const device = deviceCookie(res) as string;
    expect(device).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The JSON endpoint trusts it: the same token comes back.
    expect(deviceCookie(await signIn(t, 'ada@example.com', '203.0.113.5', device))).toBe(device);
  });
});
