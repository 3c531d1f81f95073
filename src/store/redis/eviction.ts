/**
 * Whether Redis may evict our keys. Every key the store writes has a TTL, so under `maxmemory` any
 * policy but `noeviction` — the `volatile-*` ones included, the default of several managed Redis
 * services — may drop an idempotency record (a retried payment runs twice), a rate-limit counter (a
 * fresh budget), an instance lock (a lost update) or a session. With `noeviction` a full Redis refuses
 * writes instead: actions answer 503, nothing is silently forgotten.
 */
import type { Cluster, Redis } from 'ioredis';

/** The eviction risk of one node, or `null` when it cannot evict (policy `noeviction`, or no `maxmemory`). */
export function evictionRiskOf(infoMemory: string): string | null {
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(infoMemory)?.[1]?.trim();
  const policy = field('maxmemory_policy');
  const maxmemory = Number(field('maxmemory') ?? '0');
  if (policy === undefined) return 'INFO memory has no maxmemory_policy field';
  if (policy === 'noeviction' || maxmemory === 0) return null;
  return `maxmemory-policy is ${policy} with maxmemory ${maxmemory} bytes: when memory runs short Redis evicts keys, idempotency records and rate-limit counters included; set maxmemory-policy noeviction`;
}

/**
 * Reads the eviction settings of a Redis (every master of a Cluster). Resolves with the risk found
 * (one line per node at risk), or `null`; rejects when a node cannot be asked.
 */
export async function readEvictionRisk(client: Redis | Cluster): Promise<string | null> {
  const nodes = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
  // A Cluster client that has not connected yet knows no master: that is not "nothing to fear".
  if (nodes.length === 0) throw new Error('no master node is known');
  const risks = await Promise.all(
    nodes.map(async (node) => {
      const risk = evictionRiskOf(await node.info('memory'));
      return risk === null ? null : client.isCluster ? `${node.options.host}:${node.options.port}: ${risk}` : risk;
    }),
  );
  const found = risks.filter((r): r is string => r !== null);
  return found.length === 0 ? null : found.join('; ');
}

/**
 * Calls `warn` with the risk each time the client (re)connects and finds Redis able to evict our
 * keys: a start-up log line an operator sees before the first lost record. A failed read is ignored
 * (the health check reports it).
 */
export function warnOnEvictionRisk(client: Redis | Cluster, warn: (message: string) => void): void {
  const check = () => {
    readEvictionRisk(client).then(
      (risk) => risk !== null && warn(`Redis ${risk}`),
      () => undefined,
    );
  };
  client.on('ready', check);
  // Connected before this was called: its `ready` has gone by.
  if (client.status === 'ready') check();
}
