/**
 * `@fastify/rate-limit` with `global: true` beside the plugin's per-action limits. Registered before
 * it, it counts the action route too: an answer that reaches our limiter carries our X-RateLimit-*
 * (they replace the global ones; `X-RateLimit-Reset` in Unix seconds, PROTOCOL §3), while its own 429
 * there is PROTOCOL's `RATE_LIMIT_EXCEEDED` with `retry_after` but its headers, whose
 * `X-RateLimit-Reset` counts seconds from now. `allowList` for the action route (docs/security.md)
 * leaves the route to our limits. Registered after the plugin, it limits none of the routes
 * registered before it (it picks routes as they are added).
 */
import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { livecomponentsErrorHandler } from '../../src/index.js';
import { appsToClose, ecosystemApp, openClient } from './app.js';

const apps = appsToClose();
afterEach(apps.closeAll);

const ACTION = '/api/livecomponents/action';
/** A Unix time in seconds (ours), not a count of seconds from now (the plugin's). */
const UNIX_SECONDS = /^1\d{9}$/;

async function start(order: 'before' | 'after', options: RateLimitPluginOptions = {}) {
  const limit = (app: FastifyInstance) => app.register(rateLimit, { max: 3, timeWindow: 60_000, ...options });
  return apps.track(
    await ecosystemApp({
      before: async (app) => {
        app.setErrorHandler(livecomponentsErrorHandler);
        if (order === 'before') await limit(app);
      },
      after: (app) => (order === 'after' ? limit(app) : undefined),
    }),
  );
}

describe('registered before the plugin', () => {
  it("an action that reaches our limiter carries our X-RateLimit-*; the global's 429 on the route carries its own", async () => {
    const app = await start('before');
    const client = await openClient(app); // the page: 1 of 3
    const ok = await client.action('counter:main', 'inc'); // 2 of 3
    expect([ok.statusCode, ok.headers['x-ratelimit-limit'], ok.headers['x-ratelimit-remaining']]).toEqual([200, '60', '59']);
    expect(ok.headers['x-ratelimit-reset']).toMatch(UNIX_SECONDS);
    await client.action('counter:main', 'inc'); // 3 of 3
    const refused = await client.action('counter:main', 'inc');
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toEqual({ error: 'Too many requests. Please wait and try again.', code: 'RATE_LIMIT_EXCEEDED', request_id: refused.headers['x-request-id'], retry_after: 60 });
    expect([refused.headers['retry-after'], refused.headers['cache-control'], refused.headers['x-ratelimit-limit'], refused.headers['x-ratelimit-reset']]).toEqual(['60', 'no-store', '3', '60']);
  });

  it('with allowList for the action route: actions are not counted, pages still are', async () => {
    const app = await start('before', { allowList: (request) => request.routeOptions.url === ACTION });
    const client = await openClient(app);
    for (let i = 0; i < 4; i++) expect((await client.action('counter:main', 'inc')).statusCode).toBe(200);
    const forged = await app.inject({ method: 'POST', url: ACTION, headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': 'forged' }, payload: '{"component_id":"counter:main","action":"inc","params":{}}' });
    // Its rate-limit headers are ours (the anonymous budget's), not the global limiter's.
    expect([forged.statusCode, forged.headers['x-ratelimit-limit']]).toEqual([403, '60']);
    expect((await app.inject({ url: '/' })).statusCode).toBe(200); // 2 of 3
    expect((await app.inject({ url: '/' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/' })).statusCode).toBe(429);
  });
});

it('registered after the plugin: neither the page nor the action route registered before it is limited', async () => {
  const app = await start('after');
  const client = await openClient(app);
  for (let i = 0; i < 4; i++) {
    const res = await client.action('counter:main', 'inc');
    expect([res.statusCode, res.headers['x-ratelimit-limit']]).toEqual([200, '60']);
  }
  for (let i = 0; i < 4; i++) expect((await app.inject({ url: '/' })).headers['x-ratelimit-limit']).toBeUndefined();
});
