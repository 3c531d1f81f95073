/**
 * `@fastify/under-pressure` beside the plugin: once it sheds load, its 503 (an `FST_UNDER_PRESSURE`
 * error, `Retry-After` on the reply) answers 503 `SERVICE_UNAVAILABLE` in PROTOCOL §3's shape, on the
 * action route (with its no-store, nosniff headers) and on the app's routes under
 * `livecomponentsErrorHandler`, logged at `info` as a refusal. It used to be a 500 `INTERNAL_ERROR`
 * logged at `error` with a stack, once per shed request. `maxHeapUsedBytes: 1` keeps it shedding.
 */
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { livecomponentsErrorHandler } from '../../src/index.js';
import { appsToClose, capturedLogs, ecosystemApp } from './app.js';

const apps = appsToClose();
afterEach(apps.closeAll);

const shed = (app: FastifyInstance) => app.register(underPressure, { maxHeapUsedBytes: 1, retryAfter: 7 });

async function shedding(order: 'before' | 'after') {
  const { logs, logger } = capturedLogs();
  const app = apps.track(
    await ecosystemApp({
      server: { logger },
      before: (a: FastifyInstance) => {
        a.setErrorHandler(livecomponentsErrorHandler);
        if (order === 'before') return shed(a);
      },
      after: (a: FastifyInstance) => (order === 'after' ? shed(a) : undefined),
    }),
  );
  // Its first sample is taken on its own timer: wait until it reports pressure.
  while (!(app as unknown as { isUnderPressure(): boolean }).isUnderPressure()) await new Promise((resolve) => setTimeout(resolve, 5));
  return { app, logs };
}

describe.each(['before', 'after'] as const)('@fastify/under-pressure registered %s the plugin, shedding', (order) => {
  it('the action route: 503 SERVICE_UNAVAILABLE, Retry-After, its no-store and nosniff; one info line, no error', async () => {
    const { app, logs } = await shedding(order);
    const res = await app.inject({ method: 'POST', url: '/api/livecomponents/action', headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ error: 'The service is temporarily unavailable. Please try again.', code: 'SERVICE_UNAVAILABLE', request_id: res.headers['x-request-id'] });
    expect([res.headers['retry-after'], res.headers['cache-control'], res.headers['x-content-type-options']]).toEqual(['7', 'no-store', 'nosniff']);
    expect(logs.filter((l) => l.msg === 'request refused').map((l) => [l.level, l.code])).toEqual([[30, 'SERVICE_UNAVAILABLE']]);
    expect(logs.filter((l) => l.level >= 50)).toEqual([]);
  });

  it("a page of the app: 503 SERVICE_UNAVAILABLE with Retry-After under livecomponentsErrorHandler", async () => {
    const { app } = await shedding(order);
    const res = await app.inject({ url: '/' });
    expect([res.statusCode, res.headers['retry-after'], res.json<{ code: string }>().code]).toEqual([503, '7', 'SERVICE_UNAVAILABLE']);
  });
});
