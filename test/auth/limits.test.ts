/**
 * The auth endpoints' limits (PROTOCOL §4) through the actions' rate limiter, per client, with
 * `TRUST_PROXY` off (the socket address; `X-Forwarded-For` ignored) and on (the forwarded client);
 * and `authn_login_fail_max` for repeated failures on one account from many clients.
 */
import { afterEach, expect, it } from 'vitest';
import { authApp, eachEngine, PASSWORD, type AuthApp } from './harness.js';

eachEngine('auth rate limits', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const attempts = async (n: number, send: (i: number) => Promise<{ statusCode: number }>) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await send(i)).statusCode);
    return out;
  };

  it('login: 5 per minute per client, then 429 with retry_after, limit, window and Retry-After — even with the right password', async () => {
    t = await authApp(engine);
    const app = t;
    await app.register('ada@example.com');
    app.takeEvents();
    const login = (password: string, ip = '192.0.2.1') => app.post('/login', { email: 'ada@example.com', password }, {}, ip);
    expect(await attempts(5, () => login('wrong password'))).toEqual([401, 401, 401, 401, 401]);
    const refused = await login(PASSWORD);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED', retry_after: 60, limit: 5, window: 60 });
    expect(refused.headers['retry-after']).toBe('60');
    expect(refused.headers['x-ratelimit-remaining']).toBe('0');
    expect(refused.headers['set-cookie']).toBeUndefined();
    expect(app.events.filter((e) => e.event === 'excess_rate_limit_exceeded')).toHaveLength(1);
    // Another client has its own budget; the first one gets its budget back after the window.
    expect((await login(PASSWORD, '192.0.2.2')).statusCode).toBe(200);
    app.clock.advance(59_999);
    expect((await login(PASSWORD)).statusCode).toBe(429);
    app.clock.advance(1);
    expect((await login(PASSWORD)).statusCode).toBe(200);
  });

  it('register 5, refresh-token 10, forgot-password 3, reset-password 5 per minute', async () => {
    t = await authApp(engine);
    const app = t;
    expect(await attempts(6, (i) => app.register(`user${i}@example.com`))).toEqual([201, 201, 201, 201, 201, 429]);
    expect(await attempts(11, () => app.refresh(undefined))).toEqual([...Array(10).fill(401), 429]);
    expect(await attempts(4, () => app.post('/forgot-password', { email: 'user0@example.com' }))).toEqual([202, 202, 202, 429]);
    expect(await attempts(6, () => app.post('/reset-password', { token: 'x'.repeat(43), password: PASSWORD }))).toEqual([400, 400, 400, 400, 400, 429]);
    // me, logout-all and logout with a live bearer have no limit of their own (logout-cookie.test.ts: the cookie alone has).
    expect(await attempts(12, () => app.app.inject({ method: 'GET', url: '/api/v1/auth/me' }))).toEqual(Array(12).fill(401));
  });

  it('counts malformed requests too (the limit applies before the body is read)', async () => {
    t = await authApp(engine);
    const app = t;
    const raw = () => app.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { 'content-type': 'application/json' }, payload: '{oops' });
    expect(await attempts(6, raw)).toEqual([400, 400, 400, 400, 400, 429]);
  });

  it('TRUST_PROXY off: X-Forwarded-For is ignored, so rotating it gains nothing', async () => {
    t = await authApp(engine, { env: { TRUST_PROXY: 'false' } });
    const app = t;
    const codes = await attempts(7, (i) =>
      app.post('/login', { email: 'nobody@example.com', password: 'wrong password' }, { 'x-forwarded-for': `203.0.113.${i}` }, '127.0.0.1'),
    );
    expect(codes).toEqual([401, 401, 401, 401, 401, 429, 429]);
  });

  it('TRUST_PROXY on: each forwarded client has its own budget behind the trusted proxy', async () => {
    t = await authApp(engine, { env: { TRUST_PROXY: '127.0.0.1' } });
    const app = t;
    const from = (client: string) => () =>
      app.post('/login', { email: 'nobody@example.com', password: 'wrong password' }, { 'x-forwarded-for': client }, '127.0.0.1');
    expect(await attempts(6, from('203.0.113.7'))).toEqual([401, 401, 401, 401, 401, 429]);
    expect(await attempts(6, from('203.0.113.8'))).toEqual([401, 401, 401, 401, 401, 429]);
    // A client that spoofs a forwarded address from an untrusted socket is still limited by its socket.
    const untrusted = await attempts(6, (i) =>
      app.post('/login', { email: 'nobody@example.com', password: 'wrong password' }, { 'x-forwarded-for': `198.51.100.${i}` }, '192.0.2.50'),
    );
    expect(untrusted).toEqual([401, 401, 401, 401, 401, 429]);
  });

  it('an IPv6 client taking a fresh address of its network per attempt gains nothing, socket or forwarded', async () => {
    t = await authApp(engine, { env: { TRUST_PROXY: '127.0.0.1' } });
    const app = t;
    const login = (ip: string, forwarded?: string) =>
      app.post('/login', { email: 'nobody@example.com', password: 'wrong password' }, forwarded ? { 'x-forwarded-for': forwarded } : {}, ip);
    // Each attempt from another address of 2001:db8:7:aa00::/56.
    expect(await attempts(7, (i) => login(`2001:db8:7:aa${i.toString(16).padStart(2, '0')}::${i + 1}`))).toEqual([401, 401, 401, 401, 401, 429, 429]);
    expect(await attempts(7, (i) => login('127.0.0.1', `2001:db8:9:bb00:${i}::1`))).toEqual([401, 401, 401, 401, 401, 429, 429]);
    // Another network is another client (which also shows both addresses were the ones counted).
    expect((await login('2001:db8:7:ab00::1')).statusCode).toBe(401);
    expect((await login('127.0.0.1', '2001:db8:9:bc00::1')).statusCode).toBe(401);
  });

  it('logs authn_login_fail_max once at the 5th failure in a row on one account, whatever the clients', async () => {
    t = await authApp(engine);
    const app = t;
    await app.register('ada@example.com');
    app.takeEvents();
    const fail = (i: number) => app.post('/login', { email: 'ada@example.com', password: 'wrong password' }, {}, `192.0.2.${10 + i}`);
    await attempts(4, fail);
    expect(app.takeEvents()).toEqual(Array(4).fill('authn_login_fail'));
    await fail(4);
    expect(app.takeEvents()).toEqual(['authn_login_fail', 'authn_login_fail_max']);
    await attempts(3, (i) => fail(5 + i));
    expect(app.takeEvents()).toEqual(Array(3).fill('authn_login_fail'));
    // The account is not locked (that would let anyone lock anyone out)…
    expect((await app.login('ada@example.com', PASSWORD, '192.0.2.99')).access).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // …and a success starts the count again.
    app.takeEvents();
    await attempts(4, (i) => fail(20 + i));
    expect(app.takeEvents()).toEqual(Array(4).fill('authn_login_fail'));
  });

  it('counts failures for an email without an account the same way', async () => {
    t = await authApp(engine);
    const app = t;
    await attempts(5, (i) => app.post('/login', { email: 'ghost@example.com', password: 'wrong password' }, {}, `192.0.2.${i}`));
    expect(app.takeEvents()).toEqual([...Array(5).fill('authn_login_fail'), 'authn_login_fail_max']);
  });
});

eachEngine('per-account sign-in limit', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  /** Wrong passwords for `email`, 4 per client address (under the per-client limit of 5), from `first` on. */
  const guesses = async (app: AuthApp, email: string, n: number, first = 0) => {
    const out: Record<number, number> = {};
    for (let i = 0; i < n; i++) {
      const ip = `198.51.${Math.floor((first + i) / 4 / 250)}.${(Math.floor((first + i) / 4) % 250) + 1}`;
      const { statusCode } = await app.post('/login', { email, password: `guess ${i}` }, {}, ip);
      out[statusCode] = (out[statusCode] ?? 0) + 1;
    }
    return out;
  };

  it('100 failures from 25 clients, then the 101st attempt is 429 even with the right password; another account is not; after the hour it signs in', async () => {
    t = await authApp(engine);
    const app = t;
    await app.register('ada@example.com');
    await app.register('bob@example.com');
    expect(await guesses(app, 'ada@example.com', 100)).toEqual({ 401: 100 });
    const refused = await app.post('/login', { email: 'ada@example.com', password: PASSWORD }, {}, '203.0.113.1');
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED', retry_after: 3600, limit: 100, window: 3600 });
    expect(refused.headers['retry-after']).toBe('3600');
    // The account's policy, not the client's (which had 4 of 5 left).
    expect([refused.headers['x-ratelimit-limit'], refused.headers['x-ratelimit-remaining'], refused.headers['ratelimit-policy'], refused.headers['ratelimit']]).toEqual([
      '100',
      '0',
      '"login-account";q=100;w=3600',
      '"login-account";r=0;t=3600',
    ]);
    expect(refused.headers['set-cookie']).toBeUndefined();
    expect((await app.post('/login', { email: 'Ada@EXAMPLE.com', password: PASSWORD }, {}, '203.0.113.2')).statusCode).toBe(429);
    expect((await app.post('/login', { email: 'bob@example.com', password: PASSWORD }, {}, '203.0.113.3')).statusCode).toBe(200);
    app.clock.advance(3_599_999);
    expect((await app.post('/login', { email: 'ada@example.com', password: PASSWORD }, {}, '203.0.113.4')).statusCode).toBe(429);
    app.clock.advance(1);
    expect((await app.post('/login', { email: 'ada@example.com', password: PASSWORD }, {}, '203.0.113.5')).statusCode).toBe(200);
  });

  it('an email without an account is refused exactly the same way, with the same body', async () => {
    t = await authApp(engine);
    const app = t;
    await app.register('ada@example.com');
    await guesses(app, 'ada@example.com', 100);
    expect(await guesses(app, 'ghost@example.com', 100, 400)).toEqual({ 401: 100 });
    const known = await app.post('/login', { email: 'ada@example.com', password: PASSWORD }, {}, '203.0.113.1');
    const unknown = await app.post('/login', { email: 'ghost@example.com', password: PASSWORD }, {}, '203.0.113.2');
    expect([known.statusCode, unknown.statusCode]).toEqual([429, 429]);
    const strip = (body: Record<string, unknown>) => ({ ...body, request_id: undefined });
    expect(strip(unknown.json())).toEqual(strip(known.json()));
    expect(unknown.headers['retry-after']).toBe(known.headers['retry-after']);
  });

  it("the per-account 429's headers: X-RateLimit-Reset when the whole window has emptied, RateLimit's t and Retry-After at the next admitted attempt", async () => {
    t = await authApp(engine, { auth: { limits: { 'login-account': { limit: 3, windowSeconds: 60 } } } });
    const app = t;
    expect(await guesses(app, 'ada@example.com', 1)).toEqual({ 401: 1 });
    app.clock.advance(30_000);
    expect(await guesses(app, 'ada@example.com', 2, 40)).toEqual({ 401: 2 });
    const refused = await app.post('/login', { email: 'ada@example.com', password: 'guess' }, {}, '203.0.113.9');
    expect(refused.statusCode).toBe(429);
    const nowSeconds = app.clock.now() / 1000;
    expect(refused.headers['retry-after']).toBe('30');
    expect(refused.headers['ratelimit']).toBe('"login-account";r=0;t=30');
    expect(Number(refused.headers['x-ratelimit-reset']) - nowSeconds).toBe(60);
  });

  it("a success counts like any attempt (clearing the count told in-use accounts from others), and the limit is configurable", async () => {
    t = await authApp(engine, { auth: { limits: { 'login-account': { limit: 3, windowSeconds: 60 } } } });
    const app = t;
    await app.register('ada@example.com');
    expect(await guesses(app, 'ada@example.com', 2)).toEqual({ 401: 2 });
    expect(await guesses(app, 'ghost@example.com', 2, 40)).toEqual({ 401: 2 });
    // The owner signs in: the third attempt on ada.
    expect((await app.post('/login', { email: 'ada@example.com', password: PASSWORD }, {}, '203.0.113.1')).statusCode).toBe(200);
    expect((await app.post('/login', { email: 'ghost@example.com', password: 'guess' }, {}, '203.0.113.2')).statusCode).toBe(401);
    // Both used up alike: the answers say nothing of which address has an account, or was just used.
    expect(await guesses(app, 'ada@example.com', 2, 80)).toEqual({ 429: 2 });
    expect(await guesses(app, 'ghost@example.com', 2, 120)).toEqual({ 429: 2 });
    app.clock.advance(60_000);
    expect((await app.post('/login', { email: 'ada@example.com', password: PASSWORD }, {}, '203.0.113.3')).statusCode).toBe(200);
  });
});
