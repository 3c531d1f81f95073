/**
 * Argument checks every backend makes before touching its storage: a bad TTL, policy or op is a
 * bug in the caller (`TypeError`), never a store failure. One copy for memory, SQLite and Redis.
 */
import type { RateLimitPolicy, StoreOp } from './types.js';

/** TTLs are positive finite milliseconds in every backend; anything else is a bug in the caller. */
export function checkTtl(ttlMs: number): void {
  if (!(Number.isFinite(ttlMs) && ttlMs > 0)) throw new TypeError(`Store TTL must be a positive number of ms, got ${ttlMs}`);
}

/** The checks of `src/pipeline/rate-limit/algorithms.ts`, made before anything is sent or stored. */
export function checkRateLimit(policy: RateLimitPolicy, nowMs: number): void {
  if (policy.algorithm !== 'gcra' && policy.algorithm !== 'sliding-window') throw new TypeError('Rate limit: unknown algorithm');
  if (!(Number.isInteger(policy.limit) && policy.limit > 0)) throw new TypeError('Rate limit: limit must be a positive integer');
  if (!(Number.isFinite(policy.windowMs) && policy.windowMs > 0)) throw new TypeError('Rate limit: windowMs must be positive');
  if (!Number.isFinite(nowMs)) throw new TypeError('Rate limit: nowMs must be a finite number');
}

const OPS: ReadonlySet<string> = new Set<StoreOp['op']>(['get', 'set', 'claim', 'touch', 'deleteIfEquals', 'delete', 'rateLimit']);

/** Throws `TypeError` for an op a store must refuse before doing anything (a batch checks all first). */
export function checkOp(op: StoreOp): void {
  if (!OPS.has(op.op)) throw new TypeError(`Unknown store op "${String(op.op)}"`);
  if (op.op === 'set' || op.op === 'claim' || op.op === 'touch') checkTtl(op.ttlMs);
  else if (op.op === 'rateLimit') checkRateLimit(op.policy, op.nowMs);
}

/**
 * The rejection for a call whose arguments fail `check` (a `TypeError`), else `undefined`: lets a
 * store method answer a caller's bug as a rejected promise without an `async` wrapper of its own.
 */
export function rejection(check: () => void): Promise<never> | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new TypeError(String(error)));
  }
}
