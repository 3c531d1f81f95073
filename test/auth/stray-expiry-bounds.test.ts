/**
 * A refused refresh that carried a refresh cookie without its companion also expires `refresh_token`
 * for each parent domain of the host and for the host itself (`Domain=<host>`), on each path the
 * browser sends to the endpoint, and again with `Partitioned` (stray-refresh-cookie.test.ts). The host and the path are the client's to choose (`Host`, or
 * `X-Forwarded-Host` under `trustProxy`; the path's extra slashes where the app's router ignores
 * duplicate ones, a prefix parameter of its own), and the answer had parents × paths lines, each as
 * long as its domain and path: a Host of 4,000 one-letter labels (8 KB) made 32,000 lines, 132 MB in
 * one answer, seconds of work, from one request anyone can send (a made-up token is enough). Now only
 * a DNS name (at most 253 characters) is tried, at most its 4 parents nearest the root, and a path of
 * at most 256 characters and 16 cookie paths; otherwise the answer is the host-only expiry alone, as
 * before the parent-domain expiry. An ordinary host (`app.example.com`) gets its 32 lines: 2 domains
 * × 8 paths, unpartitioned and `Partitioned`.
 */
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BINDING_COOKIE } from '../../src/auth/cookie.js';
import { capturedMailTransport, registerAuth } from '../../src/auth/index.js';
import { manualClock } from '../../src/core/clock.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { rawHead } from '../helpers/raw-http.js';
import { FAST_ARGON2, useSqliteAuthDatabase } from './harness.js';

const ORIGIN = 'https://app.example.com';
const MANY = { limit: 1_000, windowSeconds: 60 };
const TAIL = '; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict';
/** What a refusal answered before the parent-domain expiry: the host-only pair expired. */
const HOST_ONLY = `refresh_token=; Max-Age=0; Path=/api/v1/auth${TAIL}`;
const COMPANION = `${BINDING_COOKIE}=; Max-Age=0; Path=/${TAIL}`;
const ENDPOINT_PATHS = ['/', '/api', '/api/', '/api/v1', '/api/v1/', '/api/v1/auth', '/api/v1/auth/', '/api/v1/auth/refresh-token'];
/** A domain's expiry: only what deletes that name, domain and path (`Max-Age=0`, and `Secure`). */
const plainLines = (domain: string, paths = ENDPOINT_PATHS) => paths.map((path) => `refresh_token=; Max-Age=0; Domain=${domain}; Path=${path}; Secure`);
/** The same for a partitioned cookie (CHIPS: `Partitioned`, which needs `Secure`). */
const partitionedLines = (domain: string, paths = ENDPOINT_PATHS) => plainLines(domain, paths).map((line) => `${line}; Partitioned`);
/** A domain's lines whole: unpartitioned, then `Partitioned`. */
const domainLines = (domain: string, paths = ENDPOINT_PATHS) => [...plainLines(domain, paths), ...partitionedLines(domain, paths)];
/** `app.example.com`'s: the host itself, then its parent (farthest from the root first). */
const APP_LINES = [...domainLines('app.example.com'), ...domainLines('example.com')];
/** The bytes a proxy reads for these lines from the app (HTTP/1.1): `Set-Cookie: <line>\r\n` each. */
const wire = (lines: string[]) => lines.reduce((sum, line) => sum + Buffer.byteLength(`Set-Cookie: ${line}\r\n`), 0);
/** Every `Set-Cookie` of a refusal stays under 4 KB, the host-only pair (271 bytes) included. */
const SET_COOKIE_BUDGET = 4_096;

const { db } = useSqliteAuthDatabase('stray-bounds');

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
    expect(await refused('/api/v1/auth/refresh-token', { host: 'app.example.com' })).toEqual([HOST_ONLY, ...APP_LINES, COMPANION]);
  });

  it('a DNS name of 123 labels, in upper case: its parents nearest the root while they fit, neither the farther ones nor the host', async () => {
    await start();
    const host = `${'a.'.repeat(120)}example.com`;
    expect(host.length).toBe(251);
    // example.com (1,440 bytes) and a.example.com (1,472) whole; a.a.example.com's first 8 lines
    // (700) would make 3,612.
    expect(await refused('/api/v1/auth/refresh-token', { host: host.toUpperCase() })).toEqual([HOST_ONLY, ...domainLines('a.example.com'), ...domainLines('example.com'), COMPANION]);
  });

  it('an apex host (example.com, which had no parent to try): its own Domain lines', async () => {
    await start();
    expect(await refused('/api/v1/auth/refresh-token', { host: 'example.com' })).toEqual([HOST_ONLY, ...domainLines('example.com'), COMPANION]);
    // A trailing dot (the absolute name) and upper case: the same name.
    expect(await refused('/api/v1/auth/refresh-token', { host: 'Example.COM.' })).toEqual([HOST_ONLY, ...domainLines('example.com'), COMPANION]);
  });

  it('hosts with no Domain to try: an IP address, a single label, a raw IDN; punycode as sent', async () => {
    await start();
    for (const host of ['192.0.2.7', '192.0.2.7:8443', '[2001:db8::1]', '[2001:db8::1]:8443', 'localhost', 'localhost:3000', 'intranet.']) {
      expect(await refused('/api/v1/auth/refresh-token', { host }), host).toEqual([HOST_ONLY, COMPANION]);
    }
    // UTF-8 in the Host (no browser sends it: it sends punycode) is no Domain a line can carry; its
    // ASCII parent still is. The port is no part of a cookie's domain.
    expect(await refused('/api/v1/auth/refresh-token', { host: 'bücher.example.com:8443' })).toEqual([HOST_ONLY, ...domainLines('example.com'), COMPANION]);
    expect(await refused('/api/v1/auth/refresh-token', { host: 'xn--bcher-kva.example.com' })).toEqual([
      HOST_ONLY,
      ...domainLines('xn--bcher-kva.example.com'),
      ...domainLines('example.com'),
      COMPANION,
    ]);
  });

  it('many planted cookies: 180 of one value get the same 34 lines as one (the lines depend on the host and path alone); one other value among them, none', async () => {
    await start();
    const token = 'A'.repeat(43);
    const many = Array.from({ length: 180 }, () => `refresh_token=${token}`).join('; ');
    const res = await app.inject({ method: 'POST', url: '/api/v1/auth/refresh-token', headers: { origin: ORIGIN, host: 'app.example.com', cookie: many } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['set-cookie']).toEqual([HOST_ONLY, ...APP_LINES, COMPANION]);
    // A tossed pair among them (two values): nothing expired, as ever.
    const tossed = await app.inject({ method: 'POST', url: '/api/v1/auth/refresh-token', headers: { origin: ORIGIN, host: 'app.example.com', cookie: `${many}; refresh_token=${'B'.repeat(43)}` } });
    expect(tossed.statusCode).toBe(401);
    expect(tossed.headers['set-cookie']).toBeUndefined();
  });

  it('X-Forwarded-Host under trustProxy: the same bound', async () => {
    await start({ trustProxy: true });
    expect(await refused('/api/v1/auth/refresh-token', { host: 'app.example.com', 'x-forwarded-host': `${'b.'.repeat(2_000)}example.com` })).toEqual([HOST_ONLY, COMPANION]);
    expect(await refused('/api/v1/auth/refresh-token', { host: 'internal', 'x-forwarded-host': 'app.example.com' })).toEqual([HOST_ONLY, ...APP_LINES, COMPANION]);
  });

  it('a router that ignores duplicate slashes: a path of more than 16 cookie paths gets the host-only pair alone', async () => {
    await start({ routerOptions: { ignoreDuplicateSlashes: true } });
    expect(await refused(`/api${'/'.repeat(3_000)}v1/auth/refresh-token`, { host: 'app.example.com' })).toEqual([HOST_ONLY, COMPANION]);
    // One more slash: 10 paths (one of them twice), within the bound. example.com whole (1,794 bytes),
    // the host's unpartitioned lines (872); its Partitioned ones (1,002) would make 3,668.
    const paths = ['/', '/api', '/api/', '/api/', '/api//', '/api//v1', '/api//v1/', '/api//v1/auth', '/api//v1/auth/', '/api//v1/auth/refresh-token'];
    expect(await refused('/api//v1/auth/refresh-token', { host: 'app.example.com' })).toEqual([HOST_ONLY, ...plainLines('app.example.com', paths), ...domainLines('example.com', paths), COMPANION]);
  });

  it('a path longer than 256 characters (the app\'s own prefix parameter, maxParamLength raised): the host-only pair alone', async () => {
    await start({ routerOptions: { maxParamLength: 1_000 } }, '/:tenant');
    expect(await refused(`/${'t'.repeat(300)}/api/v1/auth/refresh-token`, { host: 'app.example.com' })).toEqual([HOST_ONLY, COMPANION]);
  });
});

/**
 * The whole refusal must fit what a proxy reads of an answer's headers (the shipped nginx: 16 KB; 4 KB
 * before, when a refusal for `a.b.c.example.co.uk` was 5.8 KB and nginx answered 502 "upstream sent
 * too big header", and the browser got neither the 401 nor the expiries). Each `Domain` line is only
 * what deletes that cookie, and all of them together at most 3,584 bytes: the parent domains from the
 * one nearest the root, then the host, each domain's lines whole and then its `Partitioned` lines
 * whole, while they fit. Exact byte counts, computed from the lines (63 + |domain| + |path| bytes on
 * the wire each, 13 more with `Partitioned`: 580 + 8 × |domain| and 684 + 8 × |domain| for the 8
 * paths of the endpoint).
 */
describe('the Domain expiry of a refused refresh fits a proxy\'s header buffer', () => {
  it('the hosts of the nginx finding: every line, and the bytes of all of them', async () => {
    await start();
    const strays = async (host: string) => (await refused('/api/v1/auth/refresh-token', { host })).slice(1, -1);
    // Before the host and Partitioned lines: 668, 1,304, 2,148 and 2,720 bytes, the parents alone
    // (1,196, 2,360, 3,732 and 4,832 before the lines were minimal). Now the nearest the root first:
    // app.example.com all of it (example.com 668 + 772, the host 700 + 804); app.example.co.uk the
    // host unpartitioned (its Partitioned lines, 820, would make 4,352); the two longer ones the two
    // parents nearest the root whole, and the third's unpartitioned lines when they fit.
    const hosts: [string, string[], number][] = [
      ['app.example.com', [...domainLines('app.example.com'), ...domainLines('example.com')], 2_944],
      ['app.example.co.uk', [...plainLines('app.example.co.uk'), ...domainLines('example.co.uk'), ...domainLines('co.uk')], 3_532],
      ['app.eu-west-1.svc.example.com', [...domainLines('svc.example.com'), ...domainLines('example.com')], 2_944],
      ['a.b.c.example.co.uk', [...plainLines('c.example.co.uk'), ...domainLines('example.co.uk'), ...domainLines('co.uk')], 3_516],
    ];
    for (const [host, expected, bytes] of hosts) {
      const lines = await strays(host);
      expect(lines, host).toEqual(expected);
      expect(wire(lines), host).toBe(bytes);
      expect(wire([HOST_ONLY, ...lines, COMPANION]), host).toBe(bytes + 271);
    }
  });

  it('the longest host allowed (253 characters, 4 parents of 245 to 251): the parent nearest the root alone, unpartitioned', async () => {
    await start();
    const host = `a.b.c.d.e.${'x'.repeat(243)}`;
    expect(host.length).toBe(253);
    const all = await refused('/api/v1/auth/refresh-token', { host });
    // Before the bound: 32 lines, 12,368 bytes. The nearest the root fits (2,540 bytes), not with its
    // Partitioned lines (2,644 more).
    expect(all).toEqual([HOST_ONLY, ...plainLines(`e.${'x'.repeat(243)}`), COMPANION]);
    expect(wire(all)).toBe(2_811);
  });

  it('every host of 6 labels up to 253 characters, 8 and 16 paths: at most 3,584 bytes of Domain lines, under 4 KB in all', async () => {
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
    // Reached with the parent nearest the root, 10 paths twice (`e.` and 98 letters, under the
    // one-letter prefix): the budget is used, not exceeded.
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
    // The 2 parents nearest the root whole (8 paths, unpartitioned and Partitioned): 3,584 bytes of
    // them, the budget to the byte, and the host-only pair.
    expect(largest).toEqual({ bytes: 3_584 + 271, host: `a.b.c.d.e.${'x'.repeat(30)}` });
    expect(await refused('/api/v1/auth/refresh-token', { host: largest.host })).toEqual([
      HOST_ONLY,
      ...domainLines(`d.e.${'x'.repeat(30)}`),
      ...domainLines(`e.${'x'.repeat(30)}`),
      COMPANION,
    ]);
    const { host } = largest;
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const head = await rawHead(port, `POST /api/v1/auth/refresh-token HTTP/1.1\r\nHost: ${host}\r\nOrigin: ${ORIGIN}\r\nCookie: refresh_token=${'A'.repeat(43)}\r\nContent-Length: 0\r\n\r\n`);
    expect(head).toMatch(/^HTTP\/1\.1 401 /);
    expect(head.match(/^set-cookie: /gim)).toHaveLength(34);
    // Status line, CORS and rate-limit headers (755 left: 3 digits), Date, and 34 Set-Cookie lines.
    // Over nginx's default 4 KB (a 502 there); within its 16 KB and a proxy's 8 KB.
    expect(Buffer.byteLength(head, 'latin1')).toBe(4_515);
    expect(Buffer.byteLength(head, 'latin1')).toBeLessThan(8_192);
  });
});
