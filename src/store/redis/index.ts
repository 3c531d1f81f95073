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
 *   Calls fail at once again as soon as an attempt to reconnect fails (see `call`).
 * - One call is one round trip; `batch` is one round trip too. On a single Redis a batch is ONE
 *   script call (`lua/batch.ts`, EVALSHA): Redis runs it whole before anything else, and a lost
 *   connection applies all of it or none of it. It replaced MULTI + one command per op + EXEC,
 *   which cost ioredis a command object, a promise and a reply to parse per op plus two
 *   (~210 → ~75 µs client CPU per action in a store-only bench). On a cluster a batch is one such
 *   script call per hash tag, all sent together to their nodes (one round trip of wall time): the
 *   ops on keys of one tag are atomic together, the batch as a whole is not. Batches of one tag run
 *   in the order they were issued on a cluster too, even after a refused one (`late` below).
 * - Write coalescing (single Redis): the socket is corked from the first call of an event-loop
 *   turn to the next `setImmediate`, so the batches of all the requests handled in that turn leave
 *   in one `writev` instead of one write syscall each (~12% more actions/s on Redis in the bench).
 *   Nothing changes per call: each is its own command, round trip and deadline.
 * - Keys carry hash tags (`src/store/keys.ts`) and every script a cluster runs touches keys of
 *   one tag only, so everything works on Redis Cluster. Redis 7.0 or newer is required
 *   (`SET … NX GET`).
 * - Rate limits run the Lua ports of the shared algorithms on Redis's own clock by default, so
 *   instances whose clocks disagree still share every budget exactly (`rateLimitClock`).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { loadIoredis } from './driver.js';
import { checkTimerDelay, MAX_TIMER_MS, withDeadline } from '../../core/deadline.js';
import { StoreUnavailableError } from '../../core/errors.js';
import type { RateLimitDecision, Store, StoreOp, StoreOpResult } from '../types.js';
import { afterThisTurn } from '../after-this-turn.js';
import { checkCompare, checkKey, checkKeys, checkOp, checkRateLimitCall, checkTouch, checkWrite, rejection } from '../checks.js';
import { batchArgs, decode, send, toPx, type RateLimitClock } from './commands.js';

export type { RateLimitClock } from './commands.js';
import { isSelectFailure, redisDatabaseOf, reportingRetryReasons, schemeHintOf, watchConnection, withoutEchoedArguments } from './connection.js';
import { defineLuaCommands, LUA_COMMANDS } from './lua/index.js';
import { redisCredentialsOf } from '../../ops/config-fields.js';
import { censorLine } from '../../ops/logging/redact.js';
import { WRITE_CHECK_KEY } from '../keys.js';

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

const DEFAULT_TIMEOUT_MS = 500;

/** ms between ioredis's retries of a call refused with TRYAGAIN (a slot migrating). */
const TRY_AGAIN_DELAY_MS = 50;

/** The slots of a Redis Cluster. */
const CLUSTER_SLOTS = 16_384;

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

/**
 * The health check refreshes a stale slot table at most once per this long (`refreshSlotTable`):
 * a master down for good, checked often, costs at most one `CLUSTER SLOTS` a second.
 */
const SLOT_REFRESH_SPACING_MS = 1_000;

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

/** The client behind each store `createRedisStore` built (for checks that need Redis itself). */
const clients = new WeakMap<Store, Redis | Cluster>();

/** The ioredis client of a store from `createRedisStore`, `undefined` for any other store. */
export function redisClientOf(store: Store): Redis | Cluster | undefined {
  return clients.get(store);
}

/**
 * A `Store` on Redis or Redis Cluster. On a Cluster its `splitsBatchesByHashTag` is true (one script
 * per hash tag, see `Store.batch`).
 *
 * @example
 * const store = createRedisStore({ url: process.env.REDIS_URL });
 * await store.health();
 */
export function createRedisStore(options: RedisStoreOptions): Store {
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
  const client = options.client ?? new (loadIoredis().Redis)(options.url as string, redisClientOptions(timeoutMs));
  const onRoundTrip = options.onRoundTrip;
  defineLuaCommands(client);

  let closed = false;
  /**
   * Set when Redis refused the SELECT of the configured database. ioredis then carries on with
   * database 0, where the data of another app (or none of ours) lives; the store instead drops the
   * connection for good and fails every call: a wrong database is configuration, not an outage.
   */
  let refused: StoreUnavailableError | undefined;
  /** The last connection error, safe to show, until the connection is ready again. */
  let lastError: string | undefined;
  /** What the default reporter already wrote since the connection was last ready. */
  const reported = new Set<string>();
  const secrets = passwordsOf(options.url, client);
  /** Settles once the check of the last `ready` connection (`checkServerMode`) is done. */
  let modeChecked: Promise<void> = Promise.resolve();
  /**
   * Whether a call may wait for the connection to be ready again: true from `ready` until an error.
   * A server that drops an idle client (`timeout 1` in redis.conf, a proxy's idle timeout) closes
   * the connection with no error; the client is ready again ~100 ms later, and the calls of a
   * request after an idle gap answered 503 meanwhile. A reconnect attempt that fails (refused, timed
   * out, WRONGPASS), or a socket dropped for an error (reset, a silent Redis's socket timeout), is an
   * outage: calls fail at once again, as they always did.
   */
  let mayWait = false;
  /**
   * The one promise the waiting calls share (no listener per call), resolved when the connection is
   * ready again, or when waiting is pointless (an error, the client ended, the store closed or
   * refused): the calls then look at the state. `undefined` while nobody waits.
   */
  let reconnected: { promise: Promise<void>; settle: () => void } | undefined;
  const wakeWaiters = () => {
    const waiting = reconnected;
    reconnected = undefined;
    waiting?.settle();
  };
  const whenReconnected = (): Promise<void> => {
    if (reconnected === undefined) {
      let settle = ignore;
      const promise = new Promise<void>((resolve) => (settle = resolve));
      reconnected = { promise, settle };
    }
    return reconnected.promise;
  };
  client.on('ready', () => {
    lastError = undefined;
    reported.clear();
    if (!client.isCluster) modeChecked = checkServerMode();
    mayWait = true;
    wakeWaiters();
  });
  client.on('end', wakeWaiters);
  /**
   * One URL is a single Redis. A node of a Redis Cluster answers it too, but refuses what the store
   * sends (CROSSSLOT for a batch with keys of several sessions' tags, MOVED for keys of other
   * nodes' slots): every action failed while the health check passed. A Redis Sentinel answers it
   * too (PING, INFO), then every data command with "unknown command". So the store reads `INFO`
   * once per connection and refuses either, as a refused database.
   * An INFO that fails (an ACL user without it) refuses nothing.
   */
  function checkServerMode(): Promise<void> {
    return (client as Redis).info().then((text) => {
      const refusal = serverModeRefusal(text);
      if (refused === undefined && !closed && refusal !== undefined) refuse(new StoreUnavailableError(`${refusal}; the store stays unavailable.`));
    }, ignore);
  }
  /** Drops the connection for good and fails every call with `error`: configuration, not an outage. */
  function refuse(error: StoreUnavailableError): void {
    refused = error;
    wakeWaiters();
    client.disconnect();
    // Reported even without onConnectionError: unlike a dropped connection it will not heal by itself.
    (options.onConnectionError ?? reportRefusal)(error);
  }
  client.on('error', (error: Error) => {
    mayWait = false;
    wakeWaiters();
    // After a refusal, errors are the echoes of dropping the connection (commands still in flight).
    if (refused !== undefined) return;
    if (!isSelectFailure(error)) {
      const safe = safeConnectionError(error, secrets, schemeHintOf(client, error));
      lastError = safe.message;
      if (options.onConnectionError !== undefined) return options.onConnectionError(safe);
      // A refused password or permission will not heal by itself either: say so (once) without being asked.
      if (ACCESS_ERROR.test(safe.message) && !reported.has(safe.message)) {
        reported.add(safe.message);
        reportRefusal(new StoreUnavailableError(`Redis refused the connection (${safe.message}); the store stays unavailable until REDIS_URL's credentials are accepted.`));
      }
      return;
    }
    refuse(
      new StoreUnavailableError(
        `Redis refused to select the database of the URL (${error.message}); the store stays unavailable rather than use database 0. ` +
          'Check the number after the port in REDIS_URL against the databases setting of the server.',
        error,
      ),
    );
  });
  const connection = watchConnection(client, () => modeChecked);

  // Sliding-window entries need ids unique across instances: a random prefix and a counter.
  const memberPrefix = `${randomBytes(9).toString('base64url')}:`;
  let memberSeq = 0;
  const member = () => memberPrefix + (memberSeq++).toString(36);
  const keyOf = prefix === '' ? (key: string) => key : (key: string) => prefix + key;

  /** The socket corked for this turn of the event loop, if any. */
  let corked: Redis['stream'] | null = null;
  const uncork = () => {
    const stream = corked;
    corked = null;
    stream?.uncork();
  };
  /**
   * Write coalescing: the calls of one event-loop turn (the batches of every request that turn
   * handled) leave in ONE socket write on the next `setImmediate`, instead of a write syscall each.
   * Each call is still its own command and its own round trip, and waits microseconds at most.
   */
  function coalesce(): void {
    if (corked !== null || client.isCluster) return;
    const stream = (client as Redis).stream;
    if (stream === undefined || stream === null) return;
    stream.cork();
    corked = stream;
    afterThisTurn(uncork);
  }

  /**
   * Runs `send` as one round trip within the deadline, or rejects at once when Redis is down.
   * During start-up, and while the connection comes back after an idle drop (`mayWait`), the call
   * first waits for it within the same deadline; `send` runs only on a ready connection (no offline
   * queue), so a call that timed out waiting was never sent.
   */
  function call<T>(operation: RedisStoreOperation, send: () => Promise<T>): Promise<T> {
    if (closed) return Promise.reject(new StoreUnavailableError('The Redis store is closed.'));
    if (refused !== undefined) return Promise.reject(refused);
    if (connection.starting) return afterWaiting(connection.firstAttempt, operation, send, false);
    if (client.status === 'ready') {
      onRoundTrip?.(operation);
      coalesce();
      return withinDeadline(send(), timeoutMs);
    }
    if (!mayWait || client.status === 'end') return Promise.reject(notConnected(client.status));
    return afterWaiting(whenReconnected(), operation, send, true);
  }

  /**
   * Waits for `connecting` within the deadline, then sends within what is left of it. A wait that
   * failed answers why the connection is down (`notConnected`) when `explain` says it is known.
   */
  function afterWaiting<T>(connecting: Promise<void>, operation: RedisStoreOperation, send: () => Promise<T>, explain: boolean): Promise<T> {
    const started = performance.now();
    return withinDeadline(connecting, timeoutMs).then(
      () => {
        if (refused !== undefined) throw refused;
        if (closed) throw new StoreUnavailableError('The Redis store is closed.');
        if (client.status !== 'ready') throw notConnected(client.status);
        onRoundTrip?.(operation);
        return withinDeadline(send(), Math.max(1, timeoutMs - (performance.now() - started)));
      },
      (error: unknown) => {
        if (refused !== undefined) throw refused;
        if (closed) throw new StoreUnavailableError('The Redis store is closed.');
        // Say why the connection is down, as calls refused at once do.
        if ((explain || lastError !== undefined) && error instanceof StoreUnavailableError) throw notConnected(client.status);
        throw error;
      },
    );
  }

  function notConnected(status: string): StoreUnavailableError {
    return new StoreUnavailableError(`Redis is not connected (${status}${lastError === undefined ? '' : `; last error: ${lastError}`}).`);
  }

  function batch(ops: readonly StoreOp[]): Promise<StoreOpResult[]> {
    // Check every op before sending any, so a malformed batch changes nothing; and before looking
    // at `closed`, as every call does: a bad call is a bug in the caller whatever the store's state.
    const invalid = rejection(() => {
      for (const op of ops) checkOp(op);
    });
    if (invalid !== undefined) return invalid;
    if (closed) return Promise.reject(new StoreUnavailableError('The Redis store is closed.'));
    if (ops.length === 0) return Promise.resolve([]);
    if (client.isCluster) {
      // Keys of one batch live in several slots: one script call per hash tag (its keys share a
      // slot, so the ops on one key, such as an idempotency record's compare-and-replace, stay
      // atomic together), all sent at once, each to its node.
      const groups = byHashTag(ops, keyOf);
      const sent: Promise<unknown>[] = [];
      return call('batch', () =>
        Promise.all(
          groups.map(({ tag, indexes, group }) => {
            const raw = afterLateBatches(tag, () => client.lcBatch(batchArgs(group, keyOf, member, rateLimitClock)));
            sent.push(raw);
            return raw.then((replies) => ({ indexes, group, replies }));
          }),
        ),
      ).then(
        (parts) => {
          const results: StoreOpResult[] = new Array<StoreOpResult>(ops.length);
          for (const { indexes, group, replies } of parts) {
            const decoded = decodeBatch(group, replies);
            for (let i = 0; i < group.length; i++) results[indexes[i] as number] = decoded[i] as StoreOpResult;
          }
          return results;
        },
        (error: unknown) => {
          // Refused (deadline, or another tag's script failed) while some scripts may still be out.
          for (let g = 0; g < sent.length; g++) keepOrder((groups[g] as (typeof groups)[number]).tag, sent[g] as Promise<unknown>);
          throw error;
        },
      );
    }
    // One script call for the whole batch (`lua/batch.ts`).
    return call('batch', () => client.lcBatch(batchArgs(ops, keyOf, member, rateLimitClock))).then((replies) => decodeBatch(ops, replies));
  }

  /**
   * Cluster only: per hash tag, a promise that settles once every batch refused while its script
   * for that tag was still out has settled (answered, or given up by ioredis).
   *
   * A refused batch may still run: ioredis may be retrying it (a slot migrating: TRYAGAIN), or
   * its node may be slow to answer. On a single Redis whatever is sent next on the connection
   * runs after it (the prefetch stage's release of the claims of a refused action relies on it);
   * on a cluster the next call may take another path (a retry queue, an ASK redirect to the node
   * importing the slot) and run first, so the release found nothing to release and the late batch
   * then held the instance lock for its TTL (10 s). So on a cluster a batch's script for a tag
   * with late batches is sent once they have settled, even when its own deadline passes
   * meanwhile (as a command queued behind a hanging one on a single connection still runs): the
   * scripts of one tag then run in the order they were issued, as on a single Redis. Nothing waits
   * when no batch was refused: a successful action still makes its two round trips.
   */
  const late = new Map<string, Promise<void>>();

  function afterLateBatches<T>(tag: string, send: () => Promise<T>): Promise<T> {
    const before = late.get(tag);
    return before === undefined ? send() : before.then(send);
  }

  /** Records `raw`, the script of a refused batch for `tag`, as late until it settles. */
  function keepOrder(tag: string, raw: Promise<unknown>): void {
    const settled = raw.then(ignore, ignore);
    const before = late.get(tag);
    const chain = before === undefined ? settled : Promise.all([before, settled]).then(ignore);
    late.set(tag, chain);
    void chain.then(() => {
      if (late.get(tag) === chain) late.delete(tag);
    });
  }

  function getMany(keys: readonly string[]): Promise<(string | null)[]> {
    const invalid = rejection(() => checkKeys(keys));
    if (invalid !== undefined) return invalid;
    if (keys.length === 0) return closed ? Promise.reject(new StoreUnavailableError('The Redis store is closed.')) : Promise.resolve([]);
    if (client.isCluster) {
      // MGET needs every key in one slot; concurrent GETs reach each node in one round trip.
      return call('getMany', () => Promise.all(keys.map((key) => client.get(keyOf(key)))));
    }
    return call('getMany', () => client.mget(keys.map(keyOf)));
  }

  /**
   * Whether the store can do its work, not only reach Redis: one call of the batch script, as
   * every action sends, with a write and a rate-limit read (`probeActions`). A replica (READONLY:
   * REDIS_URL still names the old master after a failover), an ACL user without scripts (NOPERM)
   * or without a command the scripts run (TIME, PEXPIRE…) answered PING, yet every page and action
   * answered 503. On a cluster, every slot must be served as well (`clusterCoverage`): a master
   * that is down fails the sessions whose keys hash to its slots.
   */
  function health(): Promise<void> {
    const probe = () => probeActions(client, keyOf(WRITE_CHECK_KEY), rateLimitClock);
    if (!client.isCluster) return call('health', probe).catch((error: unknown) => explainRefusedWrite(error, sentinelMasterOf(client as Redis)));
    return call('health', () => Promise.all([probe(), clusterCoverage(client as Cluster, timeoutMs)])).then(ignore, explainRefusedWrite);
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    wakeWaiters();
    try {
      if (client.status === 'ready') {
        onRoundTrip?.('close');
        await withinDeadline(client.quit(), timeoutMs);
      }
    } catch {
      // Quitting politely failed: drop the connection below.
    }
    client.disconnect();
  }

  const store: Store = {
    kind: 'redis',
    // A Cluster runs a batch as one script per hash tag, each on its tag's node (`batch` above).
    splitsBatchesByHashTag: client.isCluster,
    get: (key) => rejection(() => checkKey(key)) ?? call('get', () => client.get(keyOf(key))),
    getMany,
    set: (key, value, ttlMs) =>
      rejection(() => checkWrite(key, value, ttlMs)) ?? call('set', () => client.set(keyOf(key), value, 'PX', toPx(ttlMs))).then(ignore),
    claim: (key, value, ttlMs) =>
      rejection(() => checkWrite(key, value, ttlMs)) ?? call('claim', () => client.set(keyOf(key), value, 'PX', toPx(ttlMs), 'NX', 'GET')),
    touch: (key, ttlMs) =>
      rejection(() => checkTouch(key, ttlMs)) ?? call('touch', () => client.pexpire(keyOf(key), toPx(ttlMs))).then((n) => n === 1),
    deleteIfEquals: (key, expected) =>
      rejection(() => checkCompare(key, expected)) ?? call('deleteIfEquals', () => client.lcDeleteIfEquals(keyOf(key), expected)).then((n) => n === 1),
    delete: (key) => rejection(() => checkKey(key)) ?? call('delete', () => client.del(keyOf(key))).then(ignore),
    rateLimit(key, policy, nowMs) {
      const op = { op: 'rateLimit', key, policy, nowMs } as const;
      return (
        rejection(() => checkRateLimitCall(key, policy, nowMs)) ??
        call('rateLimit', () => send(client, op, keyOf(key), member(), rateLimitClock)).then((reply) => decode(op, reply) as RateLimitDecision)
      );
    },
    batch,
    health,
    close,
  };
  clients.set(store, client);
  return store;
}

/**
 * Settles like `promise`, or rejects with `StoreUnavailableError` after `ms`; any other failure
 * becomes a `StoreUnavailableError` too (its message stays in the log detail, never on the wire).
 */
function withinDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return withDeadline(promise, ms, redisTimeout, toUnavailable);
}

function redisTimeout(ms: number): StoreUnavailableError {
  return new StoreUnavailableError(`Redis did not answer within ${Math.round(ms)} ms.`);
}

function toUnavailable(error: unknown): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  // Only the message: ioredis attaches the command and its arguments (keys, values) to its errors,
  // and Redis echoes them in its own to an unknown command.
  return new StoreUnavailableError(`Redis failed: ${withoutEchoedArguments(error instanceof Error ? error.message : String(error))}`);
}

/** The results of the batch script's `replies` to `ops`, in op order. */
function decodeBatch(ops: readonly StoreOp[], replies: unknown): StoreOpResult[] {
  if (!Array.isArray(replies) || replies.length !== ops.length) throw new StoreUnavailableError('Redis answered the batch with the wrong shape.');
  const results: StoreOpResult[] = new Array<StoreOpResult>(ops.length);
  for (let i = 0; i < ops.length; i++) results[i] = decode(ops[i] as StoreOp, replies[i]);
  return results;
}

/**
 * The ops of a batch grouped by the Redis Cluster hash tag of their final key (the text between
 * the first `{` and the next `}`, when not empty; else the whole key), in op order: the keys of a
 * group share a slot, so each group can be one script call on a cluster.
 */
function byHashTag(ops: readonly StoreOp[], keyOf: (key: string) => string): { tag: string; indexes: number[]; group: StoreOp[] }[] {
  const groups = new Map<string, { tag: string; indexes: number[]; group: StoreOp[] }>();
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as StoreOp;
    const key = keyOf(op.key);
    const open = key.indexOf('{');
    const close = open === -1 ? -1 : key.indexOf('}', open + 1);
    const tag = close > open + 1 ? key.slice(open + 1, close) : key;
    let entry = groups.get(tag);
    if (entry === undefined) groups.set(tag, (entry = { tag, indexes: [], group: [] }));
    entry.indexes.push(i);
    entry.group.push(op);
  }
  return [...groups.values()];
}

function ignore(): void {}

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
function clusterCoverage(cluster: Cluster, deadlineMs: number): Promise<unknown> {
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

function reportRefusal(error: Error): void {
  console.error(`livecomponents: ${error.message}`);
}

/** Errors of a refused password or permission: they do not heal by reconnecting. */
const ACCESS_ERROR = /\b(?:WRONGPASS|NOAUTH|NOPERM)\b/;

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
function sentinelMasterOf(client: Redis): string | undefined {
  const { sentinels, name } = client.options;
  return sentinels !== null && sentinels !== undefined && sentinels.length > 0 && typeof name === 'string' ? name : undefined;
}

/** The key the health check and `doctor --connect` touch (after the key prefix): never written here, so PEXPIRE always finds it missing. */
export { WRITE_CHECK_KEY };

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
 * The command a script was refused by an ACL, from Redis's error `message` (upper case), or
 * `undefined` when it does not tell. Redis 7.2+ names it (`ACL failure in script: User u has no
 * permissions to run the 'time' command script: …`); Redis 7.0 does not (`The user executing the
 * script can't run this command or subcommand script: <sha1>, on @user_script:<line>.`), but names
 * the script and the line, which is one of the store's own: that line's `redis.call`.
 */
export function refusedScriptCommand(message: string): string | undefined {
  const named = /no permissions to run the '([^']+)' command/i.exec(message)?.[1];
  if (named !== undefined) return named.toUpperCase();
  const at = /script: ([0-9a-f]{40}), on @user_script:(\d+)/i.exec(message);
  if (at === null) return undefined;
  const line = scriptSources().get((at[1] as string).toLowerCase())?.split('\n')[Number(at[2]) - 1];
  return line === undefined ? undefined : /redis\.p?call\('([A-Za-z]+)'/.exec(line)?.[1]?.toUpperCase();
}

let sources: Map<string, string> | undefined;

/** The store's scripts by SHA-1, as Redis names them in errors. */
function scriptSources(): Map<string, string> {
  sources ??= new Map(Object.values(LUA_COMMANDS).map(({ lua }) => [createHash('sha1').update(lua).digest('hex'), lua]));
  return sources;
}

/** What the store needs each command for that a script may be refused, in an operator's words. */
const NEEDED_FOR: Readonly<Record<string, string>> = {
  TIME: "rate limits run on Redis's clock",
  PEXPIRE: 'sessions and state have their lifetimes renewed',
};

/**
 * Why Redis refused the store's scripted write, in words an operator can act on, or `undefined`
 * when `message` is no such refusal. `sentinelMaster`: the master's name when the client found the
 * server through Sentinel (a replica then is no wrong URL: the node was demoted under it).
 */
export function explainWriteRefusal(message: string, sentinelMaster?: string): string | undefined {
  // An ACL refusal inside a script (Redis 7.0 words, then 7.2+): a plain ERR, without NOPERM.
  const inScript = /(?:The user executing the script can't (?:run this command or subcommand|access at least one of the keys)|ACL failure in script:).*?(?= script: |$)/.exec(message)?.[0];
  if (inScript !== undefined) {
    if (/\baccess\b.*\bkeys?\b/.test(inScript)) {
      return `Redis refuses a command of the store's scripts on the app's keys (${inScript}): the ACL user of REDIS_URL needs read/write access to them (~* or ~<keyPrefix>*)`;
    }
    const command = refusedScriptCommand(message);
    if (command === undefined) {
      return `Redis refuses a command the store's scripts run (${inScript}): the ACL user of REDIS_URL needs every command they run (GET, SET, PEXPIRE, DEL, TIME, TYPE, the sorted sets': +@read +@write +time, or +@all)`;
    }
    const why = NEEDED_FOR[command];
    return `Redis refuses the ${command} command the store's scripts run (${inScript})${why === undefined ? '' : `: ${why}`}; grant the ACL user of REDIS_URL +${command.toLowerCase()}`;
  }
  const reply = /\b(READONLY|NOPERM)\b.*/.exec(message)?.[0];
  if (reply === undefined) return undefined;
  if (reply.startsWith('READONLY')) {
    return sentinelMaster === undefined
      ? `Redis refuses writes (${reply}): REDIS_URL names a replica, as after a failover; point it at the master`
      : `Redis refuses writes (${reply}): the master Redis Sentinel names '${sentinelMaster}' answers as a replica (a failover under way?)`;
  }
  return `Redis refuses the store's scripts (${reply}): the ACL user of REDIS_URL needs EVAL/EVALSHA (+@scripting) and read/write access to the app's keys`;
}

function explainRefusedWrite(error: unknown, sentinelMaster?: string): never {
  const explained = explainWriteRefusal(error instanceof Error ? error.message : String(error), sentinelMaster);
  throw explained === undefined ? error : new StoreUnavailableError(`${explained}.`, error);
}

/** The passwords the client sends (URL and options), to keep out of messages. */
function passwordsOf(url: string | undefined, client: Redis | Cluster): string[] {
  const found: (string | undefined)[] = [];
  if (url !== undefined) {
    try {
      found.push(redisCredentialsOf(new URL(url)).password);
    } catch {
      // not a URL the store checked (a unix socket path…): nothing to add
    }
  }
  const options = client.options as RedisOptions & ClusterOptions;
  found.push(options.password, options.redisOptions?.password);
  // Too short a "password" would censor ordinary words of the message.
  return found.filter((p): p is string => typeof p === 'string' && p.length >= 4);
}

/**
 * A connection error as it may be shown and logged: the client's message (a Cluster's with its
 * last node's error), without the command ioredis attaches (the arguments of AUTH and HELLO hold
 * the password) and with any URL credentials or known password censored; `code` kept; `hint`
 * (what to fix, from `schemeHint`) in brackets after it.
 */
function safeConnectionError(error: Error, secrets: readonly string[], hint?: string): Error {
  const cause = (error as { lastNodeError?: unknown }).lastNodeError;
  let message = withoutEchoedArguments(error.message) + (cause instanceof Error && !error.message.includes(cause.message) ? ` (${withoutEchoedArguments(cause.message)})` : '');
  if (hint !== undefined) message += ` (${hint})`;
  for (const secret of secrets) message = message.split(secret).join('[Redacted]');
  message = censorLine(message);
  if (message.length > 300) message = `${message.slice(0, 299)}…`;
  const safe = new Error(message);
  safe.name = error.name;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') (safe as Error & { code: string }).code = code;
  return safe;
}
