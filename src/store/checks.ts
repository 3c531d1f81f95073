/**
 * Argument checks every backend makes before touching its storage: a bad key, value, TTL, policy or
 * op is a bug in the caller (`TypeError`), never a store failure. One copy for memory, SQLite and
 * Redis, called by every method of each (a batch checks all its ops first), so the three refuse
 * the same calls.
 */
import { checkTimerDelay, MAX_TIMER_TEXT } from '../core/deadline.js';
import type { RateLimitPolicy, StoreOp } from './types.js';

/** `String.prototype.isWellFormed` (Node 20; typed from TypeScript's ES2024 lib, which this build does not load). */
type WellFormed = string & { isWellFormed(): boolean };

/**
 * Keys, values and `expected` are well-formed strings: no lone UTF-16 surrogate. UTF-8 (SQLite's
 * text, Redis's bytes) has no form for one, so each backend would otherwise keep a different
 * string (memory the text, SQLite U+FFFD, Redis one key for `\uD800`, `\uDC00` and `\uFFFD`).
 * `isWellFormed` answers at once for a one-byte string (V8), the common case.
 */
function checkText(text: string, what: string): void {
  if (!(typeof text === 'string' && (text as WellFormed).isWellFormed())) {
    throw new TypeError(
      typeof text === 'string' ? `Store ${what} must be well-formed UTF-16 (it has a lone surrogate)` : `Store ${what} must be a string, got ${typeof text}`,
    );
  }
}

export function checkKey(key: string): void {
  checkText(key, 'key');
}

export function checkKeys(keys: readonly string[]): void {
  for (let i = 0; i < keys.length; i++) checkText(keys[i] as string, 'key');
}

/** A value to write (`set`, `claim`) or to compare (`deleteIfEquals`'s and `replaceIfEquals`'s `expected`). */
export function checkValue(value: string): void {
  checkText(value, 'value');
}

/** TTLs are positive finite milliseconds in every backend; anything else is a bug in the caller. */
export function checkTtl(ttlMs: number): void {
  if (!(Number.isFinite(ttlMs) && ttlMs > 0)) throw new TypeError(`Store TTL must be a positive number of ms, got ${ttlMs}`);
}

/** The arguments of `set` and `claim`. */
export function checkWrite(key: string, value: string, ttlMs: number): void {
  checkKey(key);
  checkValue(value);
  checkTtl(ttlMs);
}

/** The arguments of `touch`. */
export function checkTouch(key: string, ttlMs: number): void {
  checkKey(key);
  checkTtl(ttlMs);
}

/** The arguments of `deleteIfEquals`. */
export function checkCompare(key: string, expected: string): void {
  checkKey(key);
  checkValue(expected);
}

/** The arguments of the `replaceIfEquals` batch op: key, expected, value, TTL, in that order. */
export function checkReplace(key: string, expected: string, value: string, ttlMs: number): void {
  checkKey(key);
  checkValue(expected);
  checkValue(value);
  checkTtl(ttlMs);
}

/** The arguments of `rateLimit` (and of the `rateLimitPeek` batch op). */
export function checkRateLimitCall(key: string, policy: RateLimitPolicy, nowMs: number): void {
  checkKey(key);
  checkRateLimit(policy, nowMs);
}

/**
 * The TTL a backend applies for a (checked) `ttlMs`: whole milliseconds, a fraction rounded up, so a
 * value never lives shorter than asked, and the same in every backend (Redis keeps whole ms only).
 */
export function wholeMs(ttlMs: number): number {
  return Math.ceil(ttlMs);
}

/**
 * The longest rate-limit window, in ms: 2^40 ms, about 34.8 years. Past it the Redis scripts'
 * arithmetic leaves the range where Lua prints an integer as digits (`PX 1e+17` is refused) and
 * the GCRA grid loses its exactness.
 */
export const MAX_RATE_LIMIT_WINDOW_MS = 2 ** 40;

/**
 * The bound on a rate-limit step's time, in ms: `nowMs` is refused from 2^43 ms (about the year 2248)
 * on, either side of zero. Below it the GCRA grid's sums are exact doubles
 * (`src/pipeline/rate-limit/algorithms.ts`); at 2^44 a small interval vanished in the rounding, so
 * the embedded stores admitted without ever charging (remaining = limit, resetMs 0) and Redis failed
 * (`SET … PX 0`).
 */
export const MAX_RATE_LIMIT_NOW_MS = 2 ** 43;

/** The largest rate-limit `limit`: 2^31 − 1 (Redis answers counts as integers; far beyond any real budget). */
export const MAX_RATE_LIMIT = 2 ** 31 - 1;

/** A rate-limit step's arguments: a known algorithm, then `checkRateLimitNumbers`. Made before anything is sent or stored. */
export function checkRateLimit(policy: RateLimitPolicy, nowMs: number): void {
  if (policy.algorithm !== 'gcra' && policy.algorithm !== 'sliding-window') throw new TypeError('Rate limit: unknown algorithm');
  checkRateLimitNumbers(policy, nowMs);
}

/** The limit, window and time of a step, as the algorithms of `src/pipeline/rate-limit/algorithms.ts` check them too. */
export function checkRateLimitNumbers(policy: RateLimitPolicy, nowMs: number): void {
  if (!(Number.isInteger(policy.limit) && policy.limit > 0 && policy.limit <= MAX_RATE_LIMIT)) {
    throw new TypeError(`Rate limit: limit must be a positive integer, at most ${MAX_RATE_LIMIT}`);
  }
  if (!(Number.isFinite(policy.windowMs) && policy.windowMs > 0 && policy.windowMs <= MAX_RATE_LIMIT_WINDOW_MS)) {
    throw new TypeError(`Rate limit: windowMs must be positive, at most 2^40 (${MAX_RATE_LIMIT_WINDOW_MS} ms, about 34 years)`);
  }
  if (!(Number.isFinite(nowMs) && Math.abs(nowMs) < MAX_RATE_LIMIT_NOW_MS)) {
    throw new TypeError(`Rate limit: nowMs must be a finite number, below 2^43 in magnitude (${MAX_RATE_LIMIT_NOW_MS} ms, about the year 2248)`);
  }
}

const OPS: ReadonlySet<string> = new Set<StoreOp['op']>(['get', 'set', 'claim', 'touch', 'deleteIfEquals', 'delete', 'rateLimit', 'rateLimitPeek', 'setIfAllowed', 'replaceIfEquals']);

/** Throws `TypeError` for an op a store must refuse before doing anything (a batch checks all first). */
export function checkOp(op: StoreOp): void {
  if (!OPS.has(op.op)) throw new TypeError(`Unknown store op "${String(op.op)}"`);
  if (op.op === 'set' || op.op === 'claim' || op.op === 'setIfAllowed') checkWrite(op.key, op.value, op.ttlMs);
  else if (op.op === 'touch') checkTouch(op.key, op.ttlMs);
  else if (op.op === 'deleteIfEquals') checkCompare(op.key, op.expected);
  else if (op.op === 'replaceIfEquals') checkReplace(op.key, op.expected, op.value, op.ttlMs);
  else if (op.op === 'rateLimit' || op.op === 'rateLimitPeek') checkRateLimitCall(op.key, op.policy, op.nowMs);
  else checkKey(op.key);
}

/** The ops of a `batch`, each checked (`checkOp`) before any is sent or run, so a malformed batch changes nothing. */
export function checkOps(ops: readonly StoreOp[]): void {
  for (let i = 0; i < ops.length; i++) {
    checkOp(ops[i] as StoreOp);
    checkGuard(ops, i);
  }
}

/** A `setIfAllowed` at `i` of `ops` must follow the `rateLimit` step that guards it. */
export function checkGuard(ops: readonly StoreOp[], i: number): void {
  if (ops[i]?.op === 'setIfAllowed' && ops[i - 1]?.op !== 'rateLimit') {
    throw new TypeError('Store op "setIfAllowed" must come right after the "rateLimit" step that guards it, in the same batch');
  }
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

/**
 * The `sweepIntervalMs` option of the embedded stores, checked when one is created (`where` names
 * it): 0 (no sweep), or 1 up to `MAX_TIMER_MS`. Node runs a longer interval every 1 ms, and a
 * shorter one too: `2 ** 31`, and `0.5`, swept the whole store in a busy loop.
 */
export function sweepIntervalOf(where: string, value: number): number {
  return checkTimerDelay(value, { zero: true }, () => {
    return new TypeError(`${where}: sweepIntervalMs must be a number of ms from 0 (no sweep) to ${MAX_TIMER_TEXT}, and not between 0 and 1 (Node runs a shorter interval every millisecond)`);
  });
}
