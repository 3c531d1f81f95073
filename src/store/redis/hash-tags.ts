/**
 * Redis Cluster hash tags of a batch's keys: how the store splits a batch on a cluster, where the
 * keys of one script must share a slot. The keys themselves carry their tags (`src/store/keys.ts`).
 */
import type { StoreOp } from '../types.js';

/** The ops of a batch on keys of one hash tag, with their places in the batch. */
export interface HashTagGroup {
  tag: string;
  /** Where each op of `group` stands in the batch. */
  indexes: number[];
  group: StoreOp[];
}

/**
 * The ops of a batch grouped by the Redis Cluster hash tag of their final key (the text between
 * the first `{` and the next `}`, when not empty; else the whole key), in op order: the keys of a
 * group share a slot, so each group can be one script call on a cluster.
 */
export function byHashTag(ops: readonly StoreOp[], keyOf: (key: string) => string): HashTagGroup[] {
  const groups = new Map<string, HashTagGroup>();
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
