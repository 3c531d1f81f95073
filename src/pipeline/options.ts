/**
 * Checks of stage options, made once when a stage is built: a bad value fails start-up with a
 * `TypeError` naming the stage and the option, rather than misbehaving under traffic.
 */

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
