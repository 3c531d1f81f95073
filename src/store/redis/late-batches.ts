/**
 * Order of a cluster's batches per hash tag, kept across refused batches (`lateBatches`): the
 * scripts of one tag run in the order they were issued, as they do on a single Redis's one connection.
 */
import { ignore } from './ignore.js';

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
export function lateBatches() {
  const late = new Map<string, Promise<void>>();

  /** Runs `send`, the script of a batch for `tag`, at once, or once the late batches of `tag` have settled. */
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

  return { afterLateBatches, keepOrder };
}
