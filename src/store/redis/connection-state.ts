/**
 * The store's view of its connection, kept from the client's events: whether the store is closed,
 * whether it refused its server for good (a wrong database, a Cluster node or a Sentinel behind a
 * single-Redis URL: configuration, not an outage), the last connection error (safe to show), and
 * whether a call may wait for a reconnect, with the one promise the waiting calls share. What a
 * call does with it is `calls.ts`'s.
 */
import type { Cluster, Redis } from 'ioredis';
import { StoreUnavailableError } from '../../core/errors.js';
import { isSelectFailure, schemeHintOf, selectFailureAdvice, watchConnection, type ConnectionWatch } from './connection.js';
import { ACCESS_ERROR, passwordsOf, reportRefusal, safeConnectionError } from './connection-errors.js';
import { ignore } from './ignore.js';
import type { RedisStoreOptions } from './options.js';
import { serverModeRefusal } from './server-mode.js';

export interface ConnectionState {
  /** The store was closed (`markClosed`): every call fails. */
  readonly closed: boolean;
  /** Why the store refused its server for good (`refuse`), else `undefined`: every call fails with it. */
  readonly refused: StoreUnavailableError | undefined;
  /** The last connection error, safe to show, until the connection is ready again. */
  readonly lastError: string | undefined;
  /** Whether a call may wait for the connection to be ready again (see `mayWait` below). */
  readonly mayWait: boolean;
  /** The first connection attempt (`watchConnection`): whether it is still under way. */
  readonly connection: ConnectionWatch;
  /**
   * What a call made during start-up waits for: the first connection attempt (see `connection`), or
   * the store closed or refusing its server meanwhile, whichever comes first: then look at the state.
   */
  readonly started: Promise<void>;
  /** Resolves when the connection is ready again, or when waiting is pointless: then look at the state. */
  whenReconnected(): Promise<void>;
  /** Marks the store closed and wakes the waiting calls (the store's `close`). */
  markClosed(): void;
  /** Why a call cannot go out while the client is in `status`, with the last connection error. */
  notConnected(status: string): StoreUnavailableError;
}

/**
 * Starts watching `client` for the store built with `options` (`url`, for the passwords to keep out
 * of messages; `onConnectionError`, read at each error). Registers the client's listeners and, for a
 * lazy client, starts connecting (`watchConnection`).
 */
export function trackConnection(client: Redis | Cluster, options: Pick<RedisStoreOptions, 'url' | 'onConnectionError'>): ConnectionState {
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
  /**
   * Resolved when the store is closed or refuses its server. The first attempt alone may settle only
   * long after `close()`: ioredis ends a socket still connecting (a host that does not answer) or
   * waiting for a hung server's reply to its ready check once the connect timeout (four deadlines)
   * drops it, so the calls waiting for it were held to their deadline instead of failing at once.
   */
  let stop = ignore;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
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
    stop();
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
        `Redis refused to select the database of the URL (${error.message}); the store stays unavailable rather than use database 0: ` +
          `${selectFailureAdvice(error)}.`,
        error,
      ),
    );
  });
  const connection = watchConnection(client, () => modeChecked);
  // One race for all the calls made during start-up (none adds a reaction of its own to `stopped`,
  // which may stay pending for the store's life). Its rejection (the first attempt failed) is read
  // by those calls, if any.
  const started = Promise.race([connection.firstAttempt, stopped]);
  started.catch(ignore);

  return {
    get closed() {
      return closed;
    },
    get refused() {
      return refused;
    },
    get lastError() {
      return lastError;
    },
    get mayWait() {
      return mayWait;
    },
    connection,
    started,
    whenReconnected,
    markClosed() {
      closed = true;
      wakeWaiters();
      stop();
    },
    notConnected(status: string): StoreUnavailableError {
      return new StoreUnavailableError(`Redis is not connected (${status}${lastError === undefined ? '' : `; last error: ${lastError}`}).`);
    },
  };
}
