/**
 * A Redis that may evict the store's keys (maxmemory with any policy but noeviction) is reported:
 * a warning log line when the client connects, and `warn` (still ready) in /health.
 */
import { describe, expect, it } from 'vitest';
import { redisEvictionCheck, prepareChecks, runCheck } from '../../src/ops/health/checks.js';
import { warnOnEvictionRisk } from '../../src/store/redis/eviction.js';
import { redisClientOf } from '../../src/store/redis/index.js';
import { demoApp } from '../helpers/demo.js';
import { REDIS_AVAILABLE, sleep, useRedisServer, whenReady } from './server.js';

describe.skipIf(!REDIS_AVAILABLE)('Redis eviction policy', () => {
  const redis = useRedisServer();
  const configure = (policy: string, maxmemory: string) =>
    Promise.all([redis.admin.config('SET', 'maxmemory-policy', policy), redis.admin.config('SET', 'maxmemory', maxmemory)]);
  const newStore = () => redis.open();

  it('the health check passes with noeviction or no maxmemory, and warns for evicting policies', async () => {
    const store = newStore();
    await store.health();
    const [check] = prepareChecks([redisEvictionCheck(redisClientOf(store)!)]);
    const read = () => runCheck(check!, 1000, 1000);
    await configure('noeviction', '64mb');
    expect(await read()).toMatchObject({ key: 'redis:eviction-policy', status: 'pass', output: undefined });
    await configure('allkeys-lru', '0');
    expect((await read()).status).toBe('pass');
    for (const policy of ['allkeys-lru', 'volatile-ttl']) {
      await configure(policy, '64mb');
      expect(await read()).toMatchObject({ status: 'warn', output: `maxmemory-policy is ${policy} with maxmemory 67108864 bytes: when memory runs short Redis evicts keys, idempotency records and rate-limit counters included; set maxmemory-policy noeviction` });
    }
    // A Redis that does not answer: a warning, not a failure (the store check reports the outage).
    await store.close();
    expect(await read()).toMatchObject({ status: 'warn', output: expect.stringMatching(/^could not read the eviction policy/) });
  });

  it('warns in the log when a client connects to an evicting Redis, and when it was connected already', async () => {
    await configure('volatile-lru', '64mb');
    const early: string[] = [];
    const fresh = newStore();
    warnOnEvictionRisk(redisClientOf(fresh)!, (m) => early.push(m));
    await fresh.health();
    const late: string[] = [];
    warnOnEvictionRisk(redisClientOf(fresh)!, (m) => late.push(m));
    for (let i = 0; i < 50 && (early.length === 0 || late.length === 0); i++) await sleep(20);
    expect(early).toEqual([expect.stringMatching(/^Redis maxmemory-policy is volatile-lru/)]);
    expect(late).toHaveLength(1);
    await configure('noeviction', '0');
  });

  it('the reference app on that Redis answers /health with warn (200) and stays ready', async () => {
    await configure('allkeys-lfu', '64mb');
    const demo = await demoApp({ REDIS_URL: redis.server.url, HEALTH_TOKEN: 'h'.repeat(32) });
    try {
      const client = redisClientOf(demo.app.livecomponents.runtime.store)!;
      await whenReady(client);
      const health = await demo.app.inject({ method: 'GET', url: '/health', headers: { authorization: `Bearer ${'h'.repeat(32)}` } });
      expect(health.statusCode).toBe(200);
      const doc = health.json();
      expect(doc.status).toBe('warn');
      expect(doc.checks['redis:eviction-policy'][0]).toMatchObject({ status: 'warn', output: expect.stringContaining('allkeys-lfu') });
      expect((await demo.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    } finally {
      await demo.app.close();
      await configure('noeviction', '0');
    }
  });
});
