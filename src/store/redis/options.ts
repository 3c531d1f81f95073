/**
 * What `createRedisStore` takes (`RedisStoreOptions`), and those options checked, with their
 * defaults (`storeSettingsOf`): a bad option throws a `TypeError` before any client is built.
 */
import type { Cluster, Redis } from 'ioredis';
import { redisCredentialsOf } from '../../ops/config-fields.js';
import { commandTimeoutOf, DEFAULT_TIMEOUT_MS } from './client-options.js';
import type { RateLimitClock } from './commands.js';
import { redisDatabaseOf } from './connection.js';

/** What a round trip was for, as passed to `onRoundTrip`. */
export type RedisStoreOperation =
  | 'get'
  | 'getMany'
  | 'set'
  | 'claim'
  | 'touch'
  | 'deleteIfEquals'
  | 'delete'
  | 'rateLimit'
  | 'batch'
  | 'health'
  | 'close';

export interface RedisStoreOptions {
  /**
   * Connection URL (`redis://[user:password@]host:port/db` or `rediss://` for TLS), used when no
   * `client` is given. The client is then built with `redisClientOptions(commandTimeoutMs)`.
   * @example 'redis://127.0.0.1:6379'
   */
  url?: string;
  /**
   * A client to use instead of `url`, for example a `Cluster`. Build it with `redisClientOptions()` /
   * `redisClusterOptions()` (behind Redis Sentinel: `redisSentinelOptions()`) so it fails fast and
   * never replays commands.
   * The store takes it over: `close()` quits it.
   * @example new Cluster([{ host: '10.0.0.1', port: 6379 }], redisClusterOptions())
   */
  client?: Redis | Cluster;
  /**
   * Deadline of every call, in ms, from the call to its answer (a batch included). At most
   * `MAX_COMMAND_TIMEOUT_MS` (536,870,911, about 6.2 days): the client's socket timeout is four of
   * them, and a timer waits at most 2^31 − 1 ms.
   * @default 500
   */
  commandTimeoutMs?: number;
  /**
   * Prepended to every key, to share one Redis between applications. Must not contain `{` or `}`
   * (that would move the keys' Redis Cluster hash tag).
   * @default ''
   */
  keyPrefix?: string;
  /**
   * Called once per network round trip, before it starts (a batch or a `getMany` counts once).
   * Meant for metrics and for tests that count round trips; keep it cheap.
   */
  onRoundTrip?: (operation: RedisStoreOperation) => void;
  /**
   * Receives connection errors (refused, reset, timed out, WRONGPASS…) as the client reports them;
   * the store reconnects by itself meanwhile. Each is a plain `Error` with the client's message
   * (a Cluster's adds the last node's error) and `code`: never keys, values or credentials (ioredis
   * attaches the failed command to its errors, and the arguments of `AUTH`/`HELLO` are the password).
   * A reconnect loop reports the same error about once a second: deduplicate before logging.
   * The last one also ends the message of calls refused while disconnected
   * (`Redis is not connected (reconnecting; last error: …)`), and so the health check's output.
   * @default errors that will not heal by themselves — a refused password or permission (WRONGPASS,
   * NOAUTH, NOPERM), a refused database — are written to stderr, each message once until the
   * connection is up again; the others are ignored
   */
  onConnectionError?: (error: Error) => void;
  /**
   * Whose clock rate-limit steps run on. `redis`: Redis's own (`TIME`, read inside the script), so
   * every instance counts a client's budget on one clock and a skewed instance can neither
   * over-admit nor lock clients out; the `nowMs` a caller passes is then ignored. `caller`: the
   * `nowMs` each call passes, for tests that inject a clock (instances must then be NTP-synced).
   * @default 'redis'
   */
  rateLimitClock?: RateLimitClock;
}

/** The settings a store runs on, from its options. */
export interface StoreSettings {
  /** The deadline of every call, in ms. */
  timeoutMs: number;
  /** `keyPrefix`, or '' for none. */
  prefix: string;
  rateLimitClock: RateLimitClock;
}

/** `options` checked, with their defaults; throws a `TypeError` naming the first bad one. */
export function storeSettingsOf(options: RedisStoreOptions): StoreSettings {
  const timeoutMs = commandTimeoutOf('createRedisStore', options.commandTimeoutMs ?? DEFAULT_TIMEOUT_MS);
  const prefix = options.keyPrefix ?? '';
  if (/[{}]/.test(prefix)) throw new TypeError('createRedisStore: keyPrefix must not contain "{" or "}"');
  if ((options.url === undefined) === (options.client === undefined)) throw new TypeError('createRedisStore: pass exactly one of url or client');
  const rateLimitClock = options.rateLimitClock ?? 'redis';
  if (rateLimitClock !== 'redis' && rateLimitClock !== 'caller') throw new TypeError('createRedisStore: rateLimitClock must be "redis" or "caller"');
  if (options.url !== undefined && /^rediss?:/i.test(options.url)) {
    try {
      const url = new URL(options.url);
      redisCredentialsOf(url);
      redisDatabaseOf(url);
    } catch (error) {
      throw new TypeError(`createRedisStore: the url ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { timeoutMs, prefix, rateLimitClock };
}
