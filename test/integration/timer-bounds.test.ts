/**
 * Options that become a timer's delay are refused at start-up past 2^31 − 1 ms: Node fires a longer
 * timer after 1 ms, so `actionTimeoutMs: 2 ** 31` (or lock TTLs of 3e9 ms, which it defaults to)
 * started fine and then failed every async action with a 500.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { defineComponent } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { livecomponents } from '../../src/http/plugin.js';
import type { LiveComponentsOptions } from '../../src/runtime/setup.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { openClient, testRuntime } from '../helpers/demo.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

const slow = defineComponent({
  name: 'slow',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: { inc: { run: async (s) => (await new Promise((resolve) => setTimeout(resolve, 20)), { n: s.n + 1 }) } },
  render: (s) => html`<i>${s.n}</i>`,
});

function runtime(extra: Partial<LiveComponentsOptions>) {
  return testRuntime([slow], createMemoryStore(), extra);
}

describe('timer delays from options', () => {
  it.each([
    [{ actionTimeoutMs: 2 ** 31, instanceLock: { ttlMs: 2 ** 31 }, idempotency: { lockTtlMs: 2 ** 31 } }, /instanceLock\.ttlMs must be a positive whole number of ms, at most 2147483647 ms/],
    [{ instanceLock: { ttlMs: 3e9 }, idempotency: { lockTtlMs: 3e9 } }, /instanceLock\.ttlMs must be .* at most 2147483647 ms/],
    [{ instanceLock: false, idempotency: { lockTtlMs: 3e9 } }, /idempotency\.lockTtlMs must be .* at most 2147483647 ms/],
    [{ actionTimeoutMs: 2 ** 31, instanceLock: false, idempotency: { lockTtlMs: MAX_TIMER_MS } }, /actionTimeoutMs must be .* at most 2147483647 ms/],
  ] as const)('refuses %j at start-up, naming the option', async (extra, message) => {
    await expect(runtime(extra as Partial<LiveComponentsOptions>)).rejects.toThrow(message);
  });

  it('serves an async action with every one of them at the longest delay a timer can wait', async () => {
    const server = Fastify();
    const rt = await runtime({ actionTimeoutMs: MAX_TIMER_MS, instanceLock: { ttlMs: MAX_TIMER_MS }, idempotency: { lockTtlMs: MAX_TIMER_MS } });
    await server.register(livecomponents, { runtime: rt });
    server.get('/', async (request, reply) => {
      const view = await server.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('slow:main') }));
    });
    await server.ready();
    try {
      const client = await openClient(server, '/');
      const res = await client.action('slow:main', 'inc');
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().state).toEqual({ n: 1 });
    } finally {
      await server.close();
    }
  });
});
