/**
 * Store op shapes with a meaning of their own beyond one primitive.
 */
import type { StoreOp } from './types.js';

/**
 * Compare-and-replace in one batch: `key` takes `value` (for `ttlMs`) while it still holds `expected`,
 * or when it has expired or gone; not when another writer put something else there. The results are
 * those of the two ops: `deleteIfEquals` (true when it held `expected`), then `claim` (`null` when
 * `value` was placed, else the value found).
 *
 * Not for a write that must replace only what was read (a list written back whole, state sealed
 * again): after a delete meanwhile (a sign-out) this pair makes the key again. That is the strict
 * `replaceIfEquals` batch op (`types.ts`), which writes nothing over a missing or expired key.
 *
 * Kept as exactly this adjacent pair on purpose: in a batch nothing runs between the ops of one hash
 * tag (`Store.batch`), and the batch runners recognise the pair by its shape — the embedded stores
 * replace in place (`embedded-batch.ts`), the Redis script sends one `SET` (`lua/batch.ts`).
 */
export function compareAndReplace(key: string, expected: string, value: string, ttlMs: number): [StoreOp, StoreOp] {
  return [
    { op: 'deleteIfEquals', key, expected },
    { op: 'claim', key, value, ttlMs },
  ];
}

/**
 * A `replaceIfEquals` result as the boolean it must be. Anything else is a store that does not
 * implement the op (one of the app's own, answering `undefined`, or passing a raw reply such as `1`
 * through): read as "not replaced" it would pass for a conflict — retried, or a write silently never
 * made — so it is refused at once, naming the op and the contract a store must pass.
 * @param what - whose write it was, for the message ("Trusted device not recorded")
 * @throws {TypeError} for an answer other than `true` or `false`
 */
export function replacedAnswer(answer: unknown, what: string): boolean {
  if (typeof answer === 'boolean') return answer;
  const shown = typeof answer === 'string' ? JSON.stringify(answer.slice(0, 40)) : typeof answer === 'object' && answer !== null ? 'an object' : String(answer);
  throw new TypeError(`${what}: the store answered the replaceIfEquals batch op with ${shown}, not true or false; a store of your own must implement it (src/store/contract-conditional.ts)`);
}
