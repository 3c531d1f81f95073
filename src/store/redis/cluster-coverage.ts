/**
 * The health check's view of a Redis Cluster: is every slot served, by the cluster's own account and
 * by this client's slot table (`clusterCoverage`)? A master that is down fails the sessions whose
 * keys hash to its slots while every other call succeeds.
 */
import type { Cluster, Redis } from 'ioredis';

/** The slots of a Redis Cluster. */
const CLUSTER_SLOTS = 16_384;

/**
 * The health check refreshes a stale slot table at most once per this long (`refreshSlotTable`):
 * a master down for good, checked often, costs at most one `CLUSTER SLOTS` a second.
 */
const SLOT_REFRESH_SPACING_MS = 1_000;

/**
 * Resolves when every slot of `cluster` is served, as far as the cluster and this client can tell;
 * else rejects saying which are not. Two views, asked together (one round trip of wall time):
 * - the cluster's own: `CLUSTER INFO` of a connected master must say `cluster_state:ok` and
 *   `cluster_slots_ok:16384`. With `cluster-require-full-coverage no` the state stays `ok` while
 *   a master and its replicas are down (or flagged failing), but their slots are not counted ok;
 * - this client's: every master of ioredis's slot table (`slots`, which keeps a dead master until
 *   the cluster reassigns its slots) must be connected and answer PING. ioredis drops a dead node
 *   from its pool and adds it back at the next slot refresh, so its list of connected masters
 *   alone (`nodes('master')`) passed or failed by turns while a master was down.
 *
 * The slot table is only ioredis's copy: after a failover it still named the dead master (not in
 * the pool) until a data call for its slots was redirected, so with no such call the check failed
 * for good, and a balancer that took every instance out made sure none came. So when the table
 * names a master that is not connected, or no master for some slots, it is refreshed first
 * (`refreshSlotTable`), waiting at most half of `deadlineMs` (the rest is left for the PINGs),
 * and judged as it then is: a master really down is still named, and still reported.
 */
export function clusterCoverage(cluster: Cluster, deadlineMs: number): Promise<unknown> {
  if (!slotTableStale(cluster)) return coverageOf(cluster);
  return settledWithin(refreshSlotTable(cluster), deadlineMs / 2).then(() => coverageOf(cluster));
}

/** The masters of `cluster`'s slot table, how many slots it names none for, and the connections of its pool by `host:port`. */
function slotTableOf(cluster: Cluster): { masters: Set<string>; unknown: number; connections: Map<string, Redis> } {
  const connections = new Map<string, Redis>();
  for (const node of cluster.nodes('all')) connections.set(`${node.options.host}:${node.options.port}`, node);
  const masters = new Set<string>();
  let unknown = 0;
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) {
    const master = (cluster.slots[slot] as string[] | undefined)?.[0];
    if (master === undefined) unknown++;
    else masters.add(master);
  }
  return { masters, unknown, connections };
}

/** True when `cluster`'s slot table names no master for some slots, or a master it holds no connection to. */
function slotTableStale(cluster: Cluster): boolean {
  const { masters, unknown, connections } = slotTableOf(cluster);
  return unknown > 0 || [...masters].some((key) => !connections.has(key));
}

/** Per cluster client: the health check's slot-table refresh under way, and when the last one ended. */
const slotRefreshes = new WeakMap<Cluster, { pending: Promise<void> | undefined; endedAt: number }>();

/**
 * Refreshes `cluster`'s slot table (ioredis asks one node `CLUSTER SLOTS` on a connection of its
 * own), unless one ended less than `SLOT_REFRESH_SPACING_MS` ago. Concurrent checks share one
 * refresh, and ioredis folds it into a refresh of its own already under way. Never rejects: a
 * refresh that failed leaves the table as it was, for the check to judge.
 */
function refreshSlotTable(cluster: Cluster): Promise<void> {
  let state = slotRefreshes.get(cluster);
  if (state === undefined) slotRefreshes.set(cluster, (state = { pending: undefined, endedAt: -Infinity }));
  if (state.pending !== undefined) return state.pending;
  if (performance.now() - state.endedAt < SLOT_REFRESH_SPACING_MS) return Promise.resolve();
  const refresh = state;
  refresh.pending = new Promise<void>((resolve) => cluster.refreshSlotsCache(() => resolve())).then(() => {
    refresh.pending = undefined;
    refresh.endedAt = performance.now();
  });
  return refresh.pending;
}

/** Resolves when `work` (which never rejects) has, or after `ms`, whichever comes first. */
function settledWithin(work: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void work.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The verdict of `clusterCoverage` on `cluster`'s slot table as it is now. */
function coverageOf(cluster: Cluster): Promise<unknown> {
  const { masters, unknown, connections } = slotTableOf(cluster);
  if (unknown > 0) return Promise.reject(new Error(`Redis Cluster: the client knows no master for ${unknown} of ${CLUSTER_SLOTS} slots`));
  const pings = [...masters].map((key) => {
    const node = connections.get(key);
    if (node === undefined) return Promise.reject(new Error(`Redis Cluster: master ${key} is not connected (its slots' calls fail)`));
    const ping = () =>
      node.ping().catch((error: unknown) => {
        throw new Error(`Redis Cluster: master ${key} did not answer PING (${error instanceof Error ? error.message : String(error)}; its slots' calls fail)`);
      });
    // A master learned after start-up connects lazily: connect it now (within the deadline).
    return node.status === 'wait' ? node.connect().then(ping) : ping();
  });
  const asked = cluster.nodes('master').find((node) => node.status === 'ready');
  if (asked === undefined) return Promise.reject(new Error('Redis Cluster: no master is connected'));
  const info = asked.cluster('INFO').then((text) => {
    const state = /^cluster_state:(\w+)/m.exec(String(text))?.[1];
    const ok = Number(/^cluster_slots_ok:(\d+)/m.exec(String(text))?.[1]);
    if (state !== 'ok' || ok !== CLUSTER_SLOTS) {
      throw new Error(
        `Redis Cluster: ${Number.isNaN(ok) ? '?' : ok} of ${CLUSTER_SLOTS} slots served (cluster_state:${state ?? '?'}, asked of ${asked.options.host}:${asked.options.port}): ` +
          'the actions of the sessions whose keys hash to the others fail',
      );
    }
  });
  // Every reason, not the first: a master down is often both unreachable and counted unserved.
  return Promise.allSettled([info, ...pings]).then((outcomes) => {
    const reasons = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason instanceof Error ? o.reason.message : String(o.reason)] : []));
    if (reasons.length > 0) throw new Error([...new Set(reasons)].join('; '));
  });
}
