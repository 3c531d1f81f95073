/**
 * FloodLogController (src/ops/logging/request-lines.ts) and the ways a request can end: a held
 * `incoming request` line is never lost (a request cut before its answer, or answered by a path
 * that never reaches `requestCompleted`, such as Fastify's `frameworkErrors`), is counted exactly
 * when its request was refused, and a request answered below 400 keeps its lines even when an event
 * line of it was counted (`malicious_cors` of an `/api` request CORS does not refuse).
 */
import { request as httpRequest } from 'node:http';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { expect, it } from 'vitest';
import { registerApiCors } from '../../src/auth/cors.js';
import { requestInfo } from '../../src/http/request-info.js';
import { closeLogger, createLogger } from '../../src/ops/logging/index.js';
import { FloodLogController, heldRequestLines } from '../../src/ops/logging/request-lines.js';
import { createSecurityLogger } from '../../src/ops/security-logger.js';
import { waitUntil } from '../helpers/wait-until.js';
import { capture, type Capture } from './capture.js';
import { floodApp } from './flood-app.js';

const CLIENT = '203.0.113.7';

/** `n` refusals from `ip`: past the first 10 its client is counted (its incoming lines held). */
async function flood(app: FastifyInstance, n: number, ip = CLIENT): Promise<void> {
  for (let i = 0; i < n; i++) expect((await app.inject({ url: '/x', remoteAddress: ip, headers: { 'x-refuse': '1' } })).statusCode).toBe(403);
}

/** Sends GET `path` from `CLIENT` on a real socket; `cut()` destroys it. */
function send(port: number, path: string): { cut: () => void } {
  const req = httpRequest({ port, host: '127.0.0.1', path, headers: { 'x-forwarded-for': CLIENT } });
  req.on('error', () => undefined);
  req.end();
  return { cut: () => req.destroy() };
}

/** Lines `msg`, of requests to `url` if given (a completed line names no url: its incoming line's request_id). */
const lines = (out: Capture, msg: string, url?: string) => {
  const ids = new Set(out.records().filter((r) => (r['req'] as { url?: string } | undefined)?.url === url).map((r) => r['request_id']));
  return out.records().filter((r) => r['msg'] === msg && (url === undefined || ids.has(r['request_id']))).length;
};
const summaries = (out: Capture) => out.records().filter((r) => r['suppressed'] !== undefined);

it('an admitted request from the counted address (a client behind the same NAT) cut before its answer: its incoming line is written, as Fastify writes it', async () => {
  let answer: (() => void) | undefined;
  const { app, out, done, listen } = await floodApp({ routes: (a) => {
    a.get('/slow', () => new Promise((resolve) => (answer = () => resolve('late'))));
  } });
  await flood(app, 12);
  const port = await listen();
  const { cut } = send(port, '/slow');
  await waitUntil('the /slow request to be held', () => heldRequestLines() === 1 && answer !== undefined);
  cut();
  await waitUntil('the cut request to be let go', () => heldRequestLines() === 0, { seen: heldRequestLines });
  answer?.();
  await done();
  // Fastify's own controller writes the incoming line of a cut request (and no completed line).
  expect(lines(out, 'incoming request', '/slow')).toBe(1);
  expect(lines(out, 'request completed', '/slow')).toBe(0);
  // The 12 refusals: the 11th's completed line, the 12th's two.
  expect(summaries(out)).toMatchObject([{ suppressed: 2, request_lines_suppressed: 3 }]);
});

it('a refused request cut before its answer: its held incoming line is counted in request_lines_suppressed, exactly', async () => {
  let answer: (() => void) | undefined;
  const { app, out, done, listen } = await floodApp({ routes: (a, events) => {
    a.get('/refuse-late', async (request, reply) => {
      events.emit({ event: 'malicious_csrf', level: 'WARN', description: 'CSRF token missing', request: requestInfo(request) });
      await new Promise<void>((resolve) => (answer = resolve));
      return reply.code(403).send({ code: 'CSRF_INVALID' });
    });
  } });
  await flood(app, 12);
  const port = await listen();
  const { cut } = send(port, '/refuse-late');
  await waitUntil('the /refuse-late request to be refused and held', () => heldRequestLines() === 1 && answer !== undefined);
  cut();
  await waitUntil('the cut request to be let go', () => heldRequestLines() === 0, { seen: heldRequestLines });
  answer?.();
  await done();
  expect([lines(out, 'incoming request'), lines(out, 'request completed')]).toEqual([11, 10]);
  // 3 counted refusals: the 11th's completed line, the 12th's two, the cut one's incoming line.
  expect(summaries(out)).toMatchObject([{ suppressed: 3, request_lines_suppressed: 4 }]);
});

it('a URL the router refuses (frameworkErrors, no requestCompleted) from the counted address: its incoming line is written and nothing stays held', async () => {
  const { app, out, done, listen } = await floodApp();
  // Fastify's router refuses before the route's trustProxy applies: the request's ip is the socket's.
  await flood(app, 12, '127.0.0.1');
  const port = await listen();
  expect(heldRequestLines()).toBe(0);
  const status = await new Promise<number | undefined>((resolve, reject) => {
    const req = httpRequest({ port, host: '127.0.0.1', path: '/%', headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
  expect(status).toBe(400);
  // Held, every later request of every client would take the slow path for good.
  await waitUntil('the answered request to be let go', () => heldRequestLines() === 0, { seen: heldRequestLines });
  await done();
  expect(lines(out, 'incoming request', '/%')).toBe(1);
});

it('an /api request CORS serves (200) to a disallowed origin: its malicious_cors lines are summarised, its request lines all written', async () => {
  const { app, out, done } = await floodApp({ routes: async (a, events) => {
    await registerApiCors(a, { origins: new Set(['http://localhost:3000']), events });
    a.get('/api/data', async () => ({ ok: true }));
  } });
  for (let i = 0; i < 30; i++) {
    const res = await app.inject({ url: '/api/data', headers: { origin: 'https://evil.example', 'x-forwarded-for': CLIENT } });
    expect(res.statusCode).toBe(200);
  }
  await done();
  expect(out.records().filter((r) => r['event'] === 'malicious_cors' && r['suppressed'] === undefined)).toHaveLength(10);
  expect(summaries(out)).toMatchObject([{ event: 'malicious_cors', suppressed: 20, request_lines_suppressed: 0 }]);
  // Served requests: every line, as without the flood limit.
  expect([lines(out, 'incoming request', '/api/data'), lines(out, 'request completed', '/api/data')]).toEqual([30, 30]);
});

it('request lines turned off for some requests (disableRequestLogging): theirs are neither held nor counted, the others\' are', async () => {
  const { app, out, done } = await floodApp({ controller: new FloodLogController({ requestIdLogLabel: 'request_id', disableRequestLogging: (request) => request.headers['x-quiet'] !== undefined }) });
  await flood(app, 12);
  for (let i = 0; i < 20; i++) expect((await app.inject({ url: '/x', remoteAddress: CLIENT, headers: { 'x-refuse': '1', 'x-quiet': '1' } })).statusCode).toBe(403);
  await done();
  expect([lines(out, 'incoming request'), lines(out, 'request completed')]).toEqual([11, 10]);
  // The 11th's completed line and the 12th's two; none of the 20 requests whose lines are off.
  expect(summaries(out)).toMatchObject([{ suppressed: 22, request_lines_suppressed: 3 }]);
});

it('an app with Fastify\'s own controller, in a process where another server made a FloodLogController: its summaries claim no request lines (all were written)', async () => {
  // As serverOptions() makes one for another server of the process (a metrics server).
  const other = await floodApp();
  await other.done();
  const { app, out, done } = await floodApp({ controller: new LogController({ requestIdLogLabel: 'request_id' }) });
  await flood(app, 30);
  await done();
  expect([lines(out, 'incoming request'), lines(out, 'request completed')]).toEqual([30, 30]);
  const [summary] = summaries(out);
  expect(summary).toMatchObject({ suppressed: 20 });
  expect(summary?.['request_lines_suppressed']).toBeUndefined();
  expect(summary?.['msg']).not.toContain('request line(s)');
});

it('a security logger whose close fails writing its summaries (a full disk) still lets its clients go: their incoming lines are not held for good', async () => {
  let broken = false;
  const out = capture();
  const stream = {
    write(chunk: string) {
      if (broken && chunk.includes('"suppressed"')) throw new Error('ENOSPC');
      return out.write(chunk);
    },
  };
  const logger = createLogger({ format: 'json', stream });
  let answer: (() => void) | undefined;
  const app = Fastify({ loggerInstance: logger, logController: new FloodLogController({ requestIdLogLabel: 'request_id' }) }) as unknown as FastifyInstance;
  const events = createSecurityLogger({ logger: app.log });
  app.get('/refuse', async (request, reply) => {
    events.emit({ event: 'malicious_csrf', level: 'WARN', description: 'CSRF token missing', request: requestInfo(request) });
    return reply.code(403).send({ code: 'CSRF_INVALID' });
  });
  app.get('/slow', () => new Promise((resolve) => (answer = () => resolve('late'))));
  // Two clients counted: the first one's summary fails, the second's is never reached.
  for (const ip of [CLIENT, '198.51.100.9']) for (let i = 0; i < 12; i++) expect((await app.inject({ url: '/refuse', remoteAddress: ip })).statusCode).toBe(403);
  broken = true;
  expect(() => events.close()).toThrow('ENOSPC');
  broken = false;
  const slow = app.inject({ url: '/slow', remoteAddress: '198.51.100.9' });
  await waitUntil('the /slow request to reach its handler', () => answer !== undefined);
  // Closed, the security logger counts nothing: the line is written at once, as Fastify writes it.
  expect(heldRequestLines()).toBe(0);
  expect(lines(out, 'incoming request', '/slow')).toBe(1);
  answer?.();
  expect((await slow).statusCode).toBe(200);
  await app.close();
  await closeLogger(logger);
});

it('a route whose request lines its level leaves out (logLevel warn, as /metrics and /health have): its refusals count no request lines', async () => {
  const { app, out, done } = await floodApp({ routes: (a, events) => {
    a.get('/metrics', { logLevel: 'warn' }, async (request, reply) => {
      events.emit({ event: 'authz_fail', level: 'WARN', description: 'metrics: bearer token refused', request: requestInfo(request) });
      return reply.code(401).send({ code: 'UNAUTHENTICATED' });
    });
  } });
  for (let i = 0; i < 30; i++) expect((await app.inject({ url: '/metrics', remoteAddress: CLIENT })).statusCode).toBe(401);
  await done();
  expect([lines(out, 'incoming request'), lines(out, 'request completed')]).toEqual([0, 0]);
  // 20 authz_fail lines counted; Fastify would have written none of their request lines.
  expect(summaries(out)).toMatchObject([{ event: 'authz_fail', suppressed: 20, request_lines_suppressed: 0 }]);
});
