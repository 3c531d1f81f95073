/**
 * A Redis Cluster store behind a wrapper of the app's own that does not forward
 * `splitsBatchesByHashTag` (a hand-written decorator delegating each method: `Store` documents the
 * flag, but before the guarded write a wrapper that dropped it still served every page). The
 * new-session step and the session's write, which live under different hash tags, went as one guarded
 * batch, which the cluster store refuses (`TypeError`, nothing sent): every first visit answered 500.
 * Now a guarded batch refused with a `TypeError` (refused before anything ran, as every store checks
 * its ops first) is done as on a cluster — the step, then the write when admitted — and the limiter
 * stops trying to guard on that store. Exactly the budget stored, a cookie each; past it 429, none.
 */
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, redisClusterOptions } from '../../src/store/redis/index.js';
import type { Store } from '../../src/store/types.js';
import { demoApp } from '../helpers/demo.js';
import { REDIS_AVAILABLE, startRedisCluster, type RedisCluster } from '../redis/server.js';

/** Delegates every method, as a metrics decorator written by hand would; `splitsBatchesByHashTag` is not copied. */
function handWrapped(inner: Store): Store {
  return {
    kind: inner.kind,
    get: (key) => inner.get(key),
    getMany: (keys) => inner.getMany(keys),
    set: (key, value, ttlMs) => inner.set(key, value, ttlMs),
    claim: (key, value, ttlMs) => inner.claim(key, value, ttlMs),
    touch: (key, ttlMs) => inner.touch(key, ttlMs),
    deleteIfEquals: (key, expected) => inner.deleteIfEquals(key, expected),
    delete: (key) => inner.delete(key),
    rateLimit: (key, policy, nowMs) => inner.rateLimit(key, policy, nowMs),
    batch: (ops) => inner.batch(ops),
    health: () => inner.health(),
    close: () => inner.close(),
  } as Store;
}

describe.skipIf(!REDIS_AVAILABLE)('new sessions on a wrapped Redis Cluster store', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('60 concurrent cookie-less views against a limit of 4: 4 × 200 with a cookie and 4 sessions stored, 56 × 429 without one', async () => {
    const inner = createRedisStore({ client: new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), redisClusterOptions()) });
    const demo = await demoApp({}, { store: handWrapped(inner), newSessionLimit: { limit: 4, windowSeconds: 3600 } });
    try {
      const pages = await Promise.all(Array.from({ length: 60 }, () => demo.app.inject({ url: '/', remoteAddress: '192.0.2.5' })));
      const statuses = new Map<number, number>();
      for (const p of pages) statuses.set(p.statusCode, (statuses.get(p.statusCode) ?? 0) + 1);
      expect(Object.fromEntries(statuses)).toEqual({ 200: 4, 429: 56 });
      expect(pages.filter((p) => p.statusCode === 200 && p.headers['set-cookie'] !== undefined)).toHaveLength(4);
      expect(pages.filter((p) => p.headers['set-cookie'] !== undefined)).toHaveLength(4);
      let sessions = 0;
      for (const node of cluster.nodes) {
        const admin = new Redis(node.url);
        sessions += (await admin.keys('*:session')).length;
        admin.disconnect();
      }
      expect(sessions).toBe(4);
    } finally {
      await demo.app.close();
      await inner.close();
    }
  }, 60_000);
});
