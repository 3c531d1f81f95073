/**
 * The store's `batch`: ONE round trip. On a single Redis one call of the batch script
 * (`lua/batch.ts`, EVALSHA), which Redis runs whole before anything else. On a cluster one such
 * call per hash tag (`hash-tags.ts`), all sent together, each to its node: the ops on keys of one
 * tag are atomic together, the batch as a whole is not, and the calls of one tag keep their order
 * even after a refused batch (`late-batches.ts`).
 */
import type { Cluster, Redis } from 'ioredis';
import { StoreUnavailableError } from '../../core/errors.js';
import { checkOps, rejection } from '../checks.js';
import type { StoreOp, StoreOpResult } from '../types.js';
import { storeClosed, type Call } from './calls.js';
import { batchArgs, decode, type RateLimitClock } from './commands.js';
import type { ConnectionState } from './connection-state.js';
import { byHashTag, type HashTagGroup } from './hash-tags.js';
import { lateBatches } from './late-batches.js';

/** What a store's `batch` runs on (see `createRedisStore`). */
export interface BatchContext {
  client: Redis | Cluster;
  state: ConnectionState;
  call: Call;
  /** The final Redis key of a store key (the key prefix added). */
  keyOf: (key: string) => string;
  /** A unique id for a sliding-window entry. */
  member: () => string;
  rateLimitClock: RateLimitClock;
}

/** The `batch` of a store on `client`. */
export function redisBatch({ client, state, call, keyOf, member, rateLimitClock }: BatchContext): (ops: readonly StoreOp[]) => Promise<StoreOpResult[]> {
  const late = lateBatches();

  return function batch(ops: readonly StoreOp[]): Promise<StoreOpResult[]> {
    // Check every op before sending any, so a malformed batch changes nothing; and before looking
    // at `closed`, as every call does: a bad call is a bug in the caller whatever the store's state.
    const invalid = rejection(() => checkOps(ops));
    if (invalid !== undefined) return invalid;
    // Keys of one batch on a cluster live in several slots: one script call per hash tag (its keys
    // share a slot, so the ops on one key, such as an idempotency record's compare-and-replace, stay
    // atomic together), all sent at once, each to its node. A guarded write runs in its step's
    // script: both on one node, else it could not see the step — a bad call, refused (as above)
    // whatever the store's state.
    const groups = client.isCluster ? byHashTag(ops, keyOf) : null;
    const split = groups === null ? undefined : rejection(() => checkGuardsInOneTag(ops, groups));
    if (split !== undefined) return split;
    if (state.closed) return Promise.reject(storeClosed());
    if (ops.length === 0) return Promise.resolve([]);
    if (groups !== null) {
      const sent: Promise<unknown>[] = [];
      return call('batch', () =>
        Promise.all(
          groups.map(({ tag, indexes, group }) => {
            const raw = late.afterLateBatches(tag, () => client.lcBatch(batchArgs(group, keyOf, member, rateLimitClock)));
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
          for (let g = 0; g < sent.length; g++) late.keepOrder((groups[g] as (typeof groups)[number]).tag, sent[g] as Promise<unknown>);
          throw error;
        },
      );
    }
    // One script call for the whole batch (`lua/batch.ts`).
    return call('batch', () => client.lcBatch(batchArgs(ops, keyOf, member, rateLimitClock))).then((replies) => decodeBatch(ops, replies));
  };
}

/** The results of the batch script's `replies` to `ops`, in op order. */
function decodeBatch(ops: readonly StoreOp[], replies: unknown): StoreOpResult[] {
  if (!Array.isArray(replies) || replies.length !== ops.length) throw new StoreUnavailableError('Redis answered the batch with the wrong shape.');
  const results: StoreOpResult[] = new Array<StoreOpResult>(ops.length);
  for (let i = 0; i < ops.length; i++) results[i] = decode(ops[i] as StoreOp, replies[i]);
  return results;
}

/**
 * On a cluster each hash tag's ops are one script on their own node: a `setIfAllowed` must share its
 * `rateLimit` step's tag (it then directly follows the step in that group too), else `TypeError`.
 */
function checkGuardsInOneTag(ops: readonly StoreOp[], groups: readonly HashTagGroup[]): void {
  for (const { indexes } of groups) {
    for (let j = 0; j < indexes.length; j++) {
      const i = indexes[j] as number;
      if (ops[i]?.op === 'setIfAllowed' && indexes[j - 1] !== i - 1) {
        throw new TypeError('Store op "setIfAllowed" on Redis Cluster: its key must share the hash tag of the rateLimit step that guards it');
      }
    }
  }
}
