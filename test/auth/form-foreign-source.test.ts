/**
 * The reference app's form routes (`POST /login`, `POST /logout`) refuse a post from a source the form
 * check refuses — `Sec-Fetch-Site: cross-site`, a foreign `Origin`, `Origin: null` cross-site — before
 * its body is read, whatever the body (`refuseForeignForms`, src/http/form-source.ts): a redirect
 * (sign-in: 303 to /login?sign_in_refused; sign-out: 303 to its refusal) with no session cookie, and
 * exactly one `malicious_csrf`. The sign-in's answer was its page (403), whose view started a session
 * for the cookie-less cross-site post (a browser sends no SameSite=Lax cookie with it): its
 * Set-Cookie replaced the browser's, so any site could sign a user out.
 * Before, the body parser answered first: 413 for an oversize form, 415 for `text/plain` or multipart
 * (kept alive, the body read to its end), 400 for a form that is not UTF-8, and no event; only a
 * well-formed form met the CSRF refusal. Posts from the app's own pages get what they got before.
 * (`/forgot-password`, `/reset-password` and `/profile` take no form post: their forms post JSON to
 * the auth API, whose origin refusal comes first already; a POST to them is 405.)
 */
import type { Socket } from 'node:net';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SecurityEvent } from '../../src/ops/security-events.js';
import { demoApp, openClient } from '../helpers/demo.js';
import { postPart } from '../helpers/partial-post.js';
import { FAST_ARGON2 } from './harness.js';

const APP = 'https://app.example.test';
const EVIL = 'https://evil.example';
/** On another site, but listed in `CORS_ALLOWED_ORIGINS` (so trusted by the `Origin` check). */
const LISTED_OTHER_SITE = 'https://admin.other-site.example';
const FORM = 'application/x-www-form-urlencoded';
const CROSS_SITE_EVENT = 'Form post refused: Sec-Fetch-Site is cross-site';
const ORIGIN_EVENT = `Form post refused: Origin header is not a trusted origin (trusted: ${APP}, ${LISTED_OTHER_SITE}): open the app at one of these, or set appOrigin/allowedOrigins`;

interface Body {
  type?: string;
  payload?: string;
}

/** The bodies of the matrix. `announced`: the request carries a body (so its answer closes the connection). */
const BODIES: Record<string, Body & { announced: boolean }> = {
  // Over the route's 16 KiB.
  'an oversize form': { type: FORM, payload: `email=${'a'.repeat(20_000)}&password=x`, announced: true },
  'text/plain': { type: 'text/plain', payload: 'email=ada@example.com&password=x', announced: true },
  'a malformed form (not UTF-8)': { type: FORM, payload: 'email=%FF&password=x', announced: true },
  multipart: { type: 'multipart/form-data; boundary=X', payload: '--X\r\nContent-Disposition: form-data; name="email"\r\n\r\nada@example.com\r\n--X--\r\n', announced: true },
  'no body': { announced: false },
};

/** The foreign sources, and the description of the event each logs. */
const SOURCES: Record<string, { headers: Record<string, string>; description: string }> = {
  'Sec-Fetch-Site: cross-site': { headers: { 'sec-fetch-site': 'cross-site' }, description: CROSS_SITE_EVENT },
  'a foreign Origin': { headers: { origin: EVIL }, description: ORIGIN_EVENT },
  'Origin: null, cross-site': { headers: { origin: 'null', 'sec-fetch-site': 'cross-site' }, description: CROSS_SITE_EVENT },
  'a listed origin of another site, cross-site': { headers: { origin: LISTED_OTHER_SITE, 'sec-fetch-site': 'cross-site' }, description: CROSS_SITE_EVENT },
};

const SAME_ORIGIN = { origin: APP, 'sec-fetch-site': 'same-origin' };

describe('form routes: a foreign source is refused as CSRF before the body is read', () => {
  let app: FastifyInstance;
  let events: SecurityEvent[];
  let cookie: string;
  let port: number;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    const demo = await demoApp({ APP_URL: APP, CORS_ALLOWED_ORIGINS: LISTED_OTHER_SITE }, {}, { password: FAST_ARGON2 });
    app = demo.app;
    events = demo.events.events;
    const page = await app.inject({ method: 'GET', url: '/login' });
    cookie = String(page.headers['set-cookie']).split(';')[0] as string;
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await app.close();
  });

  /** Posts `body` to `url` with `headers`; the answer and the events it logged. */
  async function post(url: string, body: Body, headers: Record<string, string>): Promise<{ res: LightMyRequestResponse; logged: SecurityEvent[] }> {
    const before = events.length;
    const res = await app.inject({
      method: 'POST',
      url,
      headers: { cookie, ...(body.type === undefined ? {} : { 'content-type': body.type }), ...headers },
      ...(body.payload === undefined ? {} : { payload: body.payload }),
    });
    return { res, logged: events.slice(before) };
  }

  for (const [bodyName, body] of Object.entries(BODIES)) {
    for (const [sourceName, source] of Object.entries(SOURCES)) {
      it(`POST /login, ${bodyName}, ${sourceName}: 303 to /login?sign_in_refused, no session cookie, one malicious_csrf`, async () => {
        const { res, logged } = await post('/login', body, source.headers);
        expect([res.statusCode, res.headers.location, res.headers.connection, res.headers['set-cookie']]).toEqual([
          303,
          '/login?sign_in_refused',
          body.announced ? 'close' : 'keep-alive',
          undefined,
        ]);
        expect(logged.map((e) => [e.event, e.description])).toEqual([['malicious_csrf', source.description]]);
      });

      it(`POST /logout, ${bodyName}, ${sourceName}: 303 to /login?sign_out_refused, one malicious_csrf`, async () => {
        const { res, logged } = await post('/logout', body, source.headers);
        expect([res.statusCode, res.headers.location, res.headers.connection, res.headers['set-cookie']]).toEqual([
          303,
          '/login?sign_out_refused',
          body.announced ? 'close' : 'keep-alive',
          undefined,
        ]);
        expect(logged.map((e) => [e.event, e.description])).toEqual([['malicious_csrf', source.description]]);
      });
    }
  }

  it('a cross-site sign-in post as a browser sends it (no SameSite=Lax cookie): no Set-Cookie, so the browser keeps its session', async () => {
    const form = new URLSearchParams({ email: 'mallory@example.com', password: 'x' }).toString();
    const res = await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': FORM, origin: EVIL, 'sec-fetch-site': 'cross-site' }, payload: form });
    expect([res.statusCode, res.headers['set-cookie']]).toEqual([303, undefined]);
    // The signed-in session of the test's browser still acts.
    expect((await app.inject({ method: 'GET', url: '/login', headers: { cookie } })).statusCode).toBe(200);
  });

  it('a well-formed sign-in from a foreign source: the same redirect and one malicious_csrf; the page it leads to says why', async () => {
    const page = await app.inject({ method: 'GET', url: '/login', headers: { cookie } });
    const token = /name="_csrf_token" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
    const form = { type: FORM, payload: new URLSearchParams({ _csrf_token: token, email: 'mallory@example.com', password: 'x' }).toString() };
    for (const source of Object.values(SOURCES)) {
      const { res, logged } = await post('/login', form, source.headers);
      expect([res.statusCode, res.headers.location, res.headers.connection]).toEqual([303, '/login?sign_in_refused', 'close']);
      expect(logged.map((e) => e.event)).toEqual(['malicious_csrf']);
    }
    const shown = await app.inject({ method: 'GET', url: '/login?sign_in_refused', headers: { cookie } });
    expect(shown.statusCode).toBe(200);
    expect(shown.body).toContain('That sign-in was sent from another site and was refused. Sign in here.');
  });

  // Controls: the same bodies from the app's own page get what they got before the hook.
  const sameOriginLogin: Record<string, [number, string, string, string[]]> = {
    'an oversize form': [413, 'application/json; charset=utf-8', 'close', []],
    // Another type is answered before the body is read, and the connection closed (form-body.ts).
    'text/plain': [415, 'application/json; charset=utf-8', 'close', []],
    'a malformed form (not UTF-8)': [400, 'text/html; charset=utf-8', 'keep-alive', []],
    multipart: [415, 'application/json; charset=utf-8', 'close', []],
    // No token: refused by verifyForm's token check, as before.
    'no body': [403, 'text/html; charset=utf-8', 'keep-alive', ['malicious_csrf']],
  };
  for (const [bodyName, expected] of Object.entries(sameOriginLogin)) {
    it(`POST /login, ${bodyName}, from the app's own page: unchanged, ${expected[0]}`, async () => {
      const body = BODIES[bodyName] as Body;
      const { res, logged } = await post('/login', body, SAME_ORIGIN);
      expect([res.statusCode, res.headers['content-type'], res.headers.connection, logged.map((e) => e.event)]).toEqual(expected);
    });
  }

  const sameOriginLogout: Record<string, [number, string | undefined, string[]]> = {
    'an oversize form': [413, undefined, []],
    'text/plain': [415, undefined, []],
    'a malformed form (not UTF-8)': [400, undefined, []],
    multipart: [415, undefined, []],
    // The cookie's session is signed out already: nothing to end, no token needed.
    'no body': [303, '/login?signed_out', []],
  };
  for (const [bodyName, expected] of Object.entries(sameOriginLogout)) {
    it(`POST /logout, ${bodyName}, from the app's own page: unchanged, ${expected[0]}`, async () => {
      const body = BODIES[bodyName] as Body;
      const { res, logged } = await post('/logout', body, SAME_ORIGIN);
      expect([res.statusCode, res.headers.location, logged.map((e) => e.event)]).toEqual(expected);
    });
  }

  it('Origin: null with Sec-Fetch-Site: same-origin (the app’s page under no-referrer), a listed origin sent same-site (a sibling subdomain listed in CORS_ALLOWED_ORIGINS) and no Origin pass to the parser: 400 for a malformed form, no event', async () => {
    const sources: Record<string, string>[] = [{ origin: 'null', 'sec-fetch-site': 'same-origin' }, { origin: LISTED_OTHER_SITE, 'sec-fetch-site': 'same-site' }, {}];
    for (const headers of sources) {
      const { res, logged } = await post('/login', BODIES['a malformed form (not UTF-8)'] as Body, headers);
      expect([res.statusCode, logged.length]).toEqual([400, 0]);
    }
  });

  it('a listed origin of another site (CORS_ALLOWED_ORIGINS) cannot call an action either: with Sec-Fetch-Site: cross-site, 403 CSRF_TOKEN_INVALID and one malicious_csrf even with a valid cookie and token; sent same-site, it passes', async () => {
    const client = await openClient(app);
    const before = events.length;
    const cross = await client.action('counter:main', 'increment', {}, { headers: { origin: LISTED_OTHER_SITE, 'sec-fetch-site': 'cross-site' } });
    expect([cross.statusCode, (cross.json() as { code: string }).code]).toEqual([403, 'CSRF_TOKEN_INVALID']);
    expect(events.slice(before).map((e) => [e.event, e.description])).toEqual([['malicious_csrf', 'CSRF: action refused, Sec-Fetch-Site is cross-site']]);
    const sibling = await client.action('counter:main', 'increment', {}, { headers: { origin: LISTED_OTHER_SITE, 'sec-fetch-site': 'same-site' } });
    expect(sibling.statusCode).toBe(200);
  });

  it('over a socket: a foreign text/plain post announcing 8 MiB to /login is answered 303 and the connection ended, its body unread; one malicious_csrf', async () => {
    const before = events.length;
    const answer = await postPart(port, '/login', { 'content-type': 'text/plain', origin: EVIL, 'sec-fetch-site': 'cross-site', cookie }, sockets, 8 * 1024 * 1024);
    expect(answer.status).toBe('HTTP/1.1 303 See Other');
    expect(answer.headers.connection).toBe('close');
    await answer.ended;
    expect(events.slice(before).map((e) => e.event)).toEqual(['malicious_csrf']);
  });

  it('over a socket: a text/plain post announcing 8 MiB from the app’s own page: 415, the connection ended, its body unread; no event', async () => {
    const before = events.length;
    const answer = await postPart(port, '/login', { 'content-type': 'text/plain', ...SAME_ORIGIN, cookie }, sockets, 8 * 1024 * 1024);
    expect(answer.status).toBe('HTTP/1.1 415 Unsupported Media Type');
    expect(answer.headers.connection).toBe('close');
    await answer.ended;
    expect(events.length - before).toBe(0);
  });

  it('over a socket: a cross-site form announcing 8 MiB to /logout: 303 and the connection ended; one malicious_csrf', async () => {
    const before = events.length;
    const answer = await postPart(port, '/logout', { 'content-type': FORM, 'sec-fetch-site': 'cross-site', cookie }, sockets, 8 * 1024 * 1024);
    expect(answer.status).toBe('HTTP/1.1 303 See Other');
    expect([answer.headers.connection, answer.headers.location]).toEqual(['close', '/login?sign_out_refused']);
    await answer.ended;
    expect(events.slice(before).map((e) => e.event)).toEqual(['malicious_csrf']);
  });
});
