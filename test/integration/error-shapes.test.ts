/**
 * Every refusal of the reference app, on every kind of route, is PROTOCOL §3's error shape with a
 * code of the registry — also on routes that plugins register (CORS's preflight route, the account
 * pages) and for requests Node's HTTP parser refuses before Fastify sees them. Fastify's own shape
 * (`statusCode`, `FST_ERR_…` codes) must never reach a client.
 */
import type { Socket } from 'node:net';
import Fastify, { type InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/errors.js';
import { answerClientError, clientErrorCode } from '../../src/http/client-errors.js';
import { serverOptions } from '../../src/http/server-options.js';
import { demoApp } from '../helpers/demo.js';
import { rawExchange as rawAnswer } from '../helpers/raw-http.js';

let demo: Awaited<ReturnType<typeof demoApp>>;
let port = 0;
beforeAll(async () => {
  demo = await demoApp();
  await demo.app.listen({ port: 0, host: '127.0.0.1' });
  port = (demo.app.server.address() as { port: number }).port;
});
afterAll(() => demo?.app.close());

/** The body is exactly `{ error, code, request_id }` with a registry code matching the status. */
function expectProtocolError(status: number, text: string, requestIdHeader: unknown, code: string): void {
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['code', 'error', 'request_id']);
  expect(body.code).toBe(code);
  expect(ERROR_CODES[code as keyof typeof ERROR_CODES].status).toBe(status);
  expect(typeof body.error).toBe('string');
  expect(body.request_id).toBe(requestIdHeader);
  expect(text).not.toMatch(/FST_|statusCode|node_modules/);
}

describe('error shapes on routes plugins register', () => {
  const json = { 'content-type': 'application/json' };
  const cases: [string, InjectOptions, number, string][] = [
    [
      'a preflight from a foreign origin with a JSON content type and no body',
      { method: 'OPTIONS', url: '/api/livecomponents/action', headers: { ...json, origin: 'https://evil.test', 'access-control-request-method': 'POST' }, payload: '' },
      400,
      'INVALID_REQUEST',
    ],
    ['OPTIONS with malformed JSON', { method: 'OPTIONS', url: '/', headers: json, payload: '{' }, 400, 'INVALID_REQUEST'],
    ['an account page posted JSON (forms only there)', { method: 'POST', url: '/login', headers: json, payload: '{' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['an account page posted XML', { method: 'POST', url: '/login', headers: { 'content-type': 'application/xml' }, payload: '<a/>' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    [
      'an account page posted a form over the limit',
      { method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `email=${'a'.repeat(2_000_000)}` },
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    ['an unknown route posted malformed JSON', { method: 'POST', url: '/nowhere', headers: json, payload: '{' }, 400, 'INVALID_REQUEST'],
    ['an unknown route', { method: 'GET', url: '/nowhere' }, 404, 'NOT_FOUND'],
    ['the client bundle posted malformed JSON', { method: 'POST', url: '/livecomponents/client.js', headers: json, payload: '{' }, 400, 'INVALID_REQUEST'],
  ];
  for (const [name, request, status, code] of cases) {
    it(`${name}: ${status} ${code}`, async () => {
      const res = await demo.app.inject(request);
      expect(res.statusCode).toBe(status);
      expectProtocolError(res.statusCode, res.body, res.headers['x-request-id'], code);
    });
  }
});

describe('a path that exists for other methods', () => {
  const cases: [string, InjectOptions, string][] = [
    ['GET on the action route', { method: 'GET', url: '/api/livecomponents/action' }, 'POST'],
    ['GET on an auth API route', { method: 'GET', url: '/api/v1/auth/login?x=1' }, 'POST'],
    ['DELETE on a page', { method: 'DELETE', url: '/orders' }, 'GET, HEAD'],
    ['PUT on a page that also takes a form', { method: 'PUT', url: '/login' }, 'GET, HEAD, POST'],
  ];
  for (const [name, request, allow] of cases) {
    it(`${name}: 405 METHOD_NOT_ALLOWED, Allow: ${allow}`, async () => {
      const res = await demo.app.inject(request);
      expect(res.statusCode).toBe(405);
      expect(res.headers.allow).toBe(allow);
      expectProtocolError(res.statusCode, res.body, res.headers['x-request-id'], 'METHOD_NOT_ALLOWED');
    });
  }

  it('a path no method has stays 404 NOT_FOUND, without Allow', async () => {
    for (const method of ['GET', 'POST', 'DELETE'] as const) {
      const res = await demo.app.inject({ method, url: '/api/v1/auth/nowhere' });
      expect(res.statusCode).toBe(404);
      expect(res.headers.allow).toBeUndefined();
      expectProtocolError(res.statusCode, res.body, res.headers['x-request-id'], 'NOT_FOUND');
    }
  });
});

/** Sends `bytes` on a fresh connection to port `to` (the app's by default); resolves everything the server wrote until it closed. */
function rawExchange(bytes: string, to = port): Promise<string> {
  return rawAnswer(to, bytes);
}

function parseRaw(text: string): { status: number; headers: Record<string, string>; body: string } {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

describe("requests Node's parser refuses", () => {
  it('headers over the limit (a 20 KB cookie): 431 HEADERS_TOO_LARGE, and the connection closes', async () => {
    const res = parseRaw(await rawExchange(`GET / HTTP/1.1\r\nHost: x\r\nCookie: big=${'a'.repeat(20_000)}\r\n\r\n`));
    expect(res.status).toBe(431);
    expect(res.headers['connection']).toBe('close');
    expectProtocolError(res.status, res.body, res.headers['x-request-id'], 'HEADERS_TOO_LARGE');
  });

  it('a malformed request line: 400 INVALID_REQUEST', async () => {
    const res = parseRaw(await rawExchange('NOT AN HTTP REQUEST\r\n\r\n'));
    expect(res.status).toBe(400);
    expectProtocolError(res.status, res.body, res.headers['x-request-id'], 'INVALID_REQUEST');
  });

  // Bounded above by the test's own timeout, not timed (shared, noisy machines): with Node's default
  // check interval (30 s) instead of one scaled to the request timeout, the 408 comes too late.
  it('a body that never finishes (slowloris): 408 REQUEST_TIMEOUT once the request timeout passes', { timeout: 10_000 }, async () => {
    const app = Fastify(serverOptions({ requestTimeoutMs: 400 }));
    app.post('/echo', async (request) => request.body);
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const started = performance.now();
      const text = await rawExchange(
        'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":',
        (app.server.address() as { port: number }).port,
      );
      const res = parseRaw(text);
      expect(res.status).toBe(408);
      expectProtocolError(res.status, res.body, res.headers['x-request-id'], 'REQUEST_TIMEOUT');
      // Cut after the timeout, not before (Node's timers never fire early; 2 ms for rounding).
      expect(performance.now() - started).toBeGreaterThanOrEqual(398);
    } finally {
      await app.close();
    }
  });

  it('serverOptions limits a request to 60 s by default (Fastify alone: no limit), and refuses a timeout that is not a positive whole number of ms', () => {
    const defaults = serverOptions();
    expect([defaults.requestTimeout, defaults.http?.requestTimeout, defaults.http?.headersTimeout]).toEqual([60_000, 60_000, 60_000]);
    for (const requestTimeoutMs of [0, -1, 1.5, Number.NaN]) expect(() => serverOptions({ requestTimeoutMs })).toThrow(TypeError);
  });

  it('maps a request timeout to 408 REQUEST_TIMEOUT, and writes nothing to a reset or destroyed socket', () => {
    expect(clientErrorCode({ code: 'ERR_HTTP_REQUEST_TIMEOUT' })).toBe('REQUEST_TIMEOUT');
    expect(clientErrorCode({ code: 'HPE_INVALID_METHOD' })).toBe('INVALID_REQUEST');
    const writes: string[] = [];
    let destroyed = 0;
    const fake = (state: { destroyed: boolean; writable: boolean }) =>
      ({ ...state, write: (s: string) => writes.push(s), destroy: () => destroyed++ }) as unknown as Socket;
    answerClientError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), fake({ destroyed: false, writable: true }));
    answerClientError(Object.assign(new Error('gone'), { code: 'HPE_INVALID_METHOD' }), fake({ destroyed: true, writable: false }));
    expect([writes, destroyed]).toEqual([[], 0]);
    answerClientError(Object.assign(new Error('slow'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), fake({ destroyed: false, writable: true }));
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(writes[0]).toContain('"code":"REQUEST_TIMEOUT"');
    expect(destroyed).toBe(1);
  });
});
