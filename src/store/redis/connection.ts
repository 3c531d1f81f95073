/**
 * Connection state as the store needs it: whether calls may go out now, and, during start-up
 * only, a promise of the first connection to wait for (within the call's deadline).
 */
import type { Cluster, ClusterOptions, Redis } from 'ioredis';
import { StoreUnavailableError } from '../../core/errors.js';
import { ignore } from './ignore.js';

export interface ConnectionWatch {
  /** The first connection attempt is still under way: calls may wait for `firstAttempt`. */
  readonly starting: boolean;
  /** Resolves when the client first became usable; rejects when that first attempt failed. */
  readonly firstAttempt: Promise<void>;
}

const STARTING: ReadonlySet<string> = new Set(['wait', 'connecting', 'connect']);

/**
 * The database a `redis://`/`rediss://` URL names: its path is empty, `/` (database 0) or
 * `/<decimal number>`. Anything else throws: ioredis would send `SELECT NaN`, and then, on the
 * rejected re-SELECT it makes when the connection is ready, crash the process with an unhandled
 * rejection. Whether the server has that many databases only the server can say (see `isSelectFailure`).
 *
 * A query string or a fragment throws too (`redisUrlExtrasProblem`). Every caller that takes a URL
 * (the configuration, `createRedisStore`, a Cluster's seed list) checks it here.
 */
export function redisDatabaseOf(url: URL): number {
  const extras = redisUrlExtrasProblem(url);
  if (extras !== undefined) throw new Error(extras);
  const path = url.pathname;
  if (path === '' || path === '/') return 0;
  if (!/^\/\d{1,9}$/.test(path)) throw new Error('has a path that is not a database number; use redis://host:6379 or redis://host:6379/2');
  return Number(path.slice(1));
}

/**
 * Why `url` must be refused for what follows its path, or `undefined`. ioredis reads every query
 * parameter as a client option over the store's own, as a string: `?enableOfflineQueue=false` turned
 * the offline queue ON ("false" is truthy), and with `autoResendUnfulfilledCommands` a step refused
 * with 503 was applied after the reconnect; `?keyPrefix=` moved every key. The store's options are
 * set in code, so no parameter is taken. A fragment is refused as well: it is no part of a Redis URL
 * (a `#` of a password is written %23). The message never quotes either: they may hold a password.
 */
export function redisUrlExtrasProblem(url: URL): string | undefined {
  if (url.search !== '') {
    return url.searchParams.has('db')
      ? 'names its database with ?db=; put the number in the path instead (redis://host:6379/2)'
      : 'has a query string (?…), which the store does not take: its client options are set in code, and the database is the path (redis://host:6379/2)';
  }
  if (url.hash !== '') return 'has a fragment (#…), which a Redis URL does not take; write a "#" of a password as %23';
  return undefined;
}

/**
 * `strategy`, also emitting on the Cluster, as an `error` event, the reason a connection attempt
 * failed before any node was asked: ioredis hands that reason (a seed host that does not resolve,
 * such as `[::1]` with its brackets) to the retry strategy only and swallows the rejected
 * `connect()`, so the store's last error, its `onConnectionError` (the app's log) and `/health`
 * never said why every call answered 503. Failures of the nodes themselves come as events already
 * (`Failed to refresh slots cache.`, carrying the last node's error). The reason names hosts, never
 * a password; the store takes secrets out of whatever it reports anyway.
 */
export function reportingRetryReasons(strategy: ClusterOptions['clusterRetryStrategy']): NonNullable<ClusterOptions['clusterRetryStrategy']> {
  return function (this: Cluster, times: number, reason?: Error) {
    if (reason !== undefined && this.listenerCount('error') > 0) this.emit('error', reason);
    return strategy?.call(this, times, reason);
  };
}

/**
 * `message`, a Redis error's, without the arguments Redis echoes after an unknown or disabled command
 * (`ERR unknown command 'set', with args beginning with: 'lc:{s:…}:session' '{"userId":…}'`: the
 * keys and values of the call, as a Sentinel answers a data command or a managed Redis one it renamed).
 */
export function withoutEchoedArguments(message: string): string {
  const at = message.indexOf(', with args beginning with:');
  return at === -1 ? message : message.slice(0, at);
}

/** What a TLS handshake that a server without TLS never answers looks like (ioredis's `connectTimeout` covers the handshake). */
const NO_TLS_ANSWER = new Set(['ETIMEDOUT', 'ECONNRESET', 'EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG']);

/**
 * What to fix when the scheme of `REDIS_URL` may not match the server, or `undefined`. A `rediss://`
 * client's handshake to a Redis without TLS gets no answer (Redis waits for the end of a command
 * that never comes): the only report was `connect ETIMEDOUT`. A `redis://` client's first command
 * to a Redis that takes only TLS is answered by a reset. Told apart from an outage by the state the
 * client was in (`status` when `error` came; no `error` for a deadline of the caller's): still
 * handshaking, or connected but not yet ready. A TLS server's refusal (a certificate not trusted)
 * completed the handshake and gets no hint; neither does a refused TCP connection.
 */
export function schemeHint(tls: boolean, status: string, error?: Error): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (tls && status === 'connecting') {
    const noAnswer = error === undefined || (code !== undefined && NO_TLS_ANSWER.has(code)) || /before secure TLS connection was established|wrong version number|packet length too long/i.test(error.message);
    if (noAnswer) return 'the server did not answer TLS: if it does not use TLS, use redis:// instead of rediss:// in REDIS_URL';
  }
  if (!tls && status === 'connect' && (code === 'ECONNRESET' || code === 'EPIPE')) {
    return 'the server closed the connection before answering: if it takes only TLS, use rediss:// instead of redis:// in REDIS_URL';
  }
  return undefined;
}

/** `schemeHint` for a single Redis client (a Cluster's errors come per node: `undefined`), in its state now. */
export function schemeHintOf(client: Redis | Cluster, error?: Error): string | undefined {
  return client.isCluster ? undefined : schemeHint(Boolean((client as Redis).options.tls), client.status, error);
}

/**
 * True for the error ioredis emits when the server refused the `SELECT` of the URL's database
 * (`ERR DB index is out of range`). ioredis only emits it as an `error` event and carries on
 * connected to database 0, where a store must never read or write instead.
 */
export function isSelectFailure(error: unknown): boolean {
  return (error as { command?: { name?: unknown } } | null)?.command?.name === 'select';
}

/**
 * What to check when Redis refused the `SELECT` of the URL's database: an ACL that does not let the
 * user run SELECT (`NOPERM`), else a number past the server's `databases` setting. Start-up's
 * refusal and `doctor --connect` both say it.
 */
export function selectFailureAdvice(error: Error): string {
  return /\bNOPERM\b/.test(error.message)
    ? "REDIS_URL's user may not run SELECT (its ACL rules): allow +select for it, or drop the number after the port to use database 0"
    : 'check the number after the port in REDIS_URL against the databases setting of the server';
}

/**
 * Watches `client` (and starts connecting it when it is lazy). A cluster counts as usable once
 * its master connections are ready too: ioredis connects nodes lazily, and a burst of commands to
 * a node that is still connecting is retried only after `retryDelayOnFailover` (~200 ms late).
 * Nodes that join later (failover, resharding) still connect lazily: connecting them on `+node`,
 * before the cluster is ready, made ioredis drop the whole start-up attempt now and then.
 * A single Redis counts as usable once `afterReady` (called after its first `ready`) has settled.
 */
export function watchConnection(client: Redis | Cluster, afterReady: () => Promise<void> = () => Promise.resolve()): ConnectionWatch {
  let starting = STARTING.has(client.status);
  const ready = new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('close', () => reject(new StoreUnavailableError('Redis could not be reached.')));
  });
  const firstAttempt = client.isCluster ? ready.then(() => mastersReady(client as Cluster)) : ready.then(afterReady);
  firstAttempt.then(
    () => {
      starting = false;
    },
    () => {
      starting = false;
    },
  );
  if (client.status === 'wait') client.connect().catch(ignore);
  return {
    get starting() {
      return starting;
    },
    firstAttempt,
  };
}

function connectNode(node: Redis): void {
  if (node.status === 'wait') node.connect().catch(ignore);
}

/** Resolves when every master connection of `cluster` is ready; rejects if one closes first. */
function mastersReady(cluster: Cluster): Promise<void> {
  const pending = cluster.nodes('master').filter((node) => node.status !== 'ready');
  return Promise.all(
    pending.map(
      (node) =>
        new Promise<void>((resolve, reject) => {
          node.once('ready', resolve);
          node.once('close', () => reject(new StoreUnavailableError('A Redis Cluster master could not be reached.')));
          connectNode(node);
        }),
    ),
  ).then(ignore);
}
