/**
 * Whether `value` is a thenable: a native promise, another realm's (a \`vm\` context) or a promise
 * library's. \`instanceof Promise\` misses the last two, and code that then takes such a value as a
 * plain result loses what it stands for.
 */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
