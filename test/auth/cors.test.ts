/**
 * CORS on `/api/*`: exact configured origins echoed with credentials and `Vary: Origin`, preflights
 * answered, look-alike origins refused and logged as `malicious_cors`; and the auth endpoints
 * refuse browser POSTs from other origins outright.
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AUTH_BODY_LIMIT } from '../../src/auth/routes.js';
import { postPart } from '../helpers/partial-post.js';
import { authApp, eachEngine, refreshCookie, type AuthApp } from './harness.js';

const ALLOWED = ['https://front.example.com', 'https://admin.example.com:8443', 'http://localhost:5173'];

const LOOK_ALIKES = [
  'null',
  'https://front.example.com.evil.test', // suffix added
  'https://evil-front.example.com', // prefix added
  'https://xfront.example.com',
  'https://sub.front.example.com',
  'https://front.example.co', // truncated
  'http://front.example.com', // other scheme
  'https://front.example.com:444', // other port
  'https://admin.example.com', // allowed host, other port
  'https://front.example.com/', // trailing slash
  'https://FRONT.example.com', // not serialised as browsers send it
  'https://front.example.com, https://evil.test', // two values
  'file://',
];

eachEngine('CORS', (engine) => {
  let t: AuthApp;
  beforeAll(async () => {
    t = await authApp(engine, {
      env: { CORS_ALLOWED_ORIGINS: 'https://front.example.com,https://admin.example.com:8443', FRONTEND_URL: 'http://localhost:5173', APP_URL: 'https://app.example.com' },
      auth: { limits: { login: { limit: 1000, windowSeconds: 60 }, 'refresh-token': { limit: 1000, windowSeconds: 60 } } },
    });
    await t.register('ada@example.com');
  });
  afterAll(async () => {
    await t.close();
  });

  const me = (origin: string) => t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { origin } });

  it('echoes each allowed origin (CORS_ALLOWED_ORIGINS, FRONTEND_URL, APP_URL) with credentials and Vary: Origin', async () => {
    for (const origin of [...ALLOWED, 'https://app.example.com']) {
      const res = await me(origin);
      expect(res.headers['access-control-allow-origin'], origin).toBe(origin);
      expect(res.headers['access-control-allow-credentials']).toBe('true');
      expect(res.headers.vary).toContain('Origin');
      expect(String(res.headers['access-control-expose-headers'])).toContain('retry-after');
    }
  });

  it('answers the preflight of an allowed origin with 204 and the allowed methods and headers', async () => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/auth/login',
      headers: { origin: 'https://front.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://front.example.com');
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(res.headers['access-control-allow-methods']).toBe('GET, POST');
    expect(String(res.headers['access-control-allow-headers'])).toBe('content-type, authorization, x-csrf-token, idempotency-key, x-request-id');
    expect(res.headers['access-control-max-age']).toBe('600');
    // The action route is under /api too.
    const action = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/livecomponents/action',
      headers: { origin: 'https://admin.example.com:8443', 'access-control-request-method': 'POST' },
    });
    expect([action.statusCode, action.headers['access-control-allow-origin']]).toEqual([204, 'https://admin.example.com:8443']);
  });

  it('refuses every look-alike origin: no Allow-Origin, no Allow-Credentials, Vary kept, one malicious_cors each', async () => {
    t.takeEvents();
    for (const origin of LOOK_ALIKES) {
      const res = await me(origin);
      expect(res.headers['access-control-allow-origin'], origin).toBeUndefined();
      expect(res.headers['access-control-allow-credentials'], origin).toBeUndefined();
      expect(res.headers.vary, origin).toContain('Origin');
    }
    expect(t.takeEvents()).toEqual(Array(LOOK_ALIKES.length).fill('malicious_cors'));
    const preflight = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/auth/login',
      headers: { origin: 'https://front.example.com.evil.test', 'access-control-request-method': 'POST' },
    });
    // Not answered as a preflight: the path takes POST only.
    expect([preflight.statusCode, preflight.headers.allow]).toEqual([405, 'POST']);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(t.takeEvents()).toEqual(['malicious_cors']);
  });

  it('reads the path as the router does: /%61pi/… is the API (CORS headers for an allowed origin, one malicious_cors for another)', async () => {
    const allowed = await t.app.inject({ method: 'GET', url: '/%61pi/v1/auth/me', headers: { origin: 'https://front.example.com' } });
    expect(allowed.headers['access-control-allow-origin']).toBe('https://front.example.com');
    const refused = await t.app.inject({
      method: 'POST',
      url: '/%61pi/v1/auth/login',
      headers: { origin: 'https://evil.test', 'content-type': 'application/json' },
      payload: JSON.stringify({ email: 'ada@example.com', password: 'correct horse battery staple' }),
    });
    expect([refused.statusCode, refused.headers['set-cookie'], refused.headers['access-control-allow-origin']]).toEqual([403, undefined, undefined]);
    expect(t.takeEvents()).toEqual(['malicious_cors']);
  });

  it('leaves requests without Origin and paths outside /api alone', async () => {
    const plain = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me' });
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
    const page = await t.app.inject({ method: 'GET', url: '/', headers: { origin: 'https://front.example.com' } });
    expect(page.headers['access-control-allow-origin']).toBeUndefined();
    const evilPage = await t.app.inject({ method: 'GET', url: '/', headers: { origin: 'https://evil.test' } });
    expect(evilPage.statusCode).toBe(200);
    expect(t.takeEvents()).toEqual([]);
  });

  it("the app's own page under Referrer-Policy: no-referrer (Origin: null, Sec-Fetch-Site: same-origin) signs in, no CORS headers, no event; null without it stays refused", async () => {
    const own = { origin: 'null', 'sec-fetch-site': 'same-origin' };
    const login = await t.post('/login', { email: 'ada@example.com', password: 'correct horse battery staple' }, own);
    expect(login.statusCode).toBe(200);
    expect(refreshCookie(login)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(login.headers['access-control-allow-origin']).toBeUndefined();
    const action = await t.app.inject({ method: 'POST', url: '/api/livecomponents/action', headers: { ...own, 'content-type': 'text/plain' }, payload: 'x' });
    expect(action.statusCode).toBe(415);
    expect(t.takeEvents().filter((event) => event.startsWith('malicious'))).toEqual([]);
    // A sandboxed frame or a data: page also sends null, without same-origin: refused and logged, once each.
    for (const site of [undefined, 'cross-site', 'same-site', 'same-origin, cross-site']) {
      const headers: Record<string, string> = site === undefined ? { origin: 'null' } : { origin: 'null', 'sec-fetch-site': site };
      const refused = await t.post('/login', { email: 'ada@example.com', password: 'correct horse battery staple' }, headers);
      expect([site, refused.statusCode, refused.headers['set-cookie']]).toEqual([site, 403, undefined]);
    }
    expect(t.takeEvents()).toEqual(['malicious_cors', 'malicious_cors', 'malicious_cors', 'malicious_cors']);
  });

  it('auth POSTs from a disallowed origin are refused before anything happens: no cookie, no rotation', async () => {
    const login = await t.post('/login', { email: 'ada@example.com', password: 'correct horse battery staple' }, { origin: 'https://evil.test' });
    expect([login.statusCode, login.json().code]).toEqual([403, 'FORBIDDEN']);
    expect(login.headers['set-cookie']).toBeUndefined();
    const { refresh } = await t.login('ada@example.com');
    const sibling = await t.post('/refresh-token', undefined, { cookie: `refresh_token=${refresh}`, origin: 'https://evil.example.com' });
    expect([sibling.statusCode, sibling.json().code]).toEqual([403, 'FORBIDDEN']);
    expect(sibling.headers['set-cookie']).toBeUndefined();
    // The token was not rotated: it still works, once, from an allowed front end.
    const ok = await t.post('/refresh-token', undefined, { cookie: `refresh_token=${refresh}`, origin: 'https://front.example.com' });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('https://front.example.com');
    expect(refreshCookie(ok)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

eachEngine('auth API: a disallowed origin is refused before the body is read', (engine) => {
  let t: AuthApp;
  let port: number;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    t = await authApp(engine, { env: { CORS_ALLOWED_ORIGINS: 'https://front.example.com', APP_URL: 'https://app.example.com' } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await t.close();
  });

  const LOGIN = JSON.stringify({ email: 'ada@example.com', password: 'correct horse battery staple' });
  /** Each body, its content type, and what the parser answers an allowed origin. */
  const BODIES: [string, string, string, number, string][] = [
    ['malformed JSON', 'application/json', '{"email":', 400, 'INVALID_REQUEST'],
    ['a charset other than UTF-8', 'application/json; charset=iso-8859-1', LOGIN, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['JSON over the body limit', 'application/json', JSON.stringify({ email: 'ada@example.com', password: 'a'.repeat(AUTH_BODY_LIMIT) }), 413, 'PAYLOAD_TOO_LARGE'],
  ];
  const post = (origin: string, contentType: string, payload: string) =>
    t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { origin, 'content-type': contentType }, payload });

  it('malformed, wrong-charset and oversize JSON from a disallowed origin: 403 FORBIDDEN, one malicious_cors each, Connection: close; from an allowed one the parser answers, no event', async () => {
    t.takeEvents();
    for (const [what, contentType, payload, status, code] of BODIES) {
      const refused = await post('https://evil.test', contentType, payload);
      expect([what, refused.statusCode, refused.json().code, refused.json().error, refused.headers.connection]).toEqual([
        what,
        403,
        'FORBIDDEN',
        'This origin may not call the auth API.',
        'close',
      ]);
      expect(t.takeEvents()).toEqual(['malicious_cors']);
      const allowed = await post('https://front.example.com', contentType, payload);
      expect([what, allowed.statusCode, allowed.json().code]).toEqual([what, status, code]);
      expect(t.takeEvents()).toEqual([]);
    }
  });

  it('over a socket, a body announced and not sent is not waited for: the origin refusal (403), the 415 of a body that is not JSON and a 429 each close the connection', async () => {
    t.takeEvents();
    // 8 MiB announced, far past AUTH_BODY_LIMIT: read to its end before, on a kept-alive connection.
    const foreign = await postPart(port, '/api/v1/auth/login', { 'content-type': 'application/json', origin: 'https://evil.test' }, sockets, 8 * 1024 * 1024);
    expect([foreign.status, foreign.headers.connection]).toEqual(['HTTP/1.1 403 Forbidden', 'close']);
    await foreign.ended;
    expect(t.takeEvents()).toEqual(['malicious_cors']);
    const plain = await postPart(port, '/api/v1/auth/login', { 'content-type': 'text/plain', origin: 'https://front.example.com' }, sockets, 8 * 1024 * 1024);
    expect([plain.status, plain.headers.connection]).toEqual(['HTTP/1.1 415 Unsupported Media Type', 'close']);
    await plain.ended;
    // forgot-password allows 3 a minute (the manual clock stands still): the fourth is 429 before its body.
    for (let i = 0; i < 3; i++) {
      const res = await t.post('/forgot-password', { email: `nobody${i}@example.com` }, { origin: 'https://front.example.com' }, '127.0.0.1');
      expect(res.statusCode).toBe(202);
    }
    const limited = await postPart(port, '/api/v1/auth/forgot-password', { 'content-type': 'application/json', origin: 'https://front.example.com' }, sockets, 8 * 1024);
    expect([limited.status, limited.headers.connection]).toEqual(['HTTP/1.1 429 Too Many Requests', 'close']);
    await limited.ended;
    await t.idle();
  });
});

eachEngine('CORS configuration', (engine) => {
  it('refuses to start with `*` among the origins', async () => {
    await expect(authApp(engine, { auth: { allowedOrigins: ['*'] } })).rejects.toThrow('CORS: `*` cannot be combined with credentials');
  });
});
