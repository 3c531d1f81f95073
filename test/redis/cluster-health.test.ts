/**
 * A Redis Cluster that is only partly right, on one cluster of three masters with a replica each
 * (the destructive case last):
 * - a single-Redis REDIS_URL naming one of its nodes: refused with words, by the store (health not
 *   ready, every call 503) and by `doctor --connect`, instead of pages half 503 (MOVED), every
 *   action 503 (CROSSSLOT) and a health check that passed;
 * - a slot migrating under an action: the action's batch is refused (TRYAGAIN) while ioredis may
 *   still retry it; its release of the instance lock must run after it, or the lock it claims late
 *   holds the component for the lock's TTL (10 s);
 * - an ordinary automatic failover with no traffic (a master killed, its replica promoted, the old
 *   master back as a replica): health ready again within seconds, though no data call ever hit the
 *   failed-over slots to refresh ioredis's slot table (it stayed 503 for good, so a balancer took
 *   every instance out and nothing refreshed it), and an idle store's slot table healed by itself;
 * - a master and its replica down for good under `cluster-require-full-coverage no`: a third of the
 *   slots unserved, so health is not ready, on every check, not by turns.
 */
import type { FastifyInstance } from 'fastify';
import { Cluster, Redis, type ClusterOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runServiceChecks } from '../../src/cli/doctor-services.js';
import { defineComponent } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { loadConfig } from '../../src/ops/config.js';
import { redisTarget } from '../../src/runtime/backends.js';
import { CLUSTER_NODE_REFUSAL, createRedisStore, redisClientOf, redisClusterOptions, WRITE_CHECK_KEY } from '../../src/store/redis/index.js';
import type { Store } from '../../src/store/types.js';
import { oneComponentApp, openClient } from '../helpers/demo.js';
import { REDIS_AVAILABLE, sleep, startRedisCluster, type RedisCluster } from './server.js';
import { waitUntil } from '../helpers/wait-until.js';

const job = defineComponent({
  name: 'job',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: { run: { run: (s: { n: number }) => ({ n: s.n + 1 }) } },
  render: (s) => html`<p>${s.n}</p>`,
});

const startApp = (store: Store): Promise<FastifyInstance> => oneComponentApp(job, store);

/** How long healing after a failover is polled for: beyond the test's own timeout (60 s). */
const HEAL_LIMIT_MS = 120_000;

/** A master: its port and node id. */
interface Master {
  id: string;
  port: number;
}

/** The masters serving slots, as `CLUSTER SLOTS` on `port` says (a node's view of roles may lag just after creation; slots do not). */
async function mastersOf(port: number): Promise<Master[]> {
  const ranges = (await redisCall(port, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
  const ports = [...new Set(ranges.map((range) => range[2][1]))];
  return Promise.all(ports.map(async (p) => ({ port: p, id: String(await redisCall(p, 'CLUSTER', 'MYID')) })));
}

/** The port of the master `port` replicates, or undefined for a master (`ROLE`). */
async function masterPortOf(port: number): Promise<number | undefined> {
  const role = (await redisCall(port, 'ROLE')) as [string, string, number];
  return role[0] === 'slave' ? Number(role[2]) : undefined;
}

async function redisCall(port: number, ...args: (string | number)[]): Promise<unknown> {
  const admin = new Redis(port, '127.0.0.1');
  try {
    return await admin.call(args[0] as string, ...args.slice(1));
  } finally {
    admin.disconnect();
  }
}

/** The port of the master serving `slot`, as `CLUSTER SLOTS` on `port` says. */
async function ownerOf(port: number, slot: number): Promise<number> {
  const ranges = (await redisCall(port, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (range === undefined) throw new Error(`slot ${slot} is served by no master`);
  return range[2][1];
}

describe.skipIf(!REDIS_AVAILABLE)('Redis Cluster partly right (3 masters, a replica each)', () => {
  let cluster: RedisCluster | undefined;
  const stores: Store[] = [];
  let app: FastifyInstance | undefined;
  const started = (): RedisCluster => {
    if (cluster === undefined) throw new Error('test: the cluster did not start');
    return cluster;
  };
  /** A store on the cluster with the default deadline (500 ms); its client built with `redisClusterOptions(clientTimeoutMs)`. */
  const openCluster = (clientTimeoutMs = 500, overrides: ClusterOptions = {}, onRoundTrip?: (op: string) => void): Store => {
    const c = started();
    const store = createRedisStore({
      client: new Cluster(
        c.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })),
        { ...redisClusterOptions(clientTimeoutMs), ...overrides },
      ),
      onRoundTrip,
    });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    cluster = await startRedisCluster(3, { replicas: 1 });
    console.info(`[redis cluster health] 3 masters + 3 replicas up in ${Math.round(cluster.startupMs)} ms`);
  }, 60_000);
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('a single-Redis REDIS_URL naming a cluster node: the store refuses it (health not ready, calls 503, reported once) and doctor fails', async () => {
    const node = (started().nodes[0] as { url: string }).url;
    const reported: Error[] = [];
    const store = createRedisStore({ ...(redisTarget(node) as { url: string }), onConnectionError: (error) => reported.push(error) });
    stores.push(store);
    await expect(store.health()).rejects.toThrow(CLUSTER_NODE_REFUSAL);
    // An action's first batch: keys of two sessions' tags (CROSSSLOT on the node itself) and of other nodes' slots (MOVED).
    const batch = [
      { op: 'get', key: 'lc:{s:a}:session' },
      { op: 'get', key: 'lc:{s:b}:session' },
    ] as const;
    await expect(store.batch(batch)).rejects.toThrow(CLUSTER_NODE_REFUSAL);
    await expect(store.get('lc:{s:a}:session')).rejects.toThrow(CLUSTER_NODE_REFUSAL);
    expect(reported.map((e) => e.message)).toEqual([`${CLUSTER_NODE_REFUSAL}; the store stays unavailable.`]);

    const [redis] = await runServiceChecks(loadConfig({ REDIS_URL: node, DATABASE_URL: 'sqlite::memory:' }), { timeoutMs: 2_000 });
    expect(redis?.ok).toBe(false);
    expect(redis?.problems).toEqual([`${CLUSTER_NODE_REFUSAL}, so the app's store would answer 503`]);
    // The seed list of the same cluster passes both.
    const seeds = started()
      .nodes.map((n) => n.url)
      .join(',');
    expect((await runServiceChecks(loadConfig({ REDIS_URL: seeds, DATABASE_URL: 'sqlite::memory:' }), { timeoutMs: 2_000 }))[0]?.ok).toBe(true);
    const healthy = openCluster();
    await healthy.health();
  }, 20_000);

  it.each([
    ['the app\'s client options (ioredis gives up on TRYAGAIN within the deadline)', 500],
    ['ioredis still retrying past the deadline (its options built for 5 s)', 5_000],
  ])('a slot migrating under an action, %s: refused (503), and once the migration ends the next action runs at once, no lock left', async (_, clientTimeoutMs) => {
    const c = started();
    const any = (c.nodes[0] as { port: number }).port;
    const masters = await mastersOf(any);
    // This test-owned cluster only: the previous case's session must not be found below.
    for (const m of masters) await redisCall(m.port, 'FLUSHALL');
    const rounds: string[] = [];
    const store = openCluster(clientTimeoutMs, {}, (op) => rounds.push(op));
    app = await startApp(store);
    const client = await openClient(app);
    expect((await client.action('job:main', 'run')).statusCode).toBe(200);
    // The session's keys: find its state on the masters.
    let stateKey: string | undefined;
    for (const m of masters) stateKey ??= ((await redisCall(m.port, 'KEYS', 'lc:{s:*}:state:job:main')) as string[])[0];
    if (stateKey === undefined) throw new Error('test: no state key found');
    const lockKey = stateKey.replace(':state:job:main', ':lock:job:main');
    const slot = Number(await redisCall(any, 'CLUSTER', 'KEYSLOT', lockKey));
    const admin = new Cluster([{ host: '127.0.0.1', port: any }]);
    try {
      const trials: { refused: number; refusedMs: number; next: number; nextMs: number; nextRounds: string[]; lockLeft: number }[] = [];
      for (let trial = 0; trial < 2; trial++) {
        const ownerPort = await ownerOf(any, slot);
        const owner = masters.find((m) => m.port === ownerPort) as Master;
        const target = masters.find((m) => m.port !== ownerPort) as Master;
        await redisCall(target.port, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', owner.id);
        await redisCall(owner.port, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.id);
        let t = performance.now();
        const during = await client.action('job:main', 'run');
        const refusedMs = performance.now() - t;
        if (trial % 2 === 0) {
          // Aborted: the slot stays with its owner.
          await redisCall(owner.port, 'CLUSTER', 'SETSLOT', slot, 'STABLE');
          await redisCall(target.port, 'CLUSTER', 'SETSLOT', slot, 'STABLE');
        } else {
          // Completed: its keys moved, every master told the new owner.
          const keys = (await redisCall(owner.port, 'CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
          if (keys.length > 0) await redisCall(owner.port, 'MIGRATE', '127.0.0.1', target.port, '', 0, 5_000, 'KEYS', ...keys);
          for (const m of masters) await redisCall(m.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', target.id);
        }
        // A batch ioredis was still retrying has had its chance to run by now (it used to retry for 1.6 s).
        await sleep(1_200);
        const lockLeft = Number(await admin.pttl(lockKey));
        t = performance.now();
        rounds.length = 0;
        const next = await client.action('job:main', 'run');
        const nextRounds = [...rounds];
        trials.push({ refused: during.statusCode, refusedMs: Math.round(refusedMs), next: next.statusCode, nextMs: Math.round(performance.now() - t), nextRounds, lockLeft });
      }
      console.info(`[redis cluster health] slot ${slot} migrating under an action: ${JSON.stringify(trials)}`);
      for (const trial of trials) {
        expect(trial.refused).toBe(503);
        // No lock left behind (-2: no such key), and the next action does not wait for one: counted,
        // not timed (shared, noisy machines) — a held lock is polled with a lone claim per round trip.
        expect(trial.lockLeft).toBe(-2);
        expect(trial.next).toBe(200);
        expect(trial.nextRounds, 'the next action takes two round trips (one batch before, one after): a lock left behind adds lone claims').toEqual(['batch', 'batch']);
      }
      expect(Number(await admin.exists(lockKey))).toBe(0);
    } finally {
      admin.disconnect();
    }
  }, 60_000);

  it('an automatic failover with no traffic: health is ready again within seconds, and an idle store finds the new master by itself', async () => {
    const c = started();
    const any = (c.nodes[0] as { port: number }).port;
    // A faster failover for this case only (the next one measures through the 2 s timeout).
    for (const node of c.nodes) await redisCall(node.port, 'CONFIG', 'SET', 'cluster-node-timeout', '1000');
    try {
      // Health checks only, without the periodic slot refresh: the check must heal the table itself.
      const store = openCluster(500, { slotsRefreshInterval: 0 });
      // The app's options, never asked anything after its first check: its periodic refresh alone must heal its table.
      const idle = openCluster();
      await Promise.all([store.health(), idle.health()]);
      // A master that does not serve the health check's own key (its write would refresh the table by itself).
      const healthOwner = await ownerOf(any, Number(await redisCall(any, 'CLUSTER', 'KEYSLOT', WRITE_CHECK_KEY)));
      const victim = (await mastersOf(any)).find((m) => m.port !== healthOwner) as Master;
      let replicaPort: number | undefined;
      for (const node of c.nodes) if ((await masterPortOf(node.port)) === victim.port) replicaPort = node.port;
      if (replicaPort === undefined) throw new Error(`test: master ${victim.port} has no replica`);
      // A key of the victim's slots, for the one data call at the end.
      const ranges = ((await redisCall(any, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][]).filter((r) => r[2][1] === victim.port);
      let victimKey = '';
      let victimSlot = -1;
      for (let n = 0; victimKey === ''; n++) {
        const slot = Number(await redisCall(any, 'CLUSTER', 'KEYSLOT', `lc:{f${n}}:x`));
        if (ranges.some(([from, to]) => slot >= from && slot <= to)) [victimKey, victimSlot] = [`lc:{f${n}}:x`, slot];
      }
      const victimNode = c.nodes.find((n) => n.port === victim.port) as (typeof c.nodes)[number];
      // A replica that has not finished its first sync (just after the cluster was created) is never promoted.
      // Polled until the test's timeout (a loaded machine only makes it late), as are the two waits below.
      let replication = '';
      await waitUntil(`replica ${replicaPort} to finish its first sync`, async () => /^master_link_status:up/m.test((replication = String(await redisCall(replicaPort, 'INFO', 'replication')))), {
        seen: () => replication,
      });
      const killedAt = performance.now();
      await victimNode.kill();
      // Promoted: the replica is a master and the cluster serves every slot again (asked of redis, not of the stores).
      let info = '';
      await waitUntil(
        `replica ${replicaPort} to be promoted, every slot served`,
        async () => (info = String(await redisCall(replicaPort, 'CLUSTER', 'INFO'))) !== '' && (await masterPortOf(replicaPort)) === undefined && info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384'),
        { seen: () => info },
      );
      const promotedAt = performance.now();
      await victimNode.restart();
      let masterOfVictim: number | undefined;
      await waitUntil(`the old master ${victim.port} to rejoin as a replica of ${replicaPort}`, async () => (masterOfVictim = await masterPortOf(victim.port)) === replicaPort, {
        seen: () => masterOfVictim,
      });
      const rejoinedAt = performance.now();
      // No data call at all from here on: only health checks, as a balancer sends them.
      const verdicts: string[] = [];
      let readyAt: number | undefined;
      // Polled past the test's own timeout: health that never gets ready again fails the test by
      // timeout; how soon it did is printed, not asserted (shared, noisy machines).
      while (readyAt === undefined && performance.now() - rejoinedAt < HEAL_LIMIT_MS) {
        const verdict = await store.health().then(() => 'ready', (error: Error) => error.message);
        verdicts.push(verdict);
        if (verdict === 'ready') readyAt = performance.now();
        else await sleep(100);
      }
      const idleTable = (redisClientOf(idle) as Cluster).slots;
      const newMaster = `127.0.0.1:${replicaPort}`;
      let idleHealedAt: number | undefined;
      while (idleHealedAt === undefined && performance.now() - promotedAt < HEAL_LIMIT_MS) {
        if (idleTable[victimSlot]?.[0] === newMaster) idleHealedAt = performance.now();
        else await sleep(50);
      }
      console.info(
        `[redis cluster health] failover of ${victim.port} to ${replicaPort}, no traffic: promoted ${Math.round(promotedAt - killedAt)} ms after the kill; ` +
          `health ready ${readyAt === undefined ? 'never' : `${Math.round(readyAt - rejoinedAt)} ms`} after the old master rejoined (${verdicts.length} checks; first: ${verdicts[0]}); ` +
          `idle store's slot table ${idleHealedAt === undefined ? 'never healed' : `healed ${Math.round(idleHealedAt - promotedAt)} ms after the promotion`}`,
      );
      expect(verdicts.at(-1)).toBe('ready');
      expect(idleHealedAt).toBeDefined();
      // A data call on the failed-over slots then succeeds on the idle store at once.
      expect(await idle.get(victimKey).then(() => 'ok', (error: Error) => error.message)).toBe('ok');
    } finally {
      // Every node up again (the victim restarted if the case failed before), at the usual timeout.
      for (const node of c.nodes) {
        if (node.pid === undefined) await node.restart();
        await redisCall(node.port, 'CONFIG', 'SET', 'cluster-node-timeout', '2000');
      }
    }
  }, 60_000);

  it('a master and its replica down for good (cluster-require-full-coverage no): health is not ready on every check', async () => {
    const c = started();
    const any = (c.nodes[0] as { port: number }).port;
    for (const node of c.nodes) await redisCall(node.port, 'CONFIG', 'SET', 'cluster-require-full-coverage', 'no');
    const store = openCluster();
    await store.health();
    // A master that does not serve the health check's own key (that one was always caught).
    const healthSlot = Number(await redisCall(any, 'CLUSTER', 'KEYSLOT', WRITE_CHECK_KEY));
    const healthOwner = await ownerOf(any, healthSlot);
    const victim = (await mastersOf(any)).find((m) => m.port !== healthOwner && m.port !== any) as Master;
    const replicas: number[] = [];
    for (const node of c.nodes) if ((await masterPortOf(node.port)) === victim.port) replicas.push(node.port);
    expect(replicas).toHaveLength(1);
    const byPort = (port: number) => c.nodes.find((n) => n.port === port) as (typeof c.nodes)[number];
    await byPort(replicas[0] as number).kill();
    await byPort(victim.port).kill();

    // Through the node timeout (2 s: the master only unreachable) and past it (flagged failing, slots
    // unserved): checks one after another until the cluster's own count shows, then five more.
    const verdicts: string[] = [];
    const check = async () => verdicts.push(await store.health().then(() => 'ready', (error: Error) => error.message));
    const flagged = (v: string) => /\d+ of 16384 slots served/.test(v);
    await waitUntil('a health check to report the unserved slots', async () => (await check(), flagged(verdicts.at(-1) as string)), {
      every: 150,
      seen: () => `${verdicts.length} checks, the last: ${verdicts.at(-1)}`,
    });
    for (let more = 0; more < 5; more++) await check();
    const passed = verdicts.filter((v) => v === 'ready').length;
    const before = verdicts.findIndex(flagged);
    console.info(`[redis cluster health] master ${victim.port} and its replica down: ${verdicts.length} checks (${before} before the cluster flagged it), ${passed} passed; last: ${verdicts.at(-1)}`);
    expect(passed).toBe(0);
    for (const v of verdicts.slice(-5)) expect(v).toMatch(/of 16384 slots served|master 127\.0\.0\.1:\d+ (is not connected|did not answer PING)/);
  }, 30_000);
});
