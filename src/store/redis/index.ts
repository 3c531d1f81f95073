/**
 * The shared store: Redis (or Redis Cluster) through `ioredis`, so several instances share sessions,
 * component state, idempotency records and rate-limit counters.
 *
 * - Every call has a deadline (`commandTimeoutMs`): a dead or hanging Redis never hangs a request;
 *   the call rejects with `StoreUnavailableError` (answered as 503).
 * - While the connection is down, calls fail at once instead of queueing, and the client
 *   reconnects by itself (backoff capped at one second). Commands are never replayed after a
 *   reconnect, so a call that was reported failed does not run later (see `redisClientOptions`).
 *   One exception: when a ready connection was closed with no error (the server's `timeout`
 *   dropping an idle client, CLIENT KILL), a call waits, within its own deadline, for the
 *   reconnect — which takes ~100 ms — before it is sent; nothing was sent, so nothing is replayed.
 *   Calls fail at once again as soon as an attempt to reconnect fails (see `call`, calls.ts).
 * - One call is one round trip; `batch` is one round trip too. On a single Redis a batch is ONE
 *   script call (`lua/batch.ts`, EVALSHA): Redis runs it whole before anything else, and a lost
 *   connection applies all of it or none of it. It replaced MULTI + one command per op + EXEC,
 *   which cost ioredis a command object, a promise and a reply to parse per op plus two
 *   (~210 → ~75 µs client CPU per action in a store-only bench). On a cluster a batch is one such
 *   script call per hash tag, all sent together to their nodes (one round trip of wall time): the
 *   ops on keys of one tag are atomic together, the batch as a whole is not. Batches of one tag run
 *   in the order they were issued on a cluster too, even after a refused one (`late-batches.ts`).
 * - Write coalescing (single Redis): the socket is corked from the first call of an event-loop
 *   turn to the next `setImmediate`, so the batches of all the requests handled in that turn leave
 *   in one `writev` instead of one write syscall each (~12% more actions/s on Redis in the bench).
 *   Nothing changes per call: each is its own command, round trip and deadline (`write-coalescing.ts`).
 * - Keys carry hash tags (`src/store/keys.ts`) and every script a cluster runs touches keys of
 *   one tag only, so everything works on Redis Cluster. Redis 7.0 or newer is required
 *   (`SET … NX GET`).
 * - Rate limits run the Lua ports of the shared algorithms on Redis's own clock by default, so
 *   instances whose clocks disagree still share every budget exactly (`rateLimitClock`).
 *
 * This file is the entry point: it re-exports what the rest of the code and the package use. The
 * store is built in `store.ts` from:
 * - `options.ts`: `RedisStoreOptions`, checked (`storeSettingsOf`);
 * - `client-options.ts`: the ioredis options for a single Redis, Sentinel and Cluster, and the
 *   bound on `commandTimeoutMs` they derive their timeouts from;
 * - `connection.ts`: the client's first connection (`watchConnection`), the checks of a Redis URL,
 *   and what the client's errors mean (a refused SELECT, a wrong scheme);
 * - `connection-state.ts`: what the client's events tell the store (closed, refused, last error,
 *   may a call wait for a reconnect); `connection-errors.ts`: errors as they may be shown, and the
 *   refusals that will not heal; `server-mode.ts`: a Cluster node or a Sentinel behind a
 *   single-Redis URL;
 * - `calls.ts`: one round trip within the deadline; `write-coalescing.ts`: one socket write per turn;
 * - `commands.ts`: each primitive as a Redis command or batch-script op, and its reply decoded;
 *   `lua/`: the scripts, named constants registered once per client with `defineCommand`;
 * - `batch.ts`: `batch` on a single Redis and on a cluster; `hash-tags.ts`: a batch split by hash
 *   tag; `late-batches.ts`: a tag's scripts kept in order after a refused batch;
 * - `health.ts`: the health probe; `cluster-coverage.ts`: every slot of a cluster served;
 *   `write-refusal.ts`: why Redis refused the store's write, in an operator's words;
 *   `eviction.ts`: whether Redis may evict our keys, and how full it is.
 */
export { createRedisStore, redisClientOf } from './store.js';
export type { RedisStoreOperation, RedisStoreOptions } from './options.js';
export type { RateLimitClock } from './commands.js';
export { commandTimeoutOf, MAX_COMMAND_TIMEOUT_MS, redisClientOptions, redisClusterOptions, redisSentinelOptions } from './client-options.js';
export { CLUSTER_NODE_REFUSAL, isClusterNodeInfo, SENTINEL_REFUSAL, serverModeRefusal } from './server-mode.js';
export { probeActions, probeWrite } from './health.js';
export { explainWriteRefusal, refusedScriptCommand } from './write-refusal.js';

/** The key the health check and `doctor --connect` touch (after the key prefix): never written here, so PEXPIRE always finds it missing. */
export { WRITE_CHECK_KEY } from '../keys.js';
