/**
 * Whether a component state survives its trip through JSON (it is stored as JSON text, sealed)
 * unchanged. JSON.stringify never says when it loses something: a `Date` comes back a string, a
 * `Set` or a `Map` an empty object, a class instance a plain object without its methods, `NaN` and
 * `Infinity` come back `null`, an `undefined` array element `null`, a function disappears. Each of
 * these would break the component one action later, far from its cause; checked as the state is
 * made, the error names the field.
 */

/** Deeper than this is refused (and a cycle, which would recurse for ever, ends here too). */
const MAX_DEPTH = 256;

/**
 * What in `state` JSON would not keep, as `"<path>" is <what>` (`items[2].at`), or `null` when all
 * of it is JSON: plain objects (prototype `Object.prototype` or `null`), arrays, strings, finite
 * numbers, booleans, `null`, and `undefined` as an object property (dropped, read back as missing).
 */
export function jsonStateProblem(state: unknown): string | null {
  return problemAt(state, '', 0);
}

function problemAt(value: unknown, path: string, depth: number): string | null {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : `${where(path)} is ${String(value)} (JSON stores null)`;
    case 'undefined':
      return `${where(path)} is undefined (JSON stores null)`;
    case 'object':
      break;
    default:
      return `${where(path)} is a ${typeof value}`;
  }
  if (value === null) return null;
  if (depth >= MAX_DEPTH) return `${where(path)} is nested deeper than ${MAX_DEPTH} levels (or circular)`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = problemAt(value[i], `${path}[${i}]`, depth + 1);
      if (problem !== null) return problem;
    }
    return null;
  }
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== Object.prototype && proto !== null) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    return `${where(path)} is ${typeof name === 'string' && name !== '' ? `a ${name}` : 'an object with a prototype'} (only plain objects and arrays are JSON)`;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const field = (value as Record<string, unknown>)[key];
    // A missing optional field: JSON drops it, and it reads back as missing: the same state.
    if (field === undefined) continue;
    const problem = problemAt(field, path === '' ? key : `${path}.${key}`, depth + 1);
    if (problem !== null) return problem;
  }
  return null;
}

function where(path: string): string {
  return path === '' ? 'the state' : `"${path}"`;
}
