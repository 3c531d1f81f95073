/**
 * Opaque tokens (access, refresh, password reset): 256 random bits in base64url (43 characters).
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
 * The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1; the scheme is
 * case-insensitive), or `null` when the header is absent, repeated or malformed.
 */
export function bearerToken(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer +([A-Za-z0-9_-]{43})$/i.exec(header.trim());
  return match === null ? null : (match[1] as string);
}
