/**
 * `authRoutes`, `createRefreshCookie` and `createAuthService` are exported for apps that wire the
 * auth API by hand instead of with `registerAuth` (which derives both from one `secureCookies`).
 * Wired separately they could disagree on the refresh token's companion cookie (cookie.ts):
 * - `createRefreshCookie(true)` (Secure cookies, a companion with each token) with a service created
 *   without `secureCookies: true`: the service issued no companion and bound no token, so a token
 *   planted by a sibling subdomain rotated as before — the login-CSRF defence off, without a word;
 * - a service created with `secureCookies: true` and `createRefreshCookie(false)`: every token bound
 *   to a companion the cookie never set, so every refresh refused (and a `malicious_csrf` each).
 * Registering the routes now refuses the mismatch with a TypeError naming both settings.
 */
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { FAST_ARGON2, useSqliteAuthDatabase } from '../../test/auth/harness.js';
import { manualClock } from '../core/clock.js';
import { memorySecurityEvents } from '../ops/security-events.js';
import { createMemoryStore } from '../store/memory/index.js';
import { createDeviceCookie } from './device.js';
import { AUTH_PREFIX, authRoutes, createAuthLimiter, createAuthService, createRefreshCookie, resolveApiOrigins } from './index.js';
import { capturedMailTransport } from './mail.js';

const { db } = useSqliteAuthDatabase('hand-wiring');
const store = createMemoryStore({ clock: manualClock(Date.now()) });
const events = memorySecurityEvents();

let app: FastifyInstance;
afterEach(async () => {
  await app.close();
});

async function wire(serviceSecure: boolean | undefined, cookieSecure: boolean): Promise<void> {
  const service = createAuthService({
    db,
    store,
    events,
    mail: capturedMailTransport(),
    password: FAST_ARGON2,
    resetUrl: 'https://app.example.com/reset-password',
    ...(serviceSecure === undefined ? {} : { secureCookies: serviceSecure }),
  });
  app = Fastify();
  await app.register(authRoutes, {
    prefix: AUTH_PREFIX,
    service,
    limiter: createAuthLimiter({ store, events }),
    origins: resolveApiOrigins('https://app.example.com', []),
    cookie: createRefreshCookie(cookieSecure),
    device: createDeviceCookie(cookieSecure),
  });
}

describe('hand-wired authRoutes', () => {
  it.each([undefined, false])('refuses createRefreshCookie(true) with a service of secureCookies %j (Secure cookies, no binding)', async (serviceSecure) => {
    const registered = wire(serviceSecure, true);
    await expect(registered).rejects.toThrow(TypeError);
    await expect(registered).rejects.toThrow(
      'authRoutes: the refresh cookie carries the companion (createRefreshCookie(true)), but the service does not bind refresh tokens to it (createAuthService without secureCookies: true)',
    );
  });

  it('refuses a service of secureCookies: true with createRefreshCookie(false) (every refresh refused)', async () => {
    const registered = wire(true, false);
    await expect(registered).rejects.toThrow(TypeError);
    await expect(registered).rejects.toThrow(
      'authRoutes: the service binds refresh tokens to the companion cookie (createAuthService with secureCookies: true), but the refresh cookie carries none (createRefreshCookie(false))',
    );
  });

  it.each([
    [true, true],
    [false, false],
  ])('service secureCookies %j with createRefreshCookie(%j): signs in and refreshes', async (serviceSecure, cookieSecure) => {
    await wire(serviceSecure, cookieSecure);
    const email = `user-${serviceSecure}@example.com`;
    const post = (url: string, headers: Record<string, string>, body?: unknown) =>
      app.inject({ method: 'POST', url: `${AUTH_PREFIX}${url}`, headers: { origin: 'https://app.example.com', ...headers }, ...(body === undefined ? {} : { payload: body as object }) });
    expect((await post('/register', {}, { email, password: 'correct horse battery staple' })).statusCode).toBe(201);
    const login = await post('/login', {}, { email, password: 'correct horse battery staple' });
    expect(login.statusCode).toBe(200);
    const jar = (res: LightMyRequestResponse) => ([] as string[]).concat(res.headers['set-cookie'] ?? []).filter((l) => !l.includes('device')).map((l) => l.split(';')[0] as string);
    expect(jar(login).map((c) => c.split('=')[0])).toEqual(cookieSecure ? ['refresh_token', '__Host-lc_refresh_binding_token'] : ['refresh_token']);
    const refreshed = await post('/refresh-token', { cookie: jar(login).join('; ') });
    expect(refreshed.statusCode).toBe(200);
    // Bound exactly when Secure: the refresh token alone (a planted one) is refused.
    const alone = await post('/refresh-token', { cookie: jar(refreshed)[0]! });
    expect(alone.statusCode).toBe(cookieSecure ? 401 : 200);
  });
});
