/**
 * Three app processes sharing one Redis — first a single server, then a real Redis Cluster of three
 * masters (REDIS_URL listing the seed nodes): sessions, state, one rate-limit budget and
 * idempotency keys hold across instances exactly as on one, and overlapping actions on one component
 * are ordered across them (no lost update).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_AVAILABLE, startRedis, startRedisCluster } from '../redis/server.js';
import { openWebClient, startInstances, type Instance } from './instances.js';

const targets = [
  {
    name: 'one Redis',
    start: async () => {
      const server = await startRedis();
      return { url: server.url, stop: () => server.stop() };
    },
  },
  {
    name: 'a Redis Cluster of three masters',
    start: async () => {
      const cluster = await startRedisCluster(3);
      return { url: cluster.nodes.map((n) => n.url).join(','), stop: () => cluster.stop() };
    },
  },
];

describe.skipIf(!REDIS_AVAILABLE).each(targets)('three instances sharing $name', (target) => {
  let redis: { url: string; stop(): Promise<void> };
  let cluster: Awaited<ReturnType<typeof startInstances>>;
  let urls: string[];

  beforeAll(async () => {
    redis = await target.start();
    cluster = await startInstances(3, { REDIS_URL: redis.url });
    urls = cluster.instances.map((i: Instance) => i.url);
  }, 90_000);
  afterAll(async () => {
    await cluster?.stop();
    await redis?.stop();
  });

  it('uses a session created on one instance on the others, and the state continues', async () => {
    const c = await openWebClient(urls[0]!);
    const counts: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await c.action(urls[i % 3]!, 'counter:main', 'increment');
      expect(res.status).toBe(200);
      counts.push(((await res.json()) as { state: { count: number } }).state.count);
    }
    expect(counts).toEqual([1, 2, 3, 4, 5, 6]);
    const page = await fetch(`${urls[2]}/`, { headers: { cookie: c.cookie } });
    expect(await page.text()).toContain('<output data-count aria-live="polite">6</output>');
  });

  it('orders overlapping actions on one component across instances: 30 increments count exactly 30', async () => {
    const c = await openWebClient(urls[0]!);
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => c.action(urls[i % 3]!, 'counter:main', 'increment')));
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 30 }, () => 200));
    const counts = (await Promise.all(results.map((r) => r.json() as Promise<{ state: { count: number } }>))).map((b) => b.state.count);
    expect(counts.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('shares one rate-limit budget across instances: exactly 5 of 15 payments pass', async () => {
    const c = await openWebClient(urls[1]!, '/payment');
    const results = await Promise.all(
      Array.from({ length: 15 }, (_, i) => c.action(urls[i % 3]!, 'payment:main', 'processPayment', { amount: 1 })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
  });

  it('runs 20 concurrent requests with one idempotency key over the instances exactly once', async () => {
    const c = await openWebClient(urls[2]!, '/orders');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        c.action(urls[i % 3]!, 'order:main', 'createOrder', { item: 'tea' }, { 'idempotency-key': 'multi-1' }),
      ),
    );
    const bodies = (await Promise.all(results.map((r) => r.json()))) as { idempotency?: { cached: boolean }; code?: string }[];
    const ran = bodies.filter((b) => b.idempotency?.cached === false);
    expect(ran).toHaveLength(1);
    for (const [i, r] of results.entries()) {
      expect([200, 409], JSON.stringify(bodies[i])).toContain(r.status);
    }
    const after = await c.action(urls[0]!, 'order:main', 'createOrder', { item: 'tea' }, { 'idempotency-key': 'multi-2' });
    expect(((await after.json()) as { state: { orders: number } }).state.orders).toBe(2);
  });
});
