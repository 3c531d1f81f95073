/**
 * The CSRF token format, version 1: key derivation, masking and parsing. Pure functions, no I/O.
 *
 * Per-session secret (derived, never stored; it rotates with the session id at sign-in/sign-out):
 *
 *     S = HMAC-SHA256(serverSecret, "lc-csrf-v1\0" ‖ session.id)
 *
 * Payload P (what a token proves), by rotation mode:
 *
 *     per-session: P = tag                    tag = HMAC-SHA256(S, "lc-csrf-v1\0session")        32 bytes
 *     per-action:  P = nonce ‖ tag            tag = HMAC-SHA256(S, "lc-csrf-v1\0action\0" ‖ nonce) 24 + 32 bytes
 *                  nonce = slot (u8) ‖ stamp (u64 BE, issue order) ‖ 15 random bytes
 *
 * Token (BREACH masking, as in Rails and Django): a fresh random mask M with |M| = |P| per token,
 *
 *     token = "v1." ‖ base64url(M ‖ (P XOR M))      no padding, canonical encoding only
 *
 * so every response carries a new-looking string while the payload underneath stays the same.
 * Lengths: per-session 64 bytes → 89 characters; per-action 112 bytes → 153 characters. A token
 * of the other mode has the other length and never verifies.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TOKEN_PREFIX = 'v1.';
export const TAG_BYTES = 32;
export const NONCE_BYTES = 24;
/** Payload bytes of a per-session token (the tag alone). */
export const SESSION_PAYLOAD_BYTES = TAG_BYTES;
/** Payload bytes of a per-action token (nonce, then tag). */
export const ACTION_PAYLOAD_BYTES = NONCE_BYTES + TAG_BYTES;
/** Byte offset of the issue stamp inside the nonce (after the slot byte). */
export const STAMP_OFFSET = 1;
const RANDOM_OFFSET = STAMP_OFFSET + 8;
export const NONCE_RANDOM_BYTES = NONCE_BYTES - RANDOM_OFFSET;

/**
 * Most fallback secrets a CSRF service takes (`LC_SESSION_SECRET_FALLBACKS`). A token the current
 * secret refuses — any forged one, which needs no session to send — is tried against every fallback:
 * one HMAC each in `per-action` mode (the nonce differs per token), so the list bounds that work. A
 * rotation needs one; two rotations within a `SESSION_TTL` two.
 */
export const MAX_SECRET_FALLBACKS = 4;

const SECRET_LABEL = 'lc-csrf-v1\0';
const SESSION_LABEL = 'lc-csrf-v1\0session';
const ACTION_LABEL = 'lc-csrf-v1\0action\0';
const BASE64URL_RE = /^[A-Za-z0-9_-]+$/;

/** Length of the token text for a payload of `payloadBytes` (unpadded base64url of mask + masked). */
export function tokenLength(payloadBytes: number): number {
  return TOKEN_PREFIX.length + Math.ceil((2 * payloadBytes * 4) / 3);
}

/** The session's CSRF secret `S`. */
export function deriveSessionSecret(serverSecret: Buffer, sessionId: string): Buffer {
  return createHmac('sha256', serverSecret).update(SECRET_LABEL).update(sessionId, 'utf8').digest();
}

export function sessionTag(sessionSecret: Buffer): Buffer {
  return createHmac('sha256', sessionSecret).update(SESSION_LABEL).digest();
}

export function actionTag(sessionSecret: Buffer, nonce: Buffer): Buffer {
  return createHmac('sha256', sessionSecret).update(ACTION_LABEL).update(nonce).digest();
}

/** A per-action nonce for `slot`, ordered by `stamp`, with `random` (NONCE_RANDOM_BYTES) appended. */
export function buildNonce(slot: number, stamp: number, random: Buffer): Buffer {
  const nonce = Buffer.alloc(NONCE_BYTES);
  nonce.writeUInt8(slot, 0);
  nonce.writeBigUInt64BE(BigInt(stamp), STAMP_OFFSET);
  random.copy(nonce, RANDOM_OFFSET, 0, NONCE_RANDOM_BYTES);
  return nonce;
}

/** `"v1." + base64url(mask ‖ (payload XOR mask))`; `mask` has the payload's length. */
export function maskToken(payload: Buffer, mask: Buffer): string {
  const n = payload.length;
  if (mask.length < n) throw new RangeError('CSRF mask is shorter than the payload');
  const out = Buffer.allocUnsafe(2 * n);
  mask.copy(out, 0, 0, n);
  for (let i = 0; i < n; i++) out[n + i] = (payload[i] as number) ^ (mask[i] as number);
  return TOKEN_PREFIX + out.toString('base64url');
}

/**
 * The payload of a well-formed token with a `payloadBytes` payload, or `null`. The length is
 * checked before anything is decoded, so a huge string costs nothing; non-base64url text and
 * non-canonical encodings (other trailing bits) are refused. Never throws.
 */
export function unmaskToken(token: unknown, payloadBytes: number): Buffer | null {
  if (typeof token !== 'string' || token.length !== tokenLength(payloadBytes)) return null;
  if (!token.startsWith(TOKEN_PREFIX)) return null;
  const body = token.slice(TOKEN_PREFIX.length);
  if (!BASE64URL_RE.test(body)) return null;
  const raw = Buffer.from(body, 'base64url');
  if (raw.length !== 2 * payloadBytes || raw.toString('base64url') !== body) return null;
  const payload = Buffer.allocUnsafe(payloadBytes);
  for (let i = 0; i < payloadBytes; i++) payload[i] = (raw[i] as number) ^ (raw[payloadBytes + i] as number);
  return payload;
}

/** Constant-time equality; buffers of different lengths are unequal (without throwing). */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
