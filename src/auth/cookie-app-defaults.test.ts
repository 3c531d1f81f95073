/**
 * An app may register `@fastify/cookie` itself before `registerAuth` (which then reuses it; after
 * it, Fastify refuses a second registration: FST_ERR_DEC_ALREADY_PRESENT), with options of its own:
 * `parseOptions` holds default attributes (`domain: 'example.com'` to share its own cookies with its
 * subdomains, `signed`, `partitioned`, `priority`, `expires`), which the plugin applied to every
 * `reply.setCookie`, and the `decode`/`encode` of every value; `hook: false` leaves `request.cookies`
 * unparsed. The auth cookies were read and written through it:
 * - a default `domain` sent the companion out as `__Host-…; Domain=example.com`, which browsers
 *   refuse (`__Host-` forbids `Domain`): its token was refused at the first refresh (fixed in stop 31
 *   by overriding `domain` and `signed`);
 * - a `decode` of the app's made the parsed value differ from the one sent, so every request read as
 *   carrying two refresh cookies (tossed): every refresh refused, nothing expired;
 * - an `encode` changed the bytes of both tokens on the wire (the browser sent back what the server
 *   never issued): every refresh refused;
 * - `partitioned`, `priority` and `expires` went out with them (`Expires` on a refresh cookie: a
 *   sign-in kept to that date instead of the token's life);
 * - `hook: false`: `request.cookies` was `null`, and every refresh and logout a 500.
 * The device cookie of sign-ins (device.ts) went the same way. The auth cookies are now read and
 * written by hand (http/cookie-header.ts), as the session cookie.
 */
import cookie from '@fastify/cookie';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { FAST_ARGON2, sqliteEngine } from '../../test/auth/harness.js';
import { manualClock } from '../core/clock.js';
import { memorySecurityEvents } from '../ops/security-events.js';
import { createMemoryStore } from '../store/memory/index.js';
import { BINDING_COOKIE, createRefreshCookie } from './cookie.js';
import { createDeviceCookie } from './device.js';
import { capturedMailTransport, registerAuth } from './index.js';

const TOKEN = 'A'.repeat(43);
const BINDING = 'B'.repeat(43);
const DEVICE = 'C'.repeat(43);
const EPOCH = 'Expires=Thu, 01 Jan 1970 00:00:00 GMT';
const SECRET = 'an app secret of its own, long enough';

/** What apps put in `parseOptions`, each of which reached the auth cookies. */
const APP_OPTIONS: [string, Record<string, unknown>][] = [
  ['domain', { domain: 'example.com' }],
  ['signed', { signed: true }],
  ['decode', { decode: (value: string) => Buffer.from(value, 'base64url').toString('latin1') }],
  ['encode', { encode: (value: string) => Buffer.from(value).toString('base64url') }],
  ['partitioned', { partitioned: true }],
  ['priority', { priority: 'high' }],
  ['expires', { expires: new Date(Date.UTC(2040, 0, 1)) }],
  ['attributes', { httpOnly: false, secure: false, sameSite: 'none', path: '/app', maxAge: 5 }],
  ['all of them', { domain: 'example.com', signed: true, decode: (v: string) => `app:${v}`, encode: (v: string) => `app.${v}`, partitioned: true, priority: 'low', expires: new Date(Date.UTC(2040, 0, 1)) }],
];

let app: FastifyInstance;
let cleanup: () => void = () => undefined;
afterEach(async () => {
  await app.close();
  cleanup();
});

async function appWith(parseOptions: Record<string, unknown>, hook?: false): Promise<FastifyInstance> {
  app = Fastify();
  await app.register(cookie, { secret: SECRET, parseOptions, ...(hook === false ? { hook } : {}) });
  const refresh = createRefreshCookie(true);
  const device = createDeviceCookie(true);
  app.post('/in', async (_request, reply) => {
    refresh.write(reply, TOKEN, 60, BINDING);
    device.write(reply, DEVICE);
    return reply.code(204).send();
  });
  app.post('/out', async (_request, reply) => {
    refresh.clear(reply);
    return reply.code(204).send();
  });
  app.post('/read', async (request) => ({ refresh: refresh.read(request) ?? null, binding: refresh.readBinding(request) ?? null, device: device.read(request) ?? null }));
  return app;
}

const setCookies = (res: LightMyRequestResponse): string[] => {
  const raw = res.headers['set-cookie'];
  return raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
};

describe('the auth cookies ignore the options of an app\'s own @fastify/cookie', () => {
  it.each(APP_OPTIONS)('%s: written as ever, read back', async (_name, parseOptions) => {
    await appWith(parseOptions);
    const lines = setCookies(await app.inject({ method: 'POST', url: '/in' }));
    expect(lines).toEqual([
      `refresh_token=${TOKEN}; Max-Age=60; Path=/api/v1/auth; HttpOnly; Secure; SameSite=Strict`,
      `${BINDING_COOKIE}=${BINDING}; Max-Age=60; Path=/; HttpOnly; Secure; SameSite=Strict`,
      `__Host-lc_device_token=${DEVICE}; Max-Age=7776000; Path=/; HttpOnly; Secure; SameSite=Strict`,
    ]);
    const cleared = setCookies(await app.inject({ method: 'POST', url: '/out', headers: { cookie: `refresh_token=${TOKEN}` } }));
    expect(cleared).toEqual([
      `refresh_token=; Max-Age=0; Path=/api/v1/auth; ${EPOCH}; HttpOnly; Secure; SameSite=Strict`,
      `${BINDING_COOKIE}=; Max-Age=0; Path=/; ${EPOCH}; HttpOnly; Secure; SameSite=Strict`,
    ]);
    const cookies = lines.map((l) => l.split(';')[0]).join('; ');
    expect((await app.inject({ method: 'POST', url: '/read', headers: { cookie: cookies } })).json()).toEqual({ refresh: TOKEN, binding: BINDING, device: DEVICE });
  });

  it('hook: false (request.cookies never parsed): read, and expired on a refusal', async () => {
    await appWith({}, false);
    const read = await app.inject({ method: 'POST', url: '/read', headers: { cookie: `refresh_token=${TOKEN}; ${BINDING_COOKIE}=${BINDING}; __Host-lc_device_token=${DEVICE}` } });
    expect([read.statusCode, read.json()]).toEqual([200, { refresh: TOKEN, binding: BINDING, device: DEVICE }]);
    const out = await app.inject({ method: 'POST', url: '/out', headers: { cookie: `refresh_token=${TOKEN}` } });
    expect([out.statusCode, setCookies(out).length]).toEqual([204, 2]);
  });

  it('a percent-encoded token is read decoded (as the cookie parser did), a quoted or malformed one as sent', async () => {
    await appWith({});
    const read = async (value: string) => (await app.inject({ method: 'POST', url: '/read', headers: { cookie: `refresh_token=${value}` } })).json().refresh as string | null;
    expect(await read(`%41${'A'.repeat(42)}`)).toBe(TOKEN);
    expect(await read(`"${TOKEN}"`)).toBe(`"${TOKEN}"`);
    expect(await read('%E0%A4%A')).toBe('%E0%A4%A');
    expect(await read(` ${TOKEN}\t`)).toBe(TOKEN);
    expect(await read('')).toBe('');
  });
});

/** The auth API with the app's own @fastify/cookie registered first: sign-in, two refreshes, sign-out. */
describe('registerAuth after an app\'s own @fastify/cookie', () => {
  async function authWith(parseOptions: Record<string, unknown>) {
    const { db, drop } = await sqliteEngine.open();
    const events = memorySecurityEvents();
    app = Fastify();
    await app.register(cookie, { secret: SECRET, parseOptions });
    await registerAuth(app, {
      db,
      store: createMemoryStore({ clock: manualClock(Date.now()) }),
      events,
      mail: capturedMailTransport(),
      password: FAST_ARGON2,
      resetUrl: 'https://app.example.com/reset-password',
      appOrigin: 'https://app.example.com',
      secureCookies: true,
      cleanupIntervalMs: 0,
    });
    cleanup = () => {
      void db.destroy().finally(drop);
    };
    return events;
  }
  const post = (url: string, cookies: string, body?: unknown) =>
    app.inject({
      method: 'POST',
      url: `/api/v1/auth${url}`,
      headers: { origin: 'https://app.example.com', ...(cookies === '' ? {} : { cookie: cookies }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
  /** What a browser sends back of the answer's auth cookies (their `name=value`). */
  const jar = (res: LightMyRequestResponse) => setCookies(res).filter((l) => !l.includes('device')).map((l) => l.split(';')[0]).join('; ');

  it.each(APP_OPTIONS)('%s: signs in, refreshes twice, signs out', async (_name, parseOptions) => {
    const events = await authWith(parseOptions);
    const credentials = { email: 'user@example.com', password: 'correct horse battery staple' };
    expect((await post('/register', '', credentials)).statusCode).toBe(201);
    const login = await post('/login', '', credentials);
    expect(login.statusCode).toBe(200);
    expect(setCookies(login).map((l) => l.replace(/=[A-Za-z0-9_-]{43};/, '=T;'))).toEqual([
      'refresh_token=T; Max-Age=604800; Path=/api/v1/auth; HttpOnly; Secure; SameSite=Strict',
      `${BINDING_COOKIE}=T; Max-Age=604800; Path=/; HttpOnly; Secure; SameSite=Strict`,
      '__Host-lc_device_token=T; Max-Age=7776000; Path=/; HttpOnly; Secure; SameSite=Strict',
    ]);
    let cookies = jar(login);
    for (let i = 0; i < 2; i++) {
      const refreshed = await post('/refresh-token', cookies);
      expect(refreshed.statusCode, refreshed.body).toBe(200);
      cookies = jar(refreshed);
    }
    const out = await post('/logout', cookies);
    expect(out.statusCode).toBe(204);
    expect(setCookies(out)).toEqual([
      `refresh_token=; Max-Age=0; Path=/api/v1/auth; ${EPOCH}; HttpOnly; Secure; SameSite=Strict`,
      `${BINDING_COOKIE}=; Max-Age=0; Path=/; ${EPOCH}; HttpOnly; Secure; SameSite=Strict`,
    ]);
    expect(events.events.map((e) => e.event).filter((e) => e === 'malicious_csrf' || e === 'authn_token_reuse')).toEqual([]);
  });
});
