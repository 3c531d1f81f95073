/**
 * The ioredis client options the store relies on (fail fast, never replay a command, reconnect
 * forever with capped backoff), for a single Redis, one behind Redis Sentinel and a Redis Cluster;
 * and the bound on the store's deadline, `commandTimeoutMs`, that they derive their timeouts from.
 */
import type { ClusterOptions, RedisOptions } from 'ioredis';
import { checkTimerDelay, MAX_TIMER_MS } from '../../core/deadline.js';
import { reportingRetryReasons } from './connection.js';

/** The default `commandTimeoutMs`: of the store, and of the options built here. */
export const DEFAULT_TIMEOUT_MS = 500;

/** ms between ioredis's retries of a call refused with TRYAGAIN (a slot migrating). */
const TRY_AGAIN_DELAY_MS = 50;

/**
 * How often a cluster client refreshes its slot table by itself (`redisClusterOptions`). ioredis 6
 * sets no interval: its table changed only when a data call hit MOVED or found no connection for
 * its slot. After a failover, the promoted replica's slots then stayed unknown to an instance until
 * a call for them failed once (503) — and the health check, which judged that stale table, stayed
 * 503 for good with no traffic on them (measured: over 11 minutes). 5 s, the interval ioredis 4 and
 * 5 had by default: each refresh is one short connection to one node and one `CLUSTER SLOTS`, so
 * an idle instance learns a failover within 5 s of the promotion (test/redis/cluster-health.test.ts).
 */
const SLOTS_REFRESH_INTERVAL_MS = 5_000;

/** The client's connect and socket timeouts are this many command timeouts (`redisClientOptions`). */
const SOCKET_TIMEOUTS = 4;

/**
 * The longest `commandTimeoutMs`: four of them (the client's socket timeout, a Node timer) must stay
 * within 2^31 − 1 ms. Past it ioredis's socket timer fired after 1 ms and dropped the connection
 * under every command: `commandTimeoutMs: 2 ** 29` answered every call 503.
 */
export const MAX_COMMAND_TIMEOUT_MS = Math.floor(MAX_TIMER_MS / SOCKET_TIMEOUTS);

/**
 * `commandTimeoutMs` when it is a number of ms from 1 to `MAX_COMMAND_TIMEOUT_MS` (a fraction below 1
 * would be a deadline of 1 ms); `where` names the caller.
 */
export function commandTimeoutOf(where: string, ms: number, name = 'commandTimeoutMs'): number {
  return checkTimerDelay(ms, { max: MAX_COMMAND_TIMEOUT_MS }, () => {
    return new TypeError(`${where}: ${name} must be a positive number of ms, at most ${MAX_COMMAND_TIMEOUT_MS} (the socket timeout is ${SOCKET_TIMEOUTS} of them, and Node's timers wait from 1 to ${MAX_TIMER_MS} ms)`);
  });
}

/** Reconnect after 100 ms, 200 ms, … at most one second apart, forever. */
function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 100, 1_000);
}

/**
 * The `ioredis` options the store relies on: fail fast while disconnected (no offline queue, no
 * retries), never replay a command after a reconnect, reconnect forever with capped backoff, and
 * drop a socket that stops answering.
 *
 * @param commandTimeoutMs - the store's deadline; a silent socket is dropped after four of them
 * @example new Redis('redis://127.0.0.1:6379', redisClientOptions())
 */
export function redisClientOptions(commandTimeoutMs = DEFAULT_TIMEOUT_MS): RedisOptions {
  commandTimeoutOf('redisClientOptions', commandTimeoutMs);
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: reconnectDelay,
    connectTimeout: Math.max(1_000, commandTimeoutMs * SOCKET_TIMEOUTS),
    socketTimeout: Math.max(2_000, commandTimeoutMs * SOCKET_TIMEOUTS),
  };
}

/**
 * The `ioredis` options for a Redis behind Redis Sentinel, to add `sentinels` and the master's `name`
 * to: `redisClientOptions` plus what makes the client leave a demoted master quickly.
 *
 * `failoverDetector: true`: the client subscribes to `+switch-master` on the sentinels and drops its
 * connection the moment they promote a replica. ioredis's default (off) left it on the old master
 * until Sentinel demoted it (measured: ~11 s after a `SENTINEL FAILOVER`), and everything written
 * there meanwhile — idempotency records, state, lock releases that had answered 200 — was lost with
 * the demotion: a retry with the same key ran the action again. With it the window is ~1 s, not none
 * (docs/scaling.md, "Redis Sentinel").
 * `reconnectOnError` on READONLY: a connection still on a node that has turned replica reconnects,
 * asking the sentinels again, instead of answering 503 until something else drops it (the failed call
 * is not sent again).
 * The sentinels are asked again with the store's capped backoff (`sentinelRetryStrategy`), and a
 * sentinel connection of the failover detector that dropped is reopened with it too
 * (`sentinelReconnectStrategy`; ioredis waits a minute, blind to a failover announced meanwhile
 * when every sentinel restarted). A sentinel that hangs is given up after the socket timeout
 * (`sentinelCommandTimeout`; none by default: the client waited for it forever).
 *
 * @param commandTimeoutMs - the store's deadline (see `redisClientOptions`)
 * @example new Redis({ ...redisSentinelOptions(), sentinels: [{ host: '10.0.0.1', port: 26379 }], name: 'mymaster' })
 */
export function redisSentinelOptions(commandTimeoutMs = DEFAULT_TIMEOUT_MS): RedisOptions {
  commandTimeoutOf('redisSentinelOptions', commandTimeoutMs);
  const client = redisClientOptions(commandTimeoutMs);
  return {
    ...client,
    failoverDetector: true,
    reconnectOnError: (error) => READONLY.test(error.message),
    sentinelRetryStrategy: reconnectDelay,
    sentinelReconnectStrategy: reconnectDelay,
    sentinelCommandTimeout: client.socketTimeout,
  };
}

/** A write refused by a replica. */
const READONLY = /^READONLY\b/;

/**
 * The `ioredis` Cluster options the store relies on (see `redisClientOptions`); the cluster itself
 * keeps reconnecting with the same capped backoff.
 *
 * `retryDelayOnFailover: 0`: a call whose slot lives on a master that is down fails at once, as
 * on a single Redis, instead of being retried every 100 ms (up to 16 times) past the store's
 * deadline, so that every request for that master's slots waited the whole deadline. The other
 * masters' slots are not affected, and ioredis still finds a promoted replica by itself
 * (test/redis/cluster-faults.test.ts: both cases, measured).
 *
 * The other retries ioredis makes on its own, in a delay queue the store's deadline cannot reach,
 * are bounded to that deadline too: a call ioredis still retried after the store had answered 503
 * ran late (TRYAGAIN during a slot migration, 100 ms apart up to 16 times; CLUSTERDOWN, every
 * 100 ms). `retryDelayOnClusterDown: 0`: CLUSTERDOWN fails at once, as a dead master does.
 * `retryDelayOnTryAgain: 50` with `maxRedirections` two deadlines' worth of them: ioredis sends a
 * call refused with TRYAGAIN again to a random master, which answers MOVED back to the owner most of
 * the time (counted as a redirection too), so a try of the owner costs up to two. With one deadline's
 * worth (9 for 500 ms) only ~6 tries reached the owner and the call failed after ~350 ms with "Too
 * many Cluster redirections"; now the owner is retried for about the deadline (at most two, when the
 * random pick is the owner every time, while the store has answered 503 at one). A migration of a few
 * keys ends within that; a longer one answers 503 (TRYAGAIN) by itself. At least 2 are always allowed.
 *
 * `slotsRefreshInterval` (`SLOTS_REFRESH_INTERVAL_MS`): the slot table is refreshed every 5 s even
 * with no traffic, so the calls of a failed-over master's slots find its promoted replica without
 * failing first.
 *
 * @example new Cluster([{ host: '127.0.0.1', port: 7000 }], redisClusterOptions())
 */
export function redisClusterOptions(commandTimeoutMs = DEFAULT_TIMEOUT_MS): ClusterOptions {
  commandTimeoutOf('redisClusterOptions', commandTimeoutMs);
  return {
    enableOfflineQueue: false,
    // Also reports why a start-up attempt failed (connection.ts): a Cluster built with these options
    // by the app itself says why it cannot connect, as one from REDIS_URL does.
    clusterRetryStrategy: reportingRetryReasons(reconnectDelay),
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    retryDelayOnTryAgain: TRY_AGAIN_DELAY_MS,
    maxRedirections: Math.max(2, 2 * Math.floor(commandTimeoutMs / TRY_AGAIN_DELAY_MS)),
    slotsRefreshTimeout: Math.max(1_000, commandTimeoutMs * 2),
    slotsRefreshInterval: SLOTS_REFRESH_INTERVAL_MS,
    redisOptions: redisClientOptions(commandTimeoutMs),
  };
}
