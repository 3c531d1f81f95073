/**
 * Opaque tokens (access, refresh, password reset, the refresh token's companion): 256 random bits
 * in base64url (43 characters).
 * Only their SHA-256 is stored; a token is looked up by its hash, so a database dump holds nothing
 * that can be presented. High-entropy tokens need no salt or slow hash.
 */
import { hash, randomBytes } from 'node:crypto';

const TOKEN_BYTES = 32;
/** 32 bytes in base64url without padding. */
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export function newToken(random: (size: number) => Buffer = randomBytes): string {
  return random(TOKEN_BYTES).toString('base64url');
}

/** SHA-256 of the token, hex: what the database holds. */
export function hashToken(token: string): string {
  return hash('sha256', token, 'hex');
}

/** Whether `value` has the shape of a token this service issues (checked before any lookup). */
export function isTokenShaped(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_RE.test(value);
}

/**
 * `refresh_tokens.binding_hash` of a token issued where no companion cookie can be set (plain HTTP:
 * `__Host-` needs `Secure`). A service with `Secure` cookies refuses such a token (it cannot tell the
 * browser it was issued to from one it was planted in); one without rotates it. Never a hash (64 hex digits).
 */
export const UNBOUND = 'unbound';

/**
 * The `binding_hash` a rotation with this request may take, besides NULL (a row written before
 * bindings existed, taken once and bound at its rotation): on a service with `Secure` cookies the
 * hash of the companion cookie the request carried, or `null` without a well-formed one (no bound row
 * matches); over plain HTTP `UNBOUND`.
 */
export function acceptedBinding(secure: boolean, companion: string | undefined): string | null {
  if (!secure) return UNBOUND;
  return isTokenShaped(companion) ? hashToken(companion) : null;
}

/** Whether a row of `binding_hash` `stored` may rotate with `accepted` (`acceptedBinding`). */
export function bindingAccepts(stored: string | null, accepted: string | null): boolean {
  return stored === null || stored === accepted;
}

/**
 * The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1; the scheme is
 * case-insensitive), or `null` when the header is absent, repeated or malformed.
 */
export function bearerToken(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer +([A-Za-z0-9_-]{43})$/i.exec(header.trim());
  return match === null ? null : (match[1] as string);
}
