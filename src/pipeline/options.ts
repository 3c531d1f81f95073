/**
 * Checks of stage options, made once when a stage is built: a bad value fails start-up with a
 * `TypeError` naming the stage and the option, rather than misbehaving under traffic.
 */
import { checkTimerDelay, MAX_TIMER_TEXT } from '../core/deadline.js';
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

/**
 * `value` when it can be a timer's delay: a positive whole number of ms, at most `MAX_TIMER_MS`.
 * Node fires a longer timer after 1 ms, so `actionTimeoutMs: 2 ** 31` started fine and then timed
 * out every async action at once (500).
 */
export function timerMs(where: string, name: string, value: number): number {
  return checkTimerDelay(value, { integer: true }, () => new TypeError(`${where}: ${name} must be a positive whole number of ms, at most ${MAX_TIMER_TEXT}`));
}

/**
 * The longest lifetime of a token, a browser sign-in or a session: 100 years (of 365.25 days), in
 * minutes (52,596,000). Its end in ms stays far inside PostgreSQL's `bigint` and a `Date`, and a
 * cookie's `Max-Age` in seconds a safe integer: with 2^53 − 1 minutes every sign-in failed (a
 * `Max-Age` the cookie serialiser refuses on SQLite, a `bigint` overflow on PostgreSQL).
 */
export const MAX_LIFETIME_MINUTES = 100 * 525_960;

/** `MAX_LIFETIME_MINUTES` in ms (3,155,760,000,000). */
export const MAX_LIFETIME_MS = MAX_LIFETIME_MINUTES * 60_000;

/** How error messages state `MAX_LIFETIME_MINUTES`. */
export const MAX_LIFETIME_TEXT = `${MAX_LIFETIME_MINUTES} minutes (100 years)`;
