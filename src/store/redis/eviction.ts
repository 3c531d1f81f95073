/**
 * Whether Redis may evict our keys. Every key the store writes has a TTL, so under `maxmemory` any
 * policy but `noeviction` — the `volatile-*` ones included, the default of several managed Redis
 * services — may drop an idempotency record (a retried payment runs twice), a rate-limit counter (a
 * fresh budget), an instance lock (a lost update) or a session. With `noeviction` a full Redis refuses
 * writes instead: actions answer 503, nothing is silently forgotten — and the health check and
 * `doctor --connect` say when it is (nearly) full, since its readiness stays green.
 */
import type { Cluster, Redis } from 'ioredis';
import { messageOf } from '../../core/errors.js';

/** One field of an `INFO` reply (`name:value` lines), or `undefined` when the reply has none. */
function infoField(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** The eviction risk of one node, or `null` when it cannot evict (policy `noeviction`, or no `maxmemory`). */
export function evictionRiskOf(infoMemory: string): string | null {
  const policy = infoField(infoMemory, 'maxmemory_policy');
  const maxmemory = Number(infoField(infoMemory, 'maxmemory') ?? '0');
  if (policy === undefined) return 'INFO memory has no maxmemory_policy field';
  if (policy === 'noeviction' || maxmemory === 0) return null;
  return `maxmemory-policy is ${policy} with maxmemory ${maxmemory} bytes: when memory runs short Redis evicts keys, idempotency records and rate-limit counters included; set maxmemory-policy noeviction`;
}

/** From this share of `maxmemory` on, a node is reported as (nearly) full. */
export const FULL_MEMORY_RATIO = 0.95;

/**
 * How full one node is, or `null` below 95 % of `maxmemory` (or without one). Redis compares
 * `used_memory` less `mem_not_counted_for_evict` (replication and AOF buffers) with `maxmemory`,
 * and past it a `noeviction` Redis refuses every write with `OOM command not allowed`: each page
 * and action then answers 503, while the health write (which needs no memory) keeps the instance
 * ready — so this line is what tells the operator why.
 */
export function memoryPressureOf(infoMemory: string): string | null {
  const maxmemory = Number(infoField(infoMemory, 'maxmemory') ?? '0');
  const used = Number(infoField(infoMemory, 'used_memory') ?? 'NaN') - Number(infoField(infoMemory, 'mem_not_counted_for_evict') ?? '0');
  if (!(maxmemory > 0) || !Number.isFinite(used) || used < maxmemory * FULL_MEMORY_RATIO) return null;
  const policy = infoField(infoMemory, 'maxmemory_policy') ?? 'noeviction';
  const share = `Redis is at ${Math.floor((used * 100) / maxmemory)}% of maxmemory (${maxmemory} bytes)`;
  const fix = 'raise maxmemory or free memory';
  if (policy !== 'noeviction') return `${share}: it evicts keys to make room, or refuses writes (OOM) when it finds none to evict; ${fix}`;
  if (used > maxmemory) return `${share}: writes are refused (OOM) and every page and action answers 503; ${fix}`;
  return `${share}: past 100% writes are refused (OOM) and every page and action answers 503; ${fix}`;
}

/** What one node's `INFO memory` says: its eviction risk and how full it is (`null`: nothing to say). */
export interface NodeMemory {
  /** `host:port` on a Cluster; `undefined` for a single Redis. */
  node: string | undefined;
  evictionRisk: string | null;
  pressure: string | null;
}

/** Asks every master for `INFO memory`, once each; rejects when a node cannot be asked. */
export async function readNodeMemory(client: Redis | Cluster): Promise<NodeMemory[]> {
  const nodes = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
  // A Cluster client that has not connected yet knows no master: that is not "nothing to fear".
  if (nodes.length === 0) throw new Error('no master node is known');
  return Promise.all(
    nodes.map(async (node) => {
      const info = await node.info('memory');
      return { node: client.isCluster ? `${node.options.host}:${node.options.port}` : undefined, evictionRisk: evictionRiskOf(info), pressure: memoryPressureOf(info) };
    }),
  );
}

/** `text` prefixed with the node it is about, on a Cluster. */
export const onNode = (node: string | undefined, text: string) => (node === undefined ? text : `${node}: ${text}`);

/** The lines to show, one per node and problem; `null` when there are none. */
function joined(lines: readonly string[]): string | null {
  return lines.length === 0 ? null : lines.join('; ');
}

/**
 * Reads the eviction settings of a Redis (every master of a Cluster). Resolves with the risk found
 * (one line per node at risk), or `null`; rejects when a node cannot be asked.
 */
export async function readEvictionRisk(client: Redis | Cluster): Promise<string | null> {
  const nodes = await readNodeMemory(client);
  return joined(nodes.flatMap((n) => (n.evictionRisk === null ? [] : [onNode(n.node, n.evictionRisk)])));
}

/**
 * Like `readEvictionRisk`, from the same single `INFO memory` per node, and also how full each node
 * is (`memoryPressureOf`): what the health check reports.
 */
export async function readMemoryProblems(client: Redis | Cluster): Promise<string | null> {
  const nodes = await readNodeMemory(client);
  return joined(nodes.flatMap((n) => [n.evictionRisk, n.pressure].flatMap((p) => (p === null ? [] : [onNode(n.node, p)]))));
}

/** An ACL refusal (`NOPERM …`, e.g. a user without `+info`): no retry mends it, the user's rights do. */
export function isAclRefusal(error: unknown): boolean {
  return /^NOPERM\b/.test(messageOf(error));
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
