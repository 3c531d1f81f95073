/**
 * Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a browser that
 * signed in to an account before keeps its own sign-in budget for that account, apart from the
 * per-account budget everyone else shares (`LOGIN_PER_ACCOUNT`). Without it, whoever spends that
 * shared budget on an address locks its owner out for as long as they go on (docs/auth.md, Limits).
 *
 * The cookie holds a random token (256 bits, the shape of the service's other tokens). A successful
 * sign-in (once its tokens or browser session exist) records the token's hash among the account's
 * trusted devices in the store — one key per account holding the `MAX_TRUSTED_DEVICES` most recently
 * used, so sign-ins without the cookie (scripts, apps without a cookie jar, or someone doing it on
 * purpose) cannot grow the store — and an attempt presenting a recorded token counts against that
 * device's own limit (`LOGIN_PER_DEVICE`) instead. A token not recorded for the account tried is worth nothing: it cannot be guessed, and a
 * success without a trusted token always mints a fresh one, so a value planted in a browser (a
 * sibling subdomain can set cookies without the `__Host-` prefix) never becomes trusted.
 *
 * The cookie (`lc_device_token`: "token" in its name, so log redaction censors its value anywhere) is `HttpOnly`, `SameSite=Strict`, `Path=/` (both `/login` and the JSON endpoint read
 * it), and `__Host-lc_device_token` with `Secure` in production (no subdomain can overwrite it).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { cookieValues, decodeCookieValue, encodeCookieValue, putSetCookie } from '../http/cookie-header.js';

const DAY_SECONDS = 86_400;

/** How long a browser stays trusted after its last sign-in to an account. */
export const DEVICE_TRUST_DAYS = 90;

/** Devices an account trusts at once; a sign-in from an 11th drops the one used least recently. */
export const MAX_TRUSTED_DEVICES = 10;

export interface DeviceCookie {
  readonly name: string;
  read(request: FastifyRequest): string | undefined;
  /** Sets the cookie to `token` for `DEVICE_TRUST_DAYS` (renewed at every sign-in). */
  write(reply: FastifyReply, token: string): void;
}

/** @param secure mark the cookie `Secure` and use the `__Host-` name (production). */
export function createDeviceCookie(secure: boolean): DeviceCookie {
  const name = secure ? '__Host-lc_device_token' : 'lc_device_token';
  // Read and written by hand, as the refresh cookie (cookie.ts): whatever the app's own
  // @fastify/cookie does (its `parseOptions`, `hook: false`), and without it (a hand-wired
  // `authRoutes`). The attributes in the order that plugin wrote them; host-only (no Domain).
  const attributes = `; Max-Age=${DEVICE_TRUST_DAYS * DAY_SECONDS}; Path=/; HttpOnly${secure ? '; Secure' : ''}; SameSite=Strict`;
  return {
    name,
    // The first cookie of the name, percent-decoded, as the cookie parser read it.
    read: (request) => {
      const [raw] = cookieValues(request.headers.cookie, name);
      return raw === undefined ? undefined : decodeCookieValue(raw);
    },
    write: (reply, token) => putSetCookie(reply, name, `${name}=${encodeCookieValue(token)}${attributes}`),
  };
}
