/**
 * `sessionTtlMs` is refused at start-up unless it is whole ms from 1 s to 100 years: 0, -1, NaN,
 * Infinity or a string started and then failed every page view (500), and 0.5 made every session
 * last 1 ms.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { livecomponents } from '../../src/http/plugin.js';
import type { LiveComponentsOptions } from '../../src/runtime/setup.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { openClient, testRuntime, tinyCounter } from '../helpers/demo.js';

function runtime(extra: Partial<LiveComponentsOptions>) {
  return testRuntime([tinyCounter], createMemoryStore(), extra);
}

describe('sessionTtlMs', () => {
  it.each([0, -1, Number.NaN, Infinity, 0.5, '60000', 1e300, 999])('refuses %s at start-up', async (sessionTtlMs) => {
    await expect(runtime({ sessionTtlMs: sessionTtlMs as number })).rejects.toThrow(/^Runtime: sessionTtlMs must be a whole number of ms from 1000 \(1 s\) to 3155760000000 \(100 years\)$/);
  });

  it('serves pages and actions with the shortest one, 1 s', async () => {
    const server = Fastify();
    await server.register(livecomponents, { runtime: await runtime({ sessionTtlMs: 1_000 }) });
    server.get('/', async (request, reply) => {
      const view = await server.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('counter:main') }));
    });
    await server.ready();
    try {
      const client = await openClient(server, '/');
      expect((await client.action('counter:main', 'inc')).statusCode).toBe(200);
    } finally {
      await server.close();
    }
  });
});
