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
 * JSON also drops a symbol key, a non-enumerable property and a named property of an array: refused.
 * Every object is listed for those (one `Reflect.ownKeys` each), those an action kept from the state
 * it was given too: `run` gets that very object and may change it in place (`s.items.selected = …`),
 * so "kept" cannot mean "unchanged".
 */
export function jsonStateProblem(state: unknown): string | null {
  const problem = problemAt(state, 0);
  return problem === null ? null : `${where(problem.path)} is ${problem.what}`;
}

/** A plain object: what JSON.parse makes (prototype `Object.prototype`), or one without a prototype. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** What is wrong, and where: the keys and indexes down to it, filled in on the way back up. */
interface Problem {
  readonly what: string;
  readonly path: (string | number)[];
}

/** The walk builds no path while all is well: every action's new state goes through it. */
function problemAt(value: unknown, depth: number): Problem | null {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : { what: `${String(value)} (JSON stores null)`, path: [] };
    case 'undefined':
      return { what: 'undefined (JSON stores null)', path: [] };
    case 'object':
      break;
    default:
      return { what: `a ${typeof value}`, path: [] };
  }
  if (value === null) return null;
  if (depth >= MAX_DEPTH) return { what: `nested deeper than ${MAX_DEPTH} levels (or circular)`, path: [] };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = problemAt(value[i], depth + 1);
      if (problem !== null) {
        problem.path.unshift(i);
        return problem;
      }
    }
    // Its own keys are its indexes and `length`, unless it has more.
    return Reflect.ownKeys(value).length === value.length + 1 ? null : hiddenKeyOf(value);
  }
  if (!isPlainObject(value)) {
    const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } }).constructor?.name;
    return { what: `${typeof name === 'string' && name !== '' ? `a ${name}` : 'an object with a prototype'} (only plain objects and arrays are JSON)`, path: [] };
  }
  let keys = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    keys++;
    const field = value[key];
    // A missing optional field: JSON drops it, and it reads back as missing: the same state.
    if (field === undefined) continue;
    const problem = problemAt(field, depth + 1);
    if (problem !== null) {
      problem.path.unshift(key);
      return problem;
    }
  }
  // for…in sees the own enumerable string keys only: any other own key is one JSON drops.
  return Reflect.ownKeys(value).length === keys ? null : hiddenKeyOf(value);
}

/** The first own key of `value` JSON drops: a symbol, a non-enumerable property, an array's named property. */
function hiddenKeyOf(value: object): Problem | null {
  const array = Array.isArray(value);
  for (const key of Reflect.ownKeys(value)) {
    if (typeof key === 'symbol') return { what: 'a symbol key (JSON drops it)', path: [key.toString()] };
    if (array && (key === 'length' || String(Number(key) >>> 0) === key)) continue;
    if (array) return { what: 'a named property of an array (JSON keeps only its elements)', path: [key] };
    if (!Object.prototype.propertyIsEnumerable.call(value, key)) return { what: 'a non-enumerable property (JSON drops it)', path: [key] };
  }
  return null;
}

function where(path: readonly (string | number)[]): string {
  if (path.length === 0) return 'the state';
  return `"${path.map((step, i) => (typeof step === 'number' ? `[${step}]` : i === 0 ? step : `.${step}`)).join('')}"`;
}
