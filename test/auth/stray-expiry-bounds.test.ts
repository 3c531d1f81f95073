/**
 * A refused refresh that carried a refresh cookie without its companion also expires `refresh_token`
 * for each parent domain of the host, on each path the browser sends to the endpoint
 * (stray-refresh-cookie.test.ts). The host and the path are the client's to choose (`Host`, or
 * `X-Forwarded-Host` under `trustProxy`; the path's extra slashes where the app's router ignores
 * duplicate ones, a prefix parameter of its own), and the answer had parents × paths lines, each as
 * long as its domain and path: a Host of 4,000 one-letter labels (8 KB) made 32,000 lines, 132 MB in
 * one answer, seconds of work, from one request anyone can send (a made-up token is enough). Now only
 * a DNS name (at most 253 characters) is tried, at most its 4 parents nearest the root, and a path of
 * at most 256 characters and 16 cookie paths; otherwise the answer is the host-only expiry alone, as
 * before the parent-domain expiry. An ordinary host (`app.example.com`) keeps its 8 lines.
 */
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BINDING_COOKIE } from '../../src/auth/cookie.js';
import { capturedMailTransport, registerAuth } from '../../src/auth/index.js';
import { manualClock } from '../../src/core/clock.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createDatabase, migrateToLatest } from '../../src/sql/index.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { FAST_ARGON2 } from './harness.js';

const ORIGIN = 'https://app.example.com';
const MANY = { limit: 1_000, windowSeconds: 60 };
const TAIL = '; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict';
/** What a refusal answered before the parent-domain expiry: the host-only pair expired. */
const HOST_ONLY = `refresh_token=; Max-Age=0; Path=/api/v1/auth${TAIL}`;
const COMPANION = `${BINDING_COOKIE}=; Max-Age=0; Path=/${TAIL}`;
const ENDPOINT_PATHS = ['/', '/api', '/api/', '/api/v1', '/api/v1/', '/api/v1/auth', '/api/v1/auth/', '/api/v1/auth/refresh-token'];
const parentLines = (domain: string, paths = ENDPOINT_PATHS) => paths.map((path) => `refresh_token=; Max-Age=0; Domain=${domain}; Path=${path}${TAIL}`);

const dir = mkdtempSync(join(tmpdir(), 'lc-stray-bounds-'));
const db = createDatabase(`sqlite:${join(dir, 'auth.db')}`);
beforeAll(async () => {
  await migrateToLatest(db);
});
afterAll(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

let app: FastifyInstance;
afterEach(async () => {
  await app.close();
});

/** `registerAuth` with Secure cookies on `Fastify(fastifyOptions)`, under `prefix` when given. */
async function start(fastifyOptions: Record<string, unknown> = {}, prefix?: string): Promise<void> {
  app = Fastify(fastifyOptions);
  const auth = async (scope: FastifyInstance) => {
    await registerAuth(scope, {
      db,
      store: createMemoryStore({ clock: manualClock(Date.now()) }),
      events: memorySecurityEvents(),
      mail: capturedMailTransport(),
      password: FAST_ARGON2,
      resetUrl: `${ORIGIN}/reset-password`,
      appOrigin: ORIGIN,
      secureCookies: true,
      cleanupIntervalMs: 0,
      limits: { 'refresh-token': MANY },
    });
  };
  if (prefix === undefined) await auth(app);
  else await app.register(auth, { prefix });
  await app.ready();
}

/** A refresh with a made-up token alone (no companion): refused, and its Set-Cookie lines. */
async function refused(url: string, headers: Record<string, string>): Promise<string[]> {
  const res: LightMyRequestResponse = await app.inject({ method: 'POST', url, headers: { origin: ORIGIN, cookie: `refresh_token=${'A'.repeat(43)}`, ...headers } });
  expect(res.statusCode).toBe(401);
  const raw = res.headers['set-cookie'];
  return raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
}

describe('the parent-domain expiry of a refused refresh is bounded', () => {
  it('a Host longer than a DNS name (100+ labels, 300+ characters): the host-only pair alone', async () => {
    await start();
    const host = `${'a.'.repeat(150)}example.com`;
    expect(host.length).toBe(311);
    expect(await refused('/api/v1/auth/refresh-token', { host })).toEqual([HOST_ONLY, COMPANION]);
    // 8 KB of one-letter labels (32,000 lines, 132 MB before), and an ordinary host as ever.
    expect(await refused('/api/v1/auth/refresh-token', { host: `${'a.'.repeat(4_000)}example.com` })).toEqual([HOST_ONLY, COMPANION]);
    expect(await refused('/api/v1/auth/refresh-token', { host: 'app.example.com' })).toEqual([HOST_ONLY, ...parentLines('example.com'), COMPANION]);
  });

  it('a DNS name of 123 labels: its 4 parents nearest the root, 8 paths each', async () => {
    await start();
    const host = `${'a.'.repeat(120)}example.com`;
    expect(host.length).toBe(251);
    expect(await refused('/api/v1/auth/refresh-token', { host: host.toUpperCase() })).toEqual([
      HOST_ONLY,
      ...parentLines('a.a.a.example.com'),
      ...parentLines('a.a.example.com'),
      ...parentLines('a.example.com'),
      ...parentLines('example.com'),
      COMPANION,
    ]);
  });

  it('X-Forwarded-Host under trustProxy: the same bound', async () => {
    await start({ trustProxy: true });
    expect(await refused('/api/v1/auth/refresh-token', { host: 'app.example.com', 'x-forwarded-host': `${'b.'.repeat(2_000)}example.com` })).toEqual([HOST_ONLY, COMPANION]);
    expect(await refused('/api/v1/auth/refresh-token', { host: 'internal', 'x-forwarded-host': 'app.example.com' })).toEqual([HOST_ONLY, ...parentLines('example.com'), COMPANION]);
  });

  it('a router that ignores duplicate slashes: a path of more than 16 cookie paths gets the host-only pair alone', async () => {
    await start({ routerOptions: { ignoreDuplicateSlashes: true } });
    expect(await refused(`/api${'/'.repeat(3_000)}v1/auth/refresh-token`, { host: 'app.example.com' })).toEqual([HOST_ONLY, COMPANION]);
    // One more slash: 10 paths (one of them twice), within the bound.
    const paths = ['/', '/api', '/api/', '/api/', '/api//', '/api//v1', '/api//v1/', '/api//v1/auth', '/api//v1/auth/', '/api//v1/auth/refresh-token'];
    expect(await refused('/api//v1/auth/refresh-token', { host: 'app.example.com' })).toEqual([HOST_ONLY, ...parentLines('example.com', paths), COMPANION]);
  });

  it('a path longer than 256 characters (the app\'s own prefix parameter, maxParamLength raised): the host-only pair alone', async () => {
    await start({ routerOptions: { maxParamLength: 1_000 } }, '/:tenant');
    expect(await refused(`/${'t'.repeat(300)}/api/v1/auth/refresh-token`, { host: 'app.example.com' })).toEqual([HOST_ONLY, COMPANION]);
  });
});
