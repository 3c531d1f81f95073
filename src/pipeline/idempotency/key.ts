/**
 * Reading the idempotency key of a request (PROTOCOL §3): header `Idempotency-Key` (an RFC 8941
 * sf-string, quoted or bare) or body field `idempotency_key`. A key is 1–255 printable ASCII
 * characters (0x20–0x7E); anything else answers 400 `IDEMPOTENCY_KEY_INVALID`.
 */
import { LiveError } from '../../core/errors.js';

/** Longest key accepted, in characters. */
export const MAX_KEY_LENGTH = 255;

/** 1–255 printable ASCII characters (space included). */
const KEY_RE = /^[\x20-\x7e]{1,255}$/;

/**
 * The bare (unquoted) header form: printable ASCII without surrounding whitespace. A leading `"`
 * means the sf-string form and a `,` is refused: two `Idempotency-Key` lines are joined with `, `
 * by Node, and that must not silently become a third key.
 */
const BARE_RE = /^[\x21\x23-\x2b\x2d-\x7e](?:[\x20-\x2b\x2d-\x7e]{0,253}[\x21-\x2b\x2d-\x7e])?$/;

/** Whether `value` is a well-formed key (1–255 printable ASCII characters). */
export function isValidIdempotencyKey(value: string): boolean {
  return KEY_RE.test(value);
}

/**
 * Decodes an RFC 8941 sf-string (`"…"` with only `\"` and `\\` escapes, printable ASCII inside).
 * Returns `null` when `text` is not exactly one such string.
 */
export function parseSfString(text: string): string | null {
  if (text.length < 2 || text.charCodeAt(0) !== 0x22) return null;
  let out = '';
  for (let i = 1; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x5c) {
      const escaped = text.charCodeAt(++i);
      if (escaped !== 0x22 && escaped !== 0x5c) return null;
      out += text[i];
    } else if (code === 0x22) {
      // The closing quote must end the value (no parameters, no second list member).
      return i === text.length - 1 ? out : null;
    } else if (code < 0x20 || code > 0x7e) {
      return null;
    } else {
      out += text[i];
    }
  }
  return null; // no closing quote
}

/**
 * Parses the `Idempotency-Key` header value. `undefined` → `null` (no key); a valid key → the key;
 * anything else → the reason it is invalid.
 */
function parseHeader(raw: string | readonly string[] | undefined): string | null | LiveError {
  if (raw === undefined) return null;
  if (typeof raw !== 'string') return invalid('The Idempotency-Key header was sent more than once.');
  if (raw.charCodeAt(0) === 0x22) {
    const decoded = parseSfString(raw);
    if (decoded === null) return invalid('The Idempotency-Key header is not a valid structured-field string.');
    return isValidIdempotencyKey(decoded) ? decoded : invalid();
  }
  return BARE_RE.test(raw) ? raw : invalid();
}

/**
 * The request's idempotency key: `null` when none came, the key when valid, else a
 * `LiveError('IDEMPOTENCY_KEY_INVALID')`. When both the header and the body field are given
 * they must name the same key.
 *
 * @example
 * parseIdempotencyKey('"order-\\"7\\""', undefined); // 'order-"7"'
 * parseIdempotencyKey('5f0c…', undefined); // bare value, as the seed's clients send it
 */
export function parseIdempotencyKey(header: string | readonly string[] | undefined, body: unknown): string | null | LiveError {
  const fromHeader = parseHeader(header);
  if (fromHeader instanceof LiveError) return fromHeader;
  if (body === undefined) return fromHeader;
  if (typeof body !== 'string') return invalid('The idempotency_key field must be a string.');
  if (!isValidIdempotencyKey(body)) return invalid();
  if (fromHeader !== null && fromHeader !== body) {
    return invalid('The Idempotency-Key header and the idempotency_key field name different keys.');
  }
  return body;
}

function invalid(message?: string): LiveError {
  return new LiveError('IDEMPOTENCY_KEY_INVALID', message === undefined ? {} : { message });
}
