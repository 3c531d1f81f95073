/**
 * Redis Cluster masters die under traffic. Keys hash to slots, slots to masters: only the calls
 * whose keys live on the dead master may fail — fast, with `StoreUnavailableError` — while the
 * other masters keep serving theirs; the same store object then serves every slot again by itself,
 * whether the master comes back on its port or a replica takes its place.
 */
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, redisClusterOptions } from '../../src/store/redis/index.js';
import type { Store } from '../../src/store/types.js';
import { waitUntil } from '../helpers/wait-until.js';
import { REDIS_AVAILABLE, sleep, startRedisCluster, type RedisCluster, type RedisServer } from './server.js';
import { TIMEOUT_MS, WORKERS, expectOnlyFastUnavailable, recoveryTime, slowestOf, traffic } from './traffic.js';

/** A cluster started before the tests of the calling `describe` block and stopped after them. */
function clusterOfThisBlock(masters: number, options?: { replicas?: number }): () => RedisCluster {
  let cluster: RedisCluster | undefined;
  beforeAll(async () => {
    cluster = await startRedisCluster(masters, options);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  return () => {
    if (cluster === undefined) throw new Error('test: the cluster did not start');
    return cluster;
  };
}

/** A store on `cluster` with the options the app uses. */
function clusterStore(cluster: RedisCluster): Store {
  const client = new Cluster(
    cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })),
    redisClusterOptions(TIMEOUT_MS),
  );
  return createRedisStore({ client, commandTimeoutMs: TIMEOUT_MS });
}

/** For each worker, the port of the master serving its hash tag `{w<worker>}`, asked of the cluster. */
async function masterOfWorker(node: RedisServer): Promise<Map<number, number>> {
  const admin = new Redis(node.port, '127.0.0.1');
  try {
    const ranges = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    const owners = new Map<number, number>();
    for (let w = 0; w < WORKERS; w++) {
      const slot = Number(await admin.call('CLUSTER', 'KEYSLOT', `{w${w}}`));
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (range === undefined) throw new Error(`slot ${slot} is served by no master`);
      owners.set(w, range[2][1]);
    }
    return owners;
  } finally {
    admin.disconnect();
  }
}

/**
 * Resolves once a read of every worker's tag succeeds (every slot is served); returns when. Polled
 * without a give-up of its own: a store that never finds every slot again fails by the test's
 * timeout; how soon it did is printed, not asserted (shared, noisy machines).
 */
async function everySlotServed(store: Store): Promise<number> {
  let served: boolean[] = [];
  await waitUntil(
    'a read of every worker tag to succeed (every slot served)',
    async () => (served = await Promise.all(Array.from({ length: WORKERS }, (_, w) => store.get(`lc:{w${w}}:a`).then(() => true, () => false)))).every(Boolean),
    { every: 50, seen: () => `served by worker: ${served.join(',')}` },
  );
  return performance.now();
}

/** Resolves once the replica of the master on `port` has everything written to it so far. */
async function replicated(port: number): Promise<void> {
  const admin = new Redis(port, '127.0.0.1');
  try {
    // The replica's link may still be in its first full sync just after the cluster was created:
    // asked again until it acknowledges, for as long as the test's timeout lets.
    let n = 0;
    await waitUntil(`the replica of ${port} to acknowledge a write (WAIT 1)`, async () => {
      for (;; n++) {
        const slot = Number(await admin.call('CLUSTER', 'KEYSLOT', `marker${n}`));
        const [, , mine] = ((await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][]).find(([from, to]) => slot >= from && slot <= to) ?? [];
        if (mine?.[1] === port) break; // a marker key that this master serves
      }
      await admin.set(`marker${n++}`, '1');
      return Number(await admin.call('WAIT', '1', '500')) >= 1;
    });
  } finally {
    admin.disconnect();
  }
}

describe.skipIf(!REDIS_AVAILABLE)('Redis Cluster store under faults', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let store: Store | undefined;

  beforeAll(() => {
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    expect(unhandled).toEqual([]);
  });
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  describe('3 masters', () => {
    const started = clusterOfThisBlock(3);

    it('a master killed under 200 concurrent callers fails only its own slots, fast; back on its port, every slot is served again', async () => {
      const cluster = started();
      store = clusterStore(cluster);
      await store.health();
      const owners = await masterOfWorker(cluster.nodes[0] as RedisServer);
      const victim = cluster.nodes[1] as RedisServer;
      const onVictim = (w: number) => owners.get(w) === victim.port;
      const victimWorkers = [...owners.keys()].filter(onVictim).length;
      // CRC16 spreads 200 tags over three masters: each gets a fair share.
      expect(victimWorkers).toBeGreaterThan(WORKERS / 6);
      expect(victimWorkers).toBeLessThan(WORKERS / 2);

      const load = traffic(store);
      await sleep(300);
      const killedAt = performance.now();
      await victim.kill();
      // Back well within cluster-node-timeout (2 s), so the other masters never declare it failed.
      await sleep(1_000);
      const restartAt = performance.now();
      await victim.restart();
      await recoveryTime(store);
      const allSlotsAt = await everySlotServed(store);
      await sleep(500);
      await load.stop();

      expect(load.outcomes).toHaveLength(load.started);
      expectOnlyFastUnavailable(load.outcomes);
      const down = load.outcomes.filter((o) => o.at > killedAt + 50 && o.at + o.ms < restartAt);
      // The other masters' slots kept working the whole time.
      const othersDown = down.filter((o) => !onVictim(o.w));
      expect(othersDown.length).toBeGreaterThan(WORKERS);
      expect(othersDown.filter((o) => !o.ok).map((o) => String(o.error))).toEqual([]);
      // The dead master's slots failed, and fast: no call waits the deadline behind a dead node. Told
      // by the error, not by the time (shared, noisy machines): refused ("Connection is closed."),
      // not the deadline's "did not answer within".
      const victimDown = down.filter((o) => onVictim(o.w));
      expect(victimDown.length).toBeGreaterThan(victimWorkers);
      expect(victimDown.filter((o) => o.ok)).toEqual([]);
      const refused = victimDown.filter((o) => !/did not answer within/.test(String(o.error)));
      expect(refused.length).toBeGreaterThan(victimDown.length * 0.9);
      // Every slot served again after the restart, by itself (everySlotServed resolved; a slot that
      // stays unserved fails the test by timeout), and every call after that succeeds.
      const after = load.outcomes.filter((o) => o.at > allSlotsAt + 100);
      expect(after.length).toBeGreaterThan(WORKERS);
      expect(after.filter((o) => !o.ok).map((o) => String(o.error))).toEqual([]);
      console.info(
        `[redis cluster faults] master killed and restarted: ${load.outcomes.length} calls; while it was down ${othersDown.length} ` +
          `on the other masters (all ok), ${victimDown.length} on it (all failed, slowest ${Math.round(slowestOf(victimDown))} ms); ` +
          `every slot served ${Math.round(allSlotsAt - restartAt)} ms after the restart`,
      );
    }, 60_000);
  });

  describe('3 masters with a replica each', () => {
    const started = clusterOfThisBlock(3, { replicas: 1 });

    it('a master killed for good: its replica takes over, the store finds it by itself, and replicated data is still there', async () => {
      const cluster = started();
      store = clusterStore(cluster);
      await store.health();
      const owners = await masterOfWorker(cluster.nodes[0] as RedisServer);
      const victimPort = owners.get(0) as number;
      const victim = cluster.nodes.find((node) => node.port === victimPort) as RedisServer;
      const onVictim = (w: number) => owners.get(w) === victimPort;
      // Written before the kill, then replicated: a marker written after them on each master's own
      // connection is acknowledged by its replica (WAIT), and replication keeps the order of writes.
      for (let w = 0; w < WORKERS; w++) await store.set(`lc:{w${w}}:kept`, `v${w}`, 600_000);
      for (const port of new Set(owners.values())) await replicated(port);

      const load = traffic(store);
      await sleep(300);
      const killedAt = performance.now();
      await victim.kill();
      const allSlotsAt = await everySlotServed(store);
      await sleep(500);
      await load.stop();

      expect(load.outcomes).toHaveLength(load.started);
      expectOnlyFastUnavailable(load.outcomes);
      // Failover: cluster-node-timeout (2 s), an election, then ioredis refreshes its slot map (~4 s in
      // all here, printed below): found by itself, else everySlotServed fails the test by timeout.
      const failedOnOthers = load.outcomes.filter((o) => !o.ok && !onVictim(o.w) && o.at < killedAt);
      expect(failedOnOthers).toEqual([]);
      const after = load.outcomes.filter((o) => o.at > allSlotsAt + 100);
      expect(after.length).toBeGreaterThan(WORKERS);
      expect(after.filter((o) => !o.ok).map((o) => String(o.error))).toEqual([]);
      // What was replicated survived the master's death, on every slot.
      for (let w = 0; w < WORKERS; w++) expect(await store.get(`lc:{w${w}}:kept`)).toBe(`v${w}`);
      const failed = load.outcomes.filter((o) => !o.ok);
      console.info(
        `[redis cluster faults] master killed for good: its replica serves its slots ${Math.round(allSlotsAt - killedAt)} ms later; ` +
          `${load.outcomes.length} calls, ${failed.length} failed (${failed.filter((o) => onVictim(o.w)).length} on its slots), ` +
          `slowest ${Math.round(slowestOf(load.outcomes))} ms`,
      );
    }, 60_000);
  });
});
