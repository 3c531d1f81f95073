/**
 * How the embedded stores (memory, SQLite) run a `batch`: op by op, in order, all reading one `now`
 * — except that a `deleteIfEquals` directly followed by a `claim` of the same key (`compareAndReplace`
 * in `ops.ts`: how an idempotency claim becomes its result) is first offered to the store's `replace`, which does both
 * in one step when the entry holds the expected value: the results (`true`, `null`) and end state of
 * the two ops, with one lookup and no entry removed and made again. When `replace` returns false
 * (having changed nothing), the two ops run one by one as usual. A `setIfAllowed` is the `set` it
 * guards, run only when the `rateLimit` step right before it admitted. A `replaceIfEquals` is that
 * same `replace` alone: its result, and nothing else (a missing or expired key stays so).
 */
import type { RateLimitDecision, StoreOp, StoreOpResult } from './types.js';

/** The ops a store applies one by one; `setIfAllowed` (the `set` it guards) and `replaceIfEquals` (`replace`) are run here. */
export type PlainOp = Exclude<StoreOp, { op: 'setIfAllowed' | 'replaceIfEquals' }>;

export interface EmbeddedOps {
  apply(op: PlainOp, now: number): StoreOpResult;
  /** Gives `key` the `value` (expiring after `ttlMs`) only when its live entry holds `expected`; whether it did. */
  replace(key: string, expected: string, value: string, ttlMs: number, now: number): boolean;
}

export function runBatch(ops: readonly StoreOp[], store: EmbeddedOps, now: number): StoreOpResult[] {
  const results: StoreOpResult[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as StoreOp;
    const next = ops[i + 1];
    if (
      op.op === 'deleteIfEquals' &&
      next?.op === 'claim' &&
      next.key === op.key &&
      store.replace(op.key, op.expected, next.value, next.ttlMs, now)
    ) {
      results.push(true, null);
      i++;
    } else if (op.op === 'setIfAllowed') {
      // Checked before the batch ran: the op before it is its `rateLimit` step.
      const allowed = (results[i - 1] as RateLimitDecision).allowed;
      if (allowed) store.apply({ op: 'set', key: op.key, value: op.value, ttlMs: op.ttlMs }, now);
      results.push(allowed);
    } else if (op.op === 'replaceIfEquals') {
      results.push(store.replace(op.key, op.expected, op.value, op.ttlMs, now));
    } else {
      results.push(store.apply(op, now));
    }
  }
  return results;
}
