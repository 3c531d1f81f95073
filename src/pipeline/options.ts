/**
 * Checks of stage options, made once when a stage is built: a bad value fails start-up with a
 * `TypeError` naming the stage and the option, rather than misbehaving under traffic.
 */
import { MAX_RATE_LIMIT, MAX_RATE_LIMIT_WINDOW_MS } from '../store/checks.js';

/**
 * `value` when it is a positive integer; else throws `TypeError("<where>: <name> must be a positive integer")`.
 * @example positiveInteger('Idempotency', 'lockTtlMs', options.lockTtlMs ?? 30_000)
 */
export function positiveInteger(where: string, name: string, value: number): number {
  if (!(Number.isInteger(value) && value > 0)) throw new TypeError(`${where}: ${name} must be a positive integer`);
  return value;
}

/**
 * `value` when it is a positive whole number of seconds whose milliseconds are still an exact integer
 * (below 2^53 ms, some 285,000 years): `1e306` would otherwise pass start-up and become an infinite
 * window or TTL, failing every request with a 500.
 */
export function positiveSeconds(where: string, name: string, value: number): number {
  if (!(Number.isInteger(value) && value > 0 && Number.isSafeInteger(value * 1000))) {
    throw new TypeError(`${where}: ${name} must be a positive whole number of seconds, at most ${Math.floor(Number.MAX_SAFE_INTEGER / 1000)}`);
  }
  return value;
}

/**
 * `value` when it is a rate-limit `limit` every store accepts: a positive integer, at most
 * 2^31 − 1 (`MAX_RATE_LIMIT` in `src/store/checks.ts`, which refuses any other per call).
 */
export function rateLimitCount(where: string, name: string, value: number): number {
  if (!(Number.isInteger(value) && value > 0 && value <= MAX_RATE_LIMIT)) {
    throw new TypeError(`${where}: ${name} must be a positive integer, at most ${MAX_RATE_LIMIT}`);
  }
  return value;
}

/** The longest rate-limit window in whole seconds: 2^40 ms (`MAX_RATE_LIMIT_WINDOW_MS`), about 34 years. */
export const MAX_RATE_LIMIT_WINDOW_SECONDS = Math.floor(MAX_RATE_LIMIT_WINDOW_MS / 1000);

/**
 * `value` when it is a rate-limit window every store accepts: a positive whole number of seconds,
 * at most `MAX_RATE_LIMIT_WINDOW_SECONDS` (1,099,511,627 s, about 34 years).
 */
export function rateLimitSeconds(where: string, name: string, value: number): number {
  if (!(Number.isInteger(value) && value > 0 && value <= MAX_RATE_LIMIT_WINDOW_SECONDS)) {
    throw new TypeError(`${where}: ${name} must be a positive whole number of seconds, at most ${MAX_RATE_LIMIT_WINDOW_SECONDS} (about 34 years)`);
  }
  return value;
}
