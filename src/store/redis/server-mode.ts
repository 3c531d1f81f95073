/**
 * What kind of server a single-Redis URL reached. One URL is a single Redis, but a node of a Redis
 * Cluster answers it too, as does a Redis Sentinel: the store refuses both (see `checkServerMode`
 * in connection-state.ts), as `doctor --connect` does.
 */
import type { Redis } from 'ioredis';

/** Why the store refuses a single-Redis URL that names a node of a Redis Cluster (see `isClusterNodeInfo`). */
export const CLUSTER_NODE_REFUSAL =
  'REDIS_URL names one node of a Redis Cluster (cluster_enabled:1), which refuses most of what the store sends (MOVED, CROSSSLOT); ' +
  'list the seed nodes comma-separated instead (redis://10.0.0.1:6379,redis://10.0.0.2:6379,…)';

/** True when `info`, the reply to `INFO cluster` (or `INFO`), comes from a cluster-enabled node. */
export function isClusterNodeInfo(info: unknown): boolean {
  return /^cluster_enabled:1\s*$/m.test(String(info));
}

/** Why the store refuses a URL that names a Redis Sentinel (see `serverModeRefusal`). */
export const SENTINEL_REFUSAL =
  'REDIS_URL names a Redis Sentinel, not a Redis server: build the client with sentinels and the master\'s name ' +
  '(docs/scaling.md, Redis Sentinel)';

/**
 * Why a single-Redis client must not use the server whose `INFO` (all default sections) is `info`:
 * a node of a Redis Cluster, or a Redis Sentinel (`redis_mode:sentinel`); `undefined` for a Redis.
 */
export function serverModeRefusal(info: unknown): string | undefined {
  if (/^redis_mode:sentinel\s*$/m.test(String(info))) return SENTINEL_REFUSAL;
  return isClusterNodeInfo(info) ? CLUSTER_NODE_REFUSAL : undefined;
}

/** The master's name of a client that finds its Redis through Sentinel, else `undefined`. */
export function sentinelMasterOf(client: Redis): string | undefined {
  const { sentinels, name } = client.options;
  return sentinels !== null && sentinels !== undefined && sentinels.length > 0 && typeof name === 'string' ? name : undefined;
}
