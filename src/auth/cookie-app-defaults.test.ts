/**
 * An app may register `@fastify/cookie` itself before `registerAuth` (which then reuses it), with
 * default attributes of its own in `parseOptions` (`domain: 'example.com'` to share its own cookies
 * with its subdomains, `signed: true`): the plugin applies them to every `reply.setCookie`. The
 * refresh token's companion then went out as `__Host-…; Domain=example.com`, which browsers refuse
 * (`__Host-` forbids `Domain`): its token, bound to a companion the browser never kept, was refused
 * at the first refresh, every user signed out in production. The refresh cookie went to every
 * sibling subdomain (host-only no more), and a signed default made both values unreadable. The auth
 * cookies now set their own `Domain` (none) and `signed` whatever the app's defaults.
 */
import cookie from '@fastify/cookie';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { BINDING_COOKIE, createRefreshCookie } from './cookie.js';
import { createDeviceCookie } from './device.js';

const TOKEN = 'A'.repeat(43);
const BINDING = 'B'.repeat(43);
const DEVICE = 'C'.repeat(43);

let app: FastifyInstance;
afterEach(async () => {
  await app.close();
});

async function appWith(parseOptions: Record<string, unknown>): Promise<FastifyInstance> {
  app = Fastify();
  await app.register(cookie, { secret: 'an app secret of its own, long enough', parseOptions });
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

const setCookies = (raw: string | string[] | number | undefined): string[] => (raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)]);

describe('the auth cookies ignore the default attributes of an app\'s own @fastify/cookie', () => {
  it.each([
    ['domain', { domain: 'example.com' }],
    ['signed', { signed: true }],
    ['both', { domain: 'example.com', signed: true }],
  ])('%s: host-only, unsigned, and read back', async (_name, parseOptions) => {
    await appWith(parseOptions);
    const lines = setCookies((await app.inject({ method: 'POST', url: '/in' })).headers['set-cookie']);
    expect(lines).toEqual([
      `refresh_token=${TOKEN}; Max-Age=60; Path=/api/v1/auth; HttpOnly; Secure; SameSite=Strict`,
      `${BINDING_COOKIE}=${BINDING}; Max-Age=60; Path=/; HttpOnly; Secure; SameSite=Strict`,
      `__Host-lc_device_token=${DEVICE}; Max-Age=7776000; Path=/; HttpOnly; Secure; SameSite=Strict`,
    ]);
    const cleared = setCookies((await app.inject({ method: 'POST', url: '/out', headers: { cookie: `refresh_token=${TOKEN}` } })).headers['set-cookie']);
    expect(cleared.map((l) => /Domain/i.test(l))).toEqual([false, false]);
    const cookies = lines.map((l) => l.split(';')[0]).join('; ');
    expect((await app.inject({ method: 'POST', url: '/read', headers: { cookie: cookies } })).json()).toEqual({ refresh: TOKEN, binding: BINDING, device: DEVICE });
  });
});
