/**
 * Redis Sentinel, on a real set (master, replica, three sentinels on loopback):
 * - a client built with `redisSentinelOptions` serves the store, and after a planned
 *   `SENTINEL FAILOVER` its writes land on the promoted replica even while the old master stays a
 *   master (ioredis's default, no failover detector, kept writing to the old master until Sentinel
 *   demoted it, ~8–11 s later, and every write of that window was lost; here it is never demoted);
 * - a node demoted under such a client: the health check names the Sentinel master, not REDIS_URL;
 * - REDIS_URL naming a sentinel: refused with words by the store and by `doctor --connect`, instead
 *   of every call answering 503 with Redis's echo of the call's keys and values.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runServiceChecks } from '../../src/cli/doctor-services.js';
import { loadConfig } from '../../src/ops/config.js';
import { createRedisStore, redisSentinelOptions, SENTINEL_REFUSAL } from '../../src/store/redis/index.js';
import type { Store } from '../../src/store/types.js';
import { waitUntil } from '../helpers/wait-until.js';
import { REDIS_AVAILABLE, startRedis } from './server.js';
import { MASTER_NAME, startSentinelSet, type SentinelSet } from './sentinel.js';

describe.skipIf(!REDIS_AVAILABLE)('Redis Sentinel (master, replica, three sentinels)', () => {
  let set: SentinelSet | undefined;
  const stores: Store[] = [];
  const started = (): SentinelSet => {
    if (set === undefined) throw new Error('the Sentinel set is not started');
    return set;
  };
  const openStore = (): Store => {
    const client = new Redis({ ...redisSentinelOptions(), sentinels: started().sentinels, name: MASTER_NAME });
    const store = createRedisStore({ client, onConnectionError: () => undefined });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    set = await startSentinelSet();
  });
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await set?.stop();
  });

  it('a URL naming a sentinel is refused by the store and by doctor --connect, and no call echoes keys or values', async () => {
    const url = `redis://127.0.0.1:${started().sentinels[0]?.port}`;
    const reported: Error[] = [];
    const store = createRedisStore({ url, onConnectionError: (error) => reported.push(error) });
    stores.push(store);
    await expect(store.health()).rejects.toThrow(SENTINEL_REFUSAL);
    await expect(store.set('lc:{s:abc}:session', '{"userId":"alice","secret":"s3cr3t"}', 1_000)).rejects.toThrow(SENTINEL_REFUSAL);
    expect(reported.map((e) => e.message)).toEqual([`${SENTINEL_REFUSAL}; the store stays unavailable.`]);
    const [redis] = await runServiceChecks(loadConfig({ REDIS_URL: url, DATABASE_URL: 'sqlite::memory:' }), { timeoutMs: 2_000 });
    expect(redis?.ok).toBe(false);
    expect(redis?.problems).toEqual([`${SENTINEL_REFUSAL}, so the app's store would answer 503`]);
  });

  it('serves the store through redisSentinelOptions, and writes to the promoted replica after a planned failover while the old master refuses to be demoted', async () => {
    const sentinelSet = started();
    const store = openStore();
    await store.set('lc:{s:a}:before', 'v', 60_000);
    expect(await store.get('lc:{s:a}:before')).toBe('v');
    await store.health();

    const promoted = sentinelSet.replica.port;
    // The old master refuses to be demoted (its default user, which the sentinels use, may not run
    // REPLICAOF): it stays a master that takes writes, as on the far side of a partition. A client
    // that waits for Sentinel to demote it (ioredis's default, no failover detector) writes there for
    // good, so this test would time out; one that follows the sentinels' announcement moves.
    const oldMaster = new Redis(sentinelSet.master.port, '127.0.0.1');
    await oldMaster.call('ACL', 'SETUSER', 'default', '-replicaof', '-slaveof');
    // The sentinels may not find the replica good enough at once (its INFO not read yet): ask again,
    // for as long as the test's timeout lets (a loaded machine only makes them late).
    let answer: unknown;
    await waitUntil('SENTINEL FAILOVER to be accepted', async () => (answer = await sentinelSet.ask('SENTINEL', 'FAILOVER', MASTER_NAME).catch((error: unknown) => error)) === 'OK', {
      seen: () => String(answer),
    });
    let named: number | undefined;
    await waitUntil(`the sentinels to name the replica (${promoted}) the master`, async () => (named = await sentinelSet.masterPort()) === promoted, { seen: () => named });
    // From here on the client must move: one write at a time, each with a key of its own, until one
    // is found on the promoted replica (the test's timeout is the only limit).
    const newMaster = new Redis(promoted, '127.0.0.1');
    try {
      let attempt = 0;
      let lastWrite = 'none yet';
      await waitUntil(
        `a write to reach the promoted replica (${promoted})`,
        async () => {
          const key = `lc:{s:a}:after-${attempt++}`;
          lastWrite = await store.set(key, 'v', 60_000).then(
            () => 'written',
            (error: Error) => error.message,
          );
          return lastWrite === 'written' && (await newMaster.get(key)) === 'v';
        },
        { every: 100, seen: () => `${attempt} writes, the last: ${lastWrite}; old master ${sentinelSet.master.port} still a master` },
      );
      await store.health();
    } finally {
      newMaster.disconnect();
      // Let the sentinels demote the old master now, as they would after the partition heals.
      await oldMaster.call('ACL', 'SETUSER', 'default', '+@all').catch(() => undefined);
      oldMaster.disconnect();
    }
  }, 30_000);

  it('a master demoted under the client: the health check names the Sentinel master, not REDIS_URL', async () => {
    const sentinelSet = started();
    const store = openStore();
    await store.health();
    // The node the sentinels name starts replicating a Redis of its own, the client still on it.
    const elsewhere = await startRedis();
    const named = new Redis(await sentinelSet.masterPort(), '127.0.0.1');
    try {
      await named.call('REPLICAOF', '127.0.0.1', String(elsewhere.port));
      const failure = await store.health().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(String(failure)).toContain(`Redis refuses writes (READONLY You can't write against a read only replica.`);
      expect(String(failure)).toContain(`the master Redis Sentinel names '${MASTER_NAME}' answers as a replica (a failover under way?)`);
      expect(String(failure)).not.toContain('REDIS_URL');
    } finally {
      named.disconnect();
      await elsewhere.stop();
    }
  });
});
