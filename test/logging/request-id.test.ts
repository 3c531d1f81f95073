import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushLogger } from '../../src/ops/logging/index.js';
import { loggedApp, type LoggedApp } from './logged-app.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('X-Request-Id in and out', () => {
  let ctx: LoggedApp;
  beforeAll(async () => {
    ctx = await loggedApp();
  });
  afterAll(async () => ctx.close());

  /** Fastify's request lines (those with `req` or `res`) that carry this id. */
  async function linesOf(requestId: string): Promise<Record<string, unknown>[]> {
    await flushLogger(ctx.logger);
    return ctx.out.records().filter((r) => r['request_id'] === requestId && ('req' in r || 'res' in r));
  }

  it('keeps a plain incoming id: echoed in the header, on every log line of the request', async () => {
    const res = await ctx.request({ method: 'GET', url: '/', headers: { 'x-request-id': 'edge-7f3a:1' } });
    expect(res.headers['x-request-id']).toBe('edge-7f3a:1');
    const lines = await linesOf('edge-7f3a:1');
    expect(lines.map((l) => l['msg'])).toEqual(['incoming request', 'request completed']);
    expect(lines[1]).toMatchObject({ res: { statusCode: 200 } });
  });

  it.each([
    ['spaces and quotes', 'a b"c'],
    ['more than 64 characters', 'x'.repeat(65)],
  ])('replaces an id with %s by a fresh UUID, used everywhere', async (_what, incoming) => {
    const res = await ctx.request({
      method: 'POST',
      url: '/api/livecomponents/action',
      headers: { 'x-request-id': incoming, 'content-type': 'application/json' },
      payload: '{"component_id":"counter:main","action":"increment"}',
    });
    const id = String(res.headers['x-request-id']);
    expect(id).toMatch(UUID);
    expect(res.json()).toMatchObject({ code: 'CSRF_TOKEN_INVALID', request_id: id });
    expect((await linesOf(id)).map((l) => l['msg'])).toEqual(['incoming request', 'request completed']);
    expect(ctx.out.text()).not.toContain(incoming);
  });
});
