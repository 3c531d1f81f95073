/**
 * Connection state as the store needs it: whether calls may go out now, and, during start-up
 * only, a promise of the first connection to wait for (within the call's deadline).
 */
import type { Cluster, Redis } from 'ioredis';
import { StoreUnavailableError } from '../../core/errors.js';

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
 * rejection. A `db` query parameter (which ioredis also reads) is refused for the same reason.
 * Whether the server has that many databases only the server can say (see `isSelectFailure`).
 */
export function redisDatabaseOf(url: URL): number {
  if (url.searchParams.has('db')) throw new Error('names its database with ?db=; put the number in the path instead (redis://host:6379/2)');
  const path = url.pathname;
  if (path === '' || path === '/') return 0;
  if (!/^\/\d{1,9}$/.test(path)) throw new Error('has a path that is not a database number; use redis://host:6379 or redis://host:6379/2');
  return Number(path.slice(1));
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

function ignore(): void {}
