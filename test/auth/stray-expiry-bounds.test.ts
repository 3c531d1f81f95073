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
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BINDING_COOKIE } from '../../src/auth/cookie.js';
import { capturedMailTransport, registerAuth } from '../../src/auth/index.js';
import { manualClock } from '../../src/core/clock.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createDatabase, migrateToLatest } from '../../src/sql/index.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { rawHead } from '../helpers/raw-http.js';
import { FAST_ARGON2 } from './harness.js';

const ORIGIN = 'https://app.example.com';
const MANY = { limit: 1_000, windowSeconds: 60 };
const TAIL = '; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict';
/** What a refusal answered before the parent-domain expiry: the host-only pair expired. */
const HOST_ONLY = `refresh_token=; Max-Age=0; Path=/api/v1/auth${TAIL}`;
const COMPANION = `${BINDING_COOKIE}=; Max-Age=0; Path=/${TAIL}`;
const ENDPOINT_PATHS = ['/', '/api', '/api/', '/api/v1', '/api/v1/', '/api/v1/auth', '/api/v1/auth/', '/api/v1/auth/refresh-token'];
/** A parent-domain expiry: only what deletes that name, domain and path (`Max-Age=0`, and `Secure`). */
const parentLines = (domain: string, paths = ENDPOINT_PATHS) => paths.map((path) => `refresh_token=; Max-Age=0; Domain=${domain}; Path=${path}; Secure`);
/** The bytes a proxy reads for these lines from the app (HTTP/1.1): `Set-Cookie: <line>\r\n` each. */
const wire = (lines: string[]) => lines.reduce((sum, line) => sum + Buffer.byteLength(`Set-Cookie: ${line}\r\n`), 0);
/** Every `Set-Cookie` of a refusal stays under 4 KB, the host-only pair (271 bytes) included. */
const SET_COOKIE_BUDGET = 4_096;

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

/**
 * The whole refusal must fit what a proxy reads of an answer's headers (the shipped nginx: 16 KB; 4 KB
 * before, when a refusal for `a.b.c.example.co.uk` was 5.8 KB and nginx answered 502 "upstream sent
 * too big header", and the browser got neither the 401 nor the expiries). Each parent-domain line is
 * only what deletes that cookie, and all of them together at most 3,584 bytes: whole domains, from
 * the one nearest the root, while they fit. Exact byte counts, computed from the lines.
 */
describe('the parent-domain expiry of a refused refresh fits a proxy\'s header buffer', () => {
  it('the hosts of the nginx finding: every line, and the bytes of all of them', async () => {
    await start();
    const strays = async (host: string) => (await refused('/api/v1/auth/refresh-token', { host })).slice(1, -1);
    // Before: 1,196, 2,360, 3,732 and 4,832 bytes of parent-domain lines.
    const hosts: [string, string[], number][] = [
      ['app.example.com', ['example.com'], 668],
      ['app.example.co.uk', ['example.co.uk', 'co.uk'], 1_304],
      ['app.eu-west-1.svc.example.com', ['eu-west-1.svc.example.com', 'svc.example.com', 'example.com'], 2_148],
      ['a.b.c.example.co.uk', ['b.c.example.co.uk', 'c.example.co.uk', 'example.co.uk', 'co.uk'], 2_720],
    ];
    for (const [host, domains, bytes] of hosts) {
      const lines = await strays(host);
      expect(lines, host).toEqual(domains.flatMap((domain) => parentLines(domain)));
      expect(wire(lines), host).toBe(bytes);
      expect(wire([HOST_ONLY, ...lines, COMPANION]), host).toBe(bytes + 271);
    }
  });

  it('the longest host allowed (253 characters, 4 parents of 245 to 251): the parent nearest the root alone', async () => {
    await start();
    const host = `a.b.c.d.e.${'x'.repeat(243)}`;
    expect(host.length).toBe(253);
    const all = await refused('/api/v1/auth/refresh-token', { host });
    // Before: 32 lines, 12,368 bytes. All four (10,256 bytes) do not fit; the nearest the root does.
    expect(all).toEqual([HOST_ONLY, ...parentLines(`e.${'x'.repeat(243)}`), COMPANION]);
    expect(wire(all)).toBe(2_811);
  });

  it('every host of 6 labels up to 253 characters, 8 and 16 paths: at most 3,584 bytes of parent-domain lines, under 4 KB in all', async () => {
    await start({ routerOptions: { ignoreDuplicateSlashes: true, maxParamLength: 1_000 } }, '/:tenant');
    let largest = 0;
    // The endpoint under a one-letter prefix parameter (10 paths), with three more slashes (16), and
    // with the longest prefix that keeps the path within 256 characters (16 paths, no line fits).
    const urls = ['/t/api/v1/auth/refresh-token', '/t/api////v1/auth/refresh-token', `/${'t'.repeat(225)}/api////v1/auth/refresh-token`];
    expect(urls.map((u) => u.length)).toEqual([28, 31, 255]);
    for (const url of urls) {
      for (let last = 1; last <= 243; last++) {
        const all = await refused(url, { host: `a.b.c.d.e.${'x'.repeat(last)}` });
        const bytes = wire(all.slice(1, -1));
        expect(bytes, `${url} ${last}`).toBeLessThanOrEqual(3_584);
        expect(wire(all)).toBeLessThan(SET_COOKIE_BUDGET);
        largest = Math.max(largest, bytes);
      }
    }
    // Reached with 4 parents × 10 paths (`a.b.c.d.e.` and 12 letters): the budget is used, not exceeded.
    expect(largest).toBe(3_580);
  });

  it('the whole header block of the largest refusal at /api/v1/auth/refresh-token, as a proxy reads it from the app: under 8 KB', async () => {
    await start();
    let largest = { bytes: 0, host: '' };
    for (let last = 1; last <= 243; last++) {
      const host = `a.b.c.d.e.${'x'.repeat(last)}`;
      const bytes = wire(await refused('/api/v1/auth/refresh-token', { host }));
      if (bytes > largest.bytes) largest = { bytes, host };
    }
    // 2 parents × 8 paths, 3,576 bytes of them, and the host-only pair.
    expect(largest).toEqual({ bytes: 3_576 + 271, host: `a.b.c.d.e.${'x'.repeat(148)}` });
    const { host } = largest;
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const head = await rawHead(port, `POST /api/v1/auth/refresh-token HTTP/1.1\r\nHost: ${host}\r\nOrigin: ${ORIGIN}\r\nCookie: refresh_token=${'A'.repeat(43)}\r\nContent-Length: 0\r\n\r\n`);
    expect(head).toMatch(/^HTTP\/1\.1 401 /);
    expect(head.match(/^set-cookie: /gim)).toHaveLength(18);
    // Status line, CORS and rate-limit headers (756 left: 3 digits), Date, and 18 Set-Cookie lines.
    // Over nginx's default 4 KB (a 502 there); within its 16 KB and a proxy's 8 KB.
    expect(Buffer.byteLength(head, 'latin1')).toBe(4_507);
    expect(Buffer.byteLength(head, 'latin1')).toBeLessThan(8_192);
  });
});
