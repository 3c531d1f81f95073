/**
 * What a key was first used for: SHA-256 over the canonical JSON of
 * `[componentId, action, params]`. The same key with another fingerprint answers 422
 * `IDEMPOTENCY_KEY_REUSED`; params that differ only in object key order are the same request.
 */
import { hash } from 'node:crypto';
import { boundedMemo } from '../../core/memo.js';

/**
 * JSON with object keys sorted (recursively, by UTF-16 code unit); arrays keep their order.
 * Follows `JSON.stringify` for the rest (`undefined` and functions are dropped from objects and
 * become `null` in arrays), except that `-0`, `Infinity`, `-Infinity` and `NaN` keep their own
 * spelling, distinct from `0` and `null`. Throws a `TypeError` on a bigint or
 * a top-level value with no JSON form. Params come from `JSON.parse` (nesting bounded by the HTTP
 * layer), so cycles cannot occur.
 *
 * @example
 * canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }); // '{"a":[2,{"c":4,"d":3}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  const text = encode(value);
  if (text === undefined) throw new TypeError('canonicalJson: the value has no JSON form');
  return text;
}

function encode(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      // Not JSON.stringify's `0` and `null`: `-0` and the `Infinity` of an overflowing literal
      // (`1e400`) reach the action as themselves, so they must not share a fingerprint with `0` and
      // `null` (a request would replay another's result). The text is only hashed, never parsed.
      if (Number.isFinite(value)) return Object.is(value, -0) ? '-0' : JSON.stringify(value);
      return String(value);
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      throw new TypeError('canonicalJson: bigint has no JSON form');
    default:
      break;
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    return `[${value.map((item) => encode(item) ?? 'null').join(',')}]`;
  }
  const object = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(object).sort()) {
    const encoded = encode(object[key]);
    if (encoded !== undefined) parts.push(`${JSON.stringify(key)}:${encoded}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * The fingerprint of one action call, as base64url SHA-256.
 *
 * @example
 * requestFingerprint('order:main', 'createOrder', { item: 'book' });
 */
export function requestFingerprint(componentId: string, action: string, params: unknown): string {
  // `canonicalJson([componentId, action, params])`, the same text, without building the array.
  const text = `[${JSON.stringify(componentId)},${JSON.stringify(action)},${encode(params) ?? 'null'}]`;
  // Short texts repeat (the same button, the same params): hashed once while among the recent ones.
  return memoDigest(text);
}

/** Longest canonical text memoised, so the memo stays small whatever the params (<= ~5 MB in all). */
const MEMO_MAX_TEXT = 256;

/** One-shot `crypto.hash` (Node >= 20.12): no Hash object per request on the hot path. */
function digest(text: string): string {
  return hash('sha256', text, 'base64url');
}

const memoDigest = boundedMemo(10_000, digest, MEMO_MAX_TEXT);
