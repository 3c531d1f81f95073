/**
 * A client that closes its connection while its body is being read (or whose body Node's request
 * timeout cut off) is not a server failure: it is logged at info as a client abort, without a stack,
 * nothing is answered, and the HTTP metrics count it once — as 499, or as the 408 Node's parser
 * answered — never as a 500. It used to be a level-50 "request failed" INTERNAL_ERROR with a stack,
 * and counted as a 500 (twice, with the 408, for a timeout).
 */
import { connect } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sendError } from '../../src/http/error-mapping.js';
import { useJsonBodies } from '../../src/http/json-body.js';
import { serverOptions } from '../../src/http/server-options.js';
import { createMetrics, METRIC_NAMES, registerHttpMetrics, type Metrics } from '../../src/ops/metrics/index.js';
import { capture, type Capture } from '../logging/capture.js';
import { loggedApp, type LoggedApp } from '../logging/logged-app.js';
import { rawExchange, statusLineOf } from '../helpers/raw-http.js';
import { waitUntil } from '../helpers/wait-until.js';

/** Sends the head of a request announcing 100 bytes of body, then 5 of them, then closes the connection. */
function abortedUpload(port: number, path: string, contentType = 'application/json'): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => {
      socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${contentType}\r\nContent-Length: 100\r\n\r\n{"a":`);
      setTimeout(() => socket.destroy(), 50);
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

async function requestCounts(metrics: Metrics): Promise<Record<string, number>> {
  const values = (await metrics.registry.getSingleMetric(METRIC_NAMES.httpRequests)!.get()).values;
  return Object.fromEntries(values.map((v) => [`${String(v.labels.method)} ${String(v.labels.route)} ${String(v.labels.status_code)}`, v.value]));
}

const abortLines = (out: Capture) => out.records().filter((r) => r.msg === 'client aborted the request');
const errorLines = (out: Capture) => out.records().filter((r) => (r.level as number) >= 50);

describe('on the reference app', () => {
  let logged: LoggedApp;
  let port = 0;
  beforeAll(async () => {
    logged = await loggedApp();
    await logged.app.listen({ port: 0, host: '127.0.0.1' });
    port = (logged.app.server.address() as { port: number }).port;
  });
  afterAll(() => logged?.close());

  const routes: [string, string, string][] = [
    ['the action route', '/api/livecomponents/action', 'application/json'],
    ['the auth API', '/api/v1/auth/login', 'application/json'],
    ['the sign-in form', '/login', 'application/x-www-form-urlencoded'],
  ];
  for (const [name, path, type] of routes) {
    it(`${name}: an upload the client abandons is one info line without a stack, counted once as 499`, async () => {
      const before = abortLines(logged.out).length;
      await abortedUpload(port, path, type);
      await waitUntil('the abort to be logged', () => abortLines(logged.out).length > before);
      await waitUntil('the abort to be counted', async () => (await logged.app.inject('/metrics')).body.includes(`route="${path}",status_code="499"`));
      const line = abortLines(logged.out).at(-1)!;
      expect(line.level).toBe(30);
      expect(line.request_id).toEqual(expect.any(String));
      expect(line.reason).toBe('aborted');
      expect(JSON.stringify(line)).not.toMatch(/stack|"err"|INTERNAL_ERROR/);
      expect(errorLines(logged.out)).toEqual([]);
      const metrics = (await logged.app.inject('/metrics')).body;
      const counted = metrics.split('\n').filter((l) => l.startsWith('http_requests_total') && l.includes(`route="${path}"`));
      expect(counted).toEqual([`http_requests_total{method="POST",route="${path}",status_code="499"} 1`]);
    });
  }
});

describe('with serverOptions, the metrics and a JSON route', () => {
  const apps: FastifyInstance[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  async function start(requestTimeoutMs?: number) {
    const out = capture();
    const metrics = createMetrics({ defaultMetrics: false });
    const app = Fastify(serverOptions({ requestTimeoutMs, logger: { level: 'trace', stream: out } }));
    registerHttpMetrics(app, metrics);
    await app.register(async (scope) => {
      useJsonBodies(scope, { bodyLimit: 1024 });
      scope.setErrorHandler((error, request, reply) => sendError(error, request, reply));
      scope.post('/echo', async (request) => request.body);
      // A failure of the server's own that happens to carry the same code: still a 500.
      scope.post('/upstream', async () => {
        throw Object.assign(new Error('aborted'), { code: 'ECONNRESET', statusCode: 400 });
      });
    });
    apps.push(app);
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { out, metrics, port: (app.server.address() as { port: number }).port };
  }

  it('a body cut off by the request timeout: the 408 answer only, counted once; the abort at info', async () => {
    const { out, metrics, port } = await start(300);
    const answer = await rawExchange(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":');
    expect(statusLineOf(answer)).toBe('HTTP/1.1 408 Request Timeout');
    await waitUntil('the abort to be logged', () => abortLines(out).length === 1, { seen: () => abortLines(out).length });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await requestCounts(metrics)).toEqual({ 'OTHER unmatched 408': 1 });
    expect(errorLines(out)).toEqual([]);
    expect(abortLines(out)[0]).toMatchObject({ level: 30, reason: 'aborted' });
  });

  it('a client that leaves mid-body: counted once as 499, nothing at error level', async () => {
    const { out, metrics, port } = await start();
    await abortedUpload(port, '/echo');
    await waitUntil('the abort to be logged', () => abortLines(out).length === 1, { seen: () => abortLines(out).length });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await requestCounts(metrics)).toEqual({ 'POST /echo 499': 1 });
    expect(errorLines(out)).toEqual([]);
  });

  it('a client that closes before its headers are complete: nothing written, nothing counted, nothing logged above info', async () => {
    const { out, metrics, port } = await start();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1' }, () => socket.end('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Ty'));
      let received = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (received += chunk));
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
    });
    expect(answer).toBe('');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await requestCounts(metrics)).toEqual({});
    expect(out.records().filter((r) => (r.level as number) > 30)).toEqual([]);
  });

  it("an ECONNRESET that is not the request's own stays a 500 INTERNAL_ERROR, logged at error", async () => {
    const { out, metrics, port } = await start();
    const answer = await rawExchange(port, 'POST /upstream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
    expect(statusLineOf(answer)).toBe('HTTP/1.1 500 Internal Server Error');
    expect(answer).toContain('"code":"INTERNAL_ERROR"');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await requestCounts(metrics)).toEqual({ 'POST /upstream 500': 1 });
    expect(errorLines(out).map((r) => [r.msg, r.code])).toEqual([['request failed', 'INTERNAL_ERROR']]);
    expect(abortLines(out)).toEqual([]);
  });
});
