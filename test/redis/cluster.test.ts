/**
 * The Redis store on a real Redis Cluster of three masters on loopback ports: the shared contract,
 * plus batches and reads whose keys live on every node (hash tags per session/client).
 */
import { Cluster, Redis } from 'ioredis';
import { main } from '../../src/cli/index.js';
import { prepareChecks, redisEvictionCheck, runCheck } from '../../src/ops/health/checks.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { storeKeys } from '../../src/store/keys.js';
import { createRedisStore, redisClusterOptions } from '../../src/store/redis/index.js';
import { runStoreContract } from '../../src/store/contract.js';
import type { Store, StoreOp } from '../../src/store/types.js';
import { REDIS_AVAILABLE, startRedisCluster, whenReady, type RedisCluster } from './server.js';

describe.skipIf(!REDIS_AVAILABLE)('Redis Cluster (3 masters)', () => {
  let cluster: RedisCluster;
  const stores: Store[] = [];
  const newClient = () =>
    new Cluster(
      cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })),
      redisClusterOptions(),
    );
  const open = (onRoundTrip?: () => void) => {
    const store = createRedisStore({ client: newClient(), onRoundTrip });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    console.info(`[redis cluster] 3 masters up and cluster_state:ok in ${Math.round(cluster.startupMs)} ms`);
  }, 60_000);
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  runStoreContract('redis cluster', async () => createRedisStore({ client: newClient(), rateLimitClock: 'caller' }), { realTimeTtl: true });

  it('runs the ops of one hash tag in a batch atomically together: a compare-and-replace is never split', async () => {
    const store = open();
    // Another instance, on its own connections.
    const intruder = open();
    await intruder.health();
    const key = 'lc:{i:atomic}:idem:k';
    const other = 'lc:{s:atomic}:state';
    let misses = 0;
    for (let round = 0; round < 20; round++) {
      await store.set(key, `pending-${round}`, 60_000);
      // The owner replaces its pending record while 20 others try to claim the key.
      const [replace, ...claims] = await Promise.all([
        store.batch([
          { op: 'set', key: other, value: `s${round}`, ttlMs: 60_000 },
          { op: 'deleteIfEquals', key, expected: `pending-${round}` },
          { op: 'claim', key, value: `done-${round}`, ttlMs: 60_000 },
        ]),
        ...Array.from({ length: 20 }, () => intruder.claim(key, 'intruder', 60_000)),
      ]);
      expect(replace).toEqual([null, true, null]);
      misses += claims.filter((c) => c === null).length;
      expect(await store.get(key)).toBe(`done-${round}`);
    }
    expect(misses).toBe(0);
  });

  it('batches and reads keys spread over every node, in op order, in one round trip', async () => {
    let trips = 0;
    const store = open(() => trips++);
    await store.health();
    const sessions = Array.from({ length: 12 }, (_, i) => `session-${i}`);
    // An inspection client with ioredis's defaults (it may queue while connecting).
    const client = new Cluster(cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })));
    try {
      // The sessions' hash tags spread over all three masters.
      const nodes = new Set<string>();
      for (const s of sessions) {
        const slot = Number(await client.cluster('KEYSLOT', storeKeys.session(s)));
        nodes.add(String((client.slots[slot] ?? [])[0]));
      }
      expect(nodes.size).toBe(3);
    } finally {
      client.disconnect();
    }
    const policy = { algorithm: 'sliding-window' as const, limit: 2, windowMs: 60_000 };
    const ops: StoreOp[] = sessions.flatMap((s, i): StoreOp[] => [
      { op: 'set', key: storeKeys.session(s), value: `session ${i}`, ttlMs: 60_000 },
      { op: 'claim', key: storeKeys.idempotency(`s:${s}`, 'key'), value: `claim ${i}`, ttlMs: 60_000 },
      { op: 'rateLimit', key: storeKeys.rateLimit(s, 'counter', 'increment'), policy, nowMs: 1_000 },
      { op: 'get', key: storeKeys.session(s) },
    ]);
    trips = 0;
    const results = await store.batch(ops);
    expect(trips).toBe(1);
    expect(results).toEqual(
      sessions.flatMap((_, i) => [null, null, { allowed: true, limit: 2, remaining: 1, resetMs: 60_000, retryAfterMs: 0, nextMs: 60_000 }, `session ${i}`]),
    );
    trips = 0;
    expect(await store.getMany(sessions.map((s) => storeKeys.session(s)))).toEqual(sessions.map((_, i) => `session ${i}`));
    expect(trips).toBe(1);
    const second = await store.batch(sessions.map((s) => ({ op: 'deleteIfEquals', key: storeKeys.idempotency(`s:${s}`, 'key'), expected: 'claim 0' })));
    expect(second).toEqual(sessions.map((_, i) => i === 0));
  });

  it('finds the one master that may evict keys (health check and doctor --connect), and none once it is fixed', async () => {
    const [node] = cluster.nodes;
    const admin = new Redis(node!.url);
    const env = { REDIS_URL: cluster.nodes.map((n) => n.url).join(','), DATABASE_URL: 'sqlite::memory:' };
    const doctor = async () => {
      const out: string[] = [];
      const code = await main(['doctor', '--connect'], { env, out: (l) => out.push(l), err: (l) => out.push(l) });
      return { code, lines: out.filter((l) => / (redis-server|clock):/.test(l)) };
    };
    const client = newClient();
    const [check] = prepareChecks([redisEvictionCheck(client)]);
    try {
      // Before the client knows the cluster, the check says it could not read (never a false pass).
      expect(await runCheck(check!, 3_000, 3_000)).toMatchObject({ status: 'warn', output: expect.stringMatching(/^could not read the eviction policy/) });
      await whenReady(client);
      await admin.config('SET', 'maxmemory', '64mb');
      await admin.config('SET', 'maxmemory-policy', 'volatile-lru');
      // Three masters and no replicas: every node is a master.
      expect((await admin.role())[0]).toBe('master');
      expect(await runCheck(check!, 3_000, 3_000)).toMatchObject({ status: 'warn', output: expect.stringContaining(`127.0.0.1:${node!.port}: maxmemory-policy is volatile-lru`) });
      const bad = await doctor();
      expect(bad.code).toBe(1);
      expect(bad.lines[0]).toMatch(new RegExp(`^FAIL redis-server: Redis 127\\.0\\.0\\.1:${node!.port}: maxmemory-policy is volatile-lru`));
      await admin.config('SET', 'maxmemory', '0');
      expect((await runCheck(check!, 3_000, 3_000)).status).toBe('pass');
      const good = await doctor();
      expect(good.code).toBe(0);
      expect(good.lines[0]).toMatch(/^ok {2}redis-server: a Redis Cluster of 3 masters answers, never evicts our keys; AOF is off/);
      expect(good.lines[1]).toMatch(/^ok {2}clock: within 1000 ms of Redis [+−]\d+ ms$/);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      admin.disconnect();
      client.disconnect();
    }
  });
});
