/**
 * docs/operations.md §Health probes: the four probes are request-logged only at `warn` level, so a
 * kubelet probing every few seconds does not flood the request log — even with the logger at `trace`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushLogger } from '../../src/ops/logging/index.js';
import { HEALTH_ROUTES } from '../../src/ops/health/index.js';
import { loggedApp, type LoggedApp } from './logged-app.js';

describe('health probes in the request log', () => {
  let ctx: LoggedApp;
  beforeAll(async () => {
    ctx = await loggedApp();
  });
  afterAll(async () => ctx.close());

  /** Fastify's request lines (`incoming request`, `request completed`) of the request with this id. */
  async function requestLines(requestId: string): Promise<unknown[]> {
    await flushLogger(ctx.logger);
    return ctx.out.records().filter((r) => r['request_id'] === requestId && ('req' in r || 'res' in r)).map((r) => r['msg']);
  }

  it.each(Object.entries(HEALTH_ROUTES))('%s (%s) writes no request line at info level', async (_name, url) => {
    const requestId = `probe-${url.replaceAll('/', '-')}`;
    const res = await ctx.request({ method: 'GET', url, headers: { 'x-request-id': requestId } });
    expect(res.statusCode).toBe(200);
    expect(await requestLines(requestId)).toEqual([]);
  });

  it('while an ordinary page still does', async () => {
    await ctx.request({ method: 'GET', url: '/', headers: { 'x-request-id': 'page-1' } });
    expect(await requestLines('page-1')).toEqual(['incoming request', 'request completed']);
  });
});
