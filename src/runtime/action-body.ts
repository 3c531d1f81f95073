/**
 * Checks the shape of an action request body (PROTOCOL §3) before any stage runs. Anything that
 * is not the documented shape answers 400 `INVALID_REQUEST`, naming the field.
 *
 * The body's size is bounded on its JSON text, before it is parsed (`bodyBoundExceeded`): its nesting
 * (`MAX_BODY_DEPTH`) and its number of values (`MAX_BODY_VALUES`). The HTTP route's JSON parser
 * (src/http/json-body.ts) runs that scan on the bytes it received; a body handed to the runtime as a
 * value (the testing helpers) is encoded as JSON, scanned the same way and parsed as the route parses,
 * so both refuse the same bodies with the same sentence, and the schema sees what a client can send.
 */
import { Buffer } from 'node:buffer';
import secureJson from 'secure-json-parse';
import { LiveError } from '../core/errors.js';
import { isPlainObject } from '../core/json-state.js';
import { BODY } from '../core/wire.js';
import type { ActionBody } from '../pipeline/types.js';

/**
 * Deepest nesting accepted in a body, the envelope object included (`{"params":{}}` is 2 levels):
 * deeper input is refused before it is parsed, so schemas and hashing never recurse further.
 */
export const MAX_BODY_DEPTH = 32;

/**
 * Most values accepted in a body: the body itself and every element of an array and every member of
 * an object in it, at any depth (a member's key goes with its value and is not counted apart). So
 * `{"component_id":"c:1","action":"a","params":{"x":[1,2]}}` holds 7. Parsing costs about the same
 * per value whatever its size: 1 MiB of `[[],[],…` or of an object with 100,000 keys took a quarter
 * of a second or more to parse and walk, before anything checked who was asking. A real action's
 * params hold a form's fields, a few dozen values at most.
 */
export const MAX_BODY_VALUES = 10_000;

/** The refusal's sentence for a body nested deeper than `max`. */
export function tooDeepMessage(max: number): string {
  return `The body is nested deeper than ${max} levels.`;
}

/** The refusal's sentence for a body of more than `max` values. */
export function tooManyValuesMessage(max: number): string {
  return `The body holds more than ${max} values.`;
}

/** The bound a JSON text exceeds: its nesting, or its number of values. */
export type BodyBound = 'depth' | 'values';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Which bound the JSON text `bytes` exceeds, `null` for none: `'depth'` when it opens more than
 * `maxDepth` arrays or objects inside one another, `'values'` when it holds more than `maxValues`
 * values (as `MAX_BODY_VALUES` counts them). Counted outside strings (a `"` starts or ends one, a
 * backslash escapes the byte after it): the body is one value, each `,` starts one more, and each
 * `]` or `}` closing a non-empty array or object counts its first element or member (an empty one has
 * no `,` and nothing to count). Exact for valid JSON; invalid text is the parser's to refuse. One pass
 * over the bytes, stopping at the first bound exceeded, no allocation; scanning UTF-8 bytes is exact,
 * as every byte of a multi-byte character is 0x80 or more, never one of these ASCII marks.
 */
export function bodyBoundExceeded(bytes: Uint8Array, maxDepth: number, maxValues: number): BodyBound | null {
  const length = bytes.length;
  // Valid JSON of N bytes nests at most N/2 deep (each level opens and closes), and every byte counts
  // at most one value. Shorter invalid text (`[[[[` unclosed) is refused by the parser, in no time.
  if (length <= 2 * maxDepth && length < maxValues) return null;
  let depth = 0;
  let values = 1;
  let inString = false;
  for (let i = 0; i < length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === COMMA) {
      if (++values > maxValues) return 'values';
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > maxDepth) return 'depth';
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      depth--;
      // The byte before it, whitespace skipped, is outside any string: a string would have ended there.
      let j = i - 1;
      while (j > 0 && (bytes[j] === SPACE || bytes[j] === LF || bytes[j] === CR || bytes[j] === TAB)) j--;
      if (j >= 0 && bytes[j] !== OPEN_ARRAY && bytes[j] !== OPEN_OBJECT && ++values > maxValues) return 'values';
    }
  }
  return null;
}

/** The refusal of a body over `bound`, the same sentence from the HTTP parser and from the runtime. */
export function boundError(bound: BodyBound, maxDepth = MAX_BODY_DEPTH, maxValues = MAX_BODY_VALUES): LiveError {
  return invalid(bound === 'depth' ? tooDeepMessage(maxDepth) : tooManyValuesMessage(maxValues));
}

/**
 * How a JSON text is parsed: `__proto__` and `constructor.prototype` keys are refused, not merged or
 * kept. The HTTP route's parser and a body given as a value (`bodyAsSent`) parse alike.
 */
export const JSON_PARSE_OPTIONS = { protoAction: 'error', constructorAction: 'error' } as const;

/** The refusal's sentence for a text that is not JSON, or holds a refused key. */
export const NOT_JSON_MESSAGE = 'The body is not valid JSON.';

/**
 * `String.prototype.isWellFormed` (Node 20; typed from TypeScript's ES2024 lib, which this build does
 * not load): false exactly when the auth module's `LONE_SURROGATE_RE` matches, and at once for a
 * one-byte string.
 */
type WellFormed = string & { isWellFormed(): boolean };

/** A `\u` escape of a surrogate, any case: the only way a JSON text can hold a lone one. */
const SURROGATE_ESCAPE_RE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;

/** The refusal's sentence for a body with a lone surrogate (in its JSON text, a `\uD800`–`\uDFFF` escape). */
export const NOT_UNICODE_MESSAGE = 'The body is not valid Unicode text.';

/** Whether `value` (parsed JSON) holds a string or key with a lone surrogate. Its depth is already bounded. */
function holdsLoneSurrogate(value: unknown): boolean {
  if (typeof value === 'string') return !(value as WellFormed).isWellFormed();
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some(holdsLoneSurrogate);
  return Object.entries(value).some(([key, child]) => !(key as WellFormed).isWellFormed() || holdsLoneSurrogate(child));
}

/**
 * Whether parsed JSON `value`, of `text`, is not well-formed Unicode. The walk only runs when the
 * text has a surrogate escape (a valid pair's too, as emoji sent by `JSON.stringify`-like encoders
 * that escape non-ASCII have): other bodies cost one regex scan.
 */
export function notWellFormed(text: string, value: unknown): boolean {
  return SURROGATE_ESCAPE_RE.test(text) && holdsLoneSurrogate(value);
}

const NOT_AN_OBJECT_MESSAGE = 'The body must be a JSON object.';

/**
 * `scanned`: `body` is what the HTTP route's JSON parser produced, whose text `bodyBoundExceeded`
 * already checked; it is used as it is, at no further cost. Any other body (a value from the testing
 * helpers) is replaced by what its JSON text parses to (`bodyAsSent`): one mechanism, so the testing
 * helpers refuse what HTTP refuses and hand the schema only what a client could have sent.
 */
export function parseActionBody(rawBody: unknown, scanned = false): ActionBody | LiveError {
  if (!isPlainObject(rawBody)) return invalid(NOT_AN_OBJECT_MESSAGE);
  const body = scanned ? rawBody : bodyAsSent(rawBody);
  if (body instanceof LiveError) return body;
  const componentId = body[BODY.componentId];
  const action = body[BODY.action];
  const params = body[BODY.params];
  const csrfToken = body[BODY.csrfToken];
  const idempotencyKey = body[BODY.idempotencyKey];
  if (typeof componentId !== 'string' || componentId === '') return invalid(`"${BODY.componentId}" must be a non-empty string.`);
  if (typeof action !== 'string' || action === '') return invalid(`"${BODY.action}" must be a non-empty string.`);
  if (params !== undefined && params !== null && !isPlainObject(params)) return invalid(`"${BODY.params}" must be an object.`);
  if (csrfToken !== undefined && typeof csrfToken !== 'string') return invalid(`"${BODY.csrfToken}" must be a string.`);
  if (idempotencyKey !== undefined && typeof idempotencyKey !== 'string') {
    return new LiveError('IDEMPOTENCY_KEY_INVALID', { message: `"${BODY.idempotencyKey}" must be a string.` });
  }
  return {
    componentId,
    action,
    params: (params ?? {}) as Record<string, unknown>,
    csrfToken,
    idempotencyKey,
  };
}

/**
 * A body given as a value, as the route would receive it: its JSON text, scanned as the HTTP parser
 * scans what it receives, then parsed as it parses. A `Date` arrives as its ISO string, `Infinity` as
 * `null`, a `Map` as `{}`, and an own `__proto__` key is refused: a test passing such params would
 * otherwise pass where a real client's request fails (or the reverse). A lone surrogate (which
 * `JSON.stringify` writes as its escape) is refused as the route refuses it.
 */
function bodyAsSent(body: Record<string, unknown>): Record<string, unknown> | LiveError {
  let text: string;
  try {
    text = JSON.stringify(body);
  } catch {
    // A cycle, a BigInt, nesting past the stack: nothing a client could send.
    return invalid('The body cannot be encoded as JSON.');
  }
  const bound = bodyBoundExceeded(Buffer.from(text, 'utf8'), MAX_BODY_DEPTH, MAX_BODY_VALUES);
  if (bound !== null) return boundError(bound);
  let parsed: unknown;
  try {
    parsed = secureJson.parse(text, undefined, JSON_PARSE_OPTIONS);
  } catch {
    return invalid(NOT_JSON_MESSAGE);
  }
  if (notWellFormed(text, parsed)) return invalid(NOT_UNICODE_MESSAGE);
  // An own `toJSON` can turn the object into anything.
  return isPlainObject(parsed) ? parsed : invalid(NOT_AN_OBJECT_MESSAGE);
}

function invalid(message: string): LiveError {
  return new LiveError('INVALID_REQUEST', { message });
}

