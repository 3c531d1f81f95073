/**
 * What the store's health check asks (`healthCheck`): one call of the batch script as every action
 * sends it (`probeActions`), and on a cluster that every slot is served (`cluster-coverage.ts`);
 * a refusal is explained in an operator's words (`write-refusal.ts`). `doctor --connect` uses
 * `probeWrite`.
 */
import type { Cluster, Redis } from 'ioredis';
import { WRITE_CHECK_KEY } from '../keys.js';
import type { StoreOp } from '../types.js';
import { toUnavailable, type Call } from './calls.js';
import { clusterCoverage } from './cluster-coverage.js';
import { batchArgs, type RateLimitClock } from './commands.js';
import { ignore } from './ignore.js';
import { sentinelMasterOf } from './server-mode.js';
import { explainRefusedWrite } from './write-refusal.js';

/**
 * One write through the store's batch script (EVALSHA), the path of every action: a `touch` of
 * `key`, which must not exist — PEXPIRE on a missing key changes nothing and needs no memory.
 * Rejects with READONLY on a replica and NOPERM for an ACL user barred from scripts or the key.
 * The client must have the store's scripts (`defineLuaCommands`).
 */
export function probeWrite(client: Redis | Cluster, key: string, clock: RateLimitClock = 'redis'): Promise<void> {
  return client.lcBatch(batchArgs([{ op: 'touch', key, ttlMs: 1_000 }], (k) => k, () => '', clock)).then(ignore);
}

/** The rate-limit policy of `probeActions`' peek: any valid one (nothing is counted). */
const PROBE_POLICY = { algorithm: 'gcra', limit: 1, windowMs: 1_000 } as const;

/**
 * The store's health probe: ONE call of the batch script with what every action needs of it, all
 * on `key`, which must not exist — a `touch` (PEXPIRE: the write, refused by a replica; on a
 * missing key it changes nothing and needs no memory), a `get`, and a GCRA `rateLimitPeek`, which
 * reads the key and, on Redis's clock, `TIME`, and writes nothing. An ACL user without `+time`
 * passed a probe of the write alone, while every rate-limited action answered 503.
 * `doctor --connect` keeps `probeWrite` and asks TIME on its own.
 */
export function probeActions(client: Redis | Cluster, key: string, clock: RateLimitClock = 'redis'): Promise<void> {
  const ops: StoreOp[] = [
    { op: 'touch', key, ttlMs: 1_000 },
    { op: 'get', key },
    { op: 'rateLimitPeek', key, policy: PROBE_POLICY, nowMs: Date.now() },
  ];
  return client.lcBatch(batchArgs(ops, (k) => k, () => '', clock)).then(ignore);
}

/**
 * Whether the store can do its work, not only reach Redis: one call of the batch script, as
 * every action sends, with a write and a rate-limit read (`probeActions`). A replica (READONLY:
 * REDIS_URL still names the old master after a failover), an ACL user without scripts (NOPERM)
 * or without a command the scripts run (TIME, PEXPIRE…) answered PING, yet every page and action
 * answered 503. On a cluster, every slot must be served as well (`clusterCoverage`): a master
 * that is down fails the sessions whose keys hash to its slots.
 *
 * @param keyOf - the final Redis key of a store key (the key prefix added)
 * @param timeoutMs - the store's deadline, which a cluster's slot-table refresh takes half of at most
 */
export function healthCheck(client: Redis | Cluster, call: Call, keyOf: (key: string) => string, rateLimitClock: RateLimitClock, timeoutMs: number): () => Promise<void> {
  return function health(): Promise<void> {
    // Only the probe's own failure is explained. The store's refusals (a database refused, a Cluster
    // node or a Sentinel behind the URL), a connection that is down and the cluster's coverage say
    // why already, and a NOPERM in them (an ACL user without SELECT, PING or CLUSTER) was taken for
    // a refusal of the scripts, sending the operator to grant EVAL instead.
    const probe = () =>
      probeActions(client, keyOf(WRITE_CHECK_KEY), rateLimitClock).catch((error: unknown) =>
        explainRefusedWrite(toUnavailable(error), client.isCluster ? undefined : sentinelMasterOf(client as Redis)),
      );
    if (!client.isCluster) return call('health', probe);
    return call('health', () => Promise.all([probe(), clusterCoverage(client as Cluster, timeoutMs)])).then(ignore);
  };
}
