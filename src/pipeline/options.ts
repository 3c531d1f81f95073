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
