/**
 * An app's own global hooks and plugins refuse requests with a 4xx error (`statusCode` on the
 * error, as `http-errors`, `@fastify/rate-limit` and an auth hook throw them). On the action route,
 * and on the app's routes under `livecomponentsErrorHandler`, such a refusal answers its status with
 * the registry's code for it in PROTOCOL §3's shape, logged at `info`, not a 500 at `error`. A 5xx
 * `statusCode`, or a 4xx on an error with a code of its own (a socket's, an SDK's), stays a 500.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStore, livecomponents, livecomponentsErrorHandler } from '../../src/index.js';
import { testRuntime, tinyCounter as counter } from '../helpers/demo.js';


interface LogLine {
  level: number;
  msg: string;
  code?: string;
}

/** What the `x-refuse` header makes the app's global `onRequest` hook throw. */
const REFUSALS: Record<string, () => Error> = {
  '401': () => Object.assign(new Error('auth required (session store key sess:42)'), { statusCode: 401 }),
  '403': () => Object.assign(new Error('banned'), { statusCode: 403 }),
  '418': () => Object.assign(new Error('teapot'), { statusCode: 418 }),
  'fst-401': () => Object.assign(new Error('No Authorization was found in request.headers'), { statusCode: 401, code: 'FST_JWT_NO_AUTHORIZATION_IN_HEADER' }),
  '503': () => Object.assign(new Error('upstream down at 10.0.0.7'), { statusCode: 503 }),
  'sdk-402': () => Object.assign(new Error('card declined (acct_secret)'), { statusCode: 402, code: 'card_declined' }),
};

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start() {
  const logs: LogLine[] = [];
  const server = Fastify({ logger: { level: 'info', stream: { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) } } });
  app = server;
  server.setErrorHandler(livecomponentsErrorHandler);
  server.addHook('onRequest', async (request, reply) => {
    const which = request.headers['x-refuse'];
    if (typeof which !== 'string') return;
    if (which === '429') {
      // What @fastify/rate-limit does when the limit is exceeded: headers on the reply, then a throw.
      reply.header('x-ratelimit-limit', 4).header('x-ratelimit-remaining', 0).header('retry-after', 37);
      throw Object.assign(new Error('Rate limit exceeded, retry in 37 seconds'), { statusCode: 429 });
    }
    throw REFUSALS[which]!();
  });
  await server.register(livecomponents, { runtime: await testRuntime([counter], createMemoryStore()) });
  server.get('/mine', async () => ({ ok: true }));
  await server.ready();
  return { server, logs };
}

const CASES: readonly [string, number, string][] = [
  ['401', 401, 'UNAUTHENTICATED'],
  ['fst-401', 401, 'UNAUTHENTICATED'],
  ['403', 403, 'FORBIDDEN'],
  ['418', 400, 'INVALID_REQUEST'],
  ['429', 429, 'RATE_LIMIT_EXCEEDED'],
  ['503', 500, 'INTERNAL_ERROR'],
  ['sdk-402', 500, 'INTERNAL_ERROR'],
];

describe.each([
  ['the action route', { method: 'POST', url: '/api/livecomponents/action', headers: { 'content-type': 'application/json' }, payload: '{}' }],
  ["the app's own route", { method: 'GET', url: '/mine', headers: {} as Record<string, string> }],
] as const)('a global hook refusing on %s', (_where, request) => {
  it.each(CASES)('x-refuse %s answers %i %s, in PROTOCOL §3 shape, without its message', async (which, status, code) => {
    const { server, logs } = await start();
    const res = await server.inject({ ...request, headers: { ...request.headers, 'x-refuse': which } });
    expect(res.statusCode).toBe(status);
    const body = res.json<Record<string, unknown>>();
    const expected: Record<string, unknown> = { error: body.error, code, request_id: res.headers['x-request-id'] ?? body.request_id };
    if (which === '429') expected.retry_after = 37;
    expect(body).toEqual(expected);
    expect(typeof body.error).toBe('string');
    expect(res.body).not.toMatch(/sess:42|10\.0\.0\.7|acct_secret|Rate limit exceeded|statusCode/);
    // A refusal is the app's decision, not a failure: one line at info; a 500 is one line at error.
    const refused = logs.filter((l) => l.msg === 'request refused');
    const failed = logs.filter((l) => l.level >= 50);
    if (status < 500) expect([refused.map((l) => [l.level, l.code]), failed.length]).toEqual([[[30, code]], 0]);
    else expect([refused.length, failed.map((l) => [l.msg, l.code])]).toEqual([0, [['request failed', 'INTERNAL_ERROR']]]);
  });

  it("keeps the limiter's Retry-After and rate-limit headers on a 429", async () => {
    const { server } = await start();
    const res = await server.inject({ ...request, headers: { ...request.headers, 'x-refuse': '429' } });
    expect([res.headers['retry-after'], res.headers['x-ratelimit-limit'], res.headers['x-ratelimit-remaining']]).toEqual(['37', '4', '0']);
  });
});
