/**
 * Fastify's own `handlerTimeout` (server or route option, Fastify >= 5.6): a route whose handler has
 * not answered in time gets Fastify's `FST_ERR_HANDLER_TIMEOUT`, a 503 with a Fastify code, like
 * `@fastify/under-pressure`'s (under-pressure.test.ts). Shedding is a decision; a handler that hung
 * (a stuck query, a lost lock) is a failure, and must stay logged at `error` with its stack. Since
 * f101e99 it went out as a `request refused` at `info`, and no error line at all.
 *
 * The handler waits for `request.signal`, which Fastify aborts when the timeout fires: the answer is
 * the timeout's, whatever the machine's speed.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { livecomponentsErrorHandler } from '../../src/index.js';
import { appsToClose, capturedLogs, ecosystemApp } from './app.js';

const apps = appsToClose();
afterEach(apps.closeAll);

/** Returns the reply (already sent by then) once Fastify aborts the request at its timeout. */
const hang = async (request: FastifyRequest, reply: FastifyReply) => {
  await new Promise((resolve) => request.signal.addEventListener('abort', resolve));
  return reply;
};

describe('a route that outlives its handlerTimeout', () => {
  it('answers 503 SERVICE_UNAVAILABLE, logged as a failure at error with its stack, not as a refusal', async () => {
    const { logs, logger } = capturedLogs();
    const app = apps.track(
      await ecosystemApp({
        server: { logger },
        before: (a: FastifyInstance) => a.setErrorHandler(livecomponentsErrorHandler),
        after: (a: FastifyInstance) => a.get('/slow', { handlerTimeout: 20 }, hang),
      }),
    );
    const res = await app.inject({ url: '/slow' });
    expect([res.statusCode, res.json<{ code: string }>().code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
    expect(logs.filter((l) => l.msg === 'request refused')).toEqual([]);
    const failures = logs.filter((l) => l.level >= 50);
    expect(failures.map((l) => [l.msg, l.code, l.err?.code])).toEqual([['request failed', 'SERVICE_UNAVAILABLE', 'FST_ERR_HANDLER_TIMEOUT']]);
    expect(failures[0]?.err?.stack).toMatch(/^FastifyError: Request timed out after 20 ms on route '\/slow'\n\s+at /);
  });
});
