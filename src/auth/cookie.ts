/**
 * The refresh-token cookie (PROTOCOL §4): `refresh_token`, `HttpOnly` (no script can read it),
 * `SameSite=Strict` (no other site can make the browser send it), `Secure` in production,
 * `Path=/api/v1/auth` (sent to the auth endpoints only), and `Max-Age` = what is left of the
 * token's life. The token never appears in a JSON body.
 *
 * Two `refresh_token` cookies of different values in one request are read as none. A sibling
 * subdomain is same-site and may set a cookie for the whole site (`Domain=example.com`) on a longer
 * path (`Path=/api/v1/auth/refresh-token`), which the browser sends before the app's own: read first
 * (as the cookie parser reads), it rotated the planted token and signed the victim's page in to the
 * planter's account. The server cannot tell which of the two is its own, so it uses neither, and
 * does not expire its own either: that `Set-Cookie` (host-only, `Path=/api/v1/auth`) cannot reach the
 * planted one (another domain and path), so the browser's next request carried the planted cookie
 * alone, read as the app's — the same sign-in to the planter's account, one request later.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export const AUTH_PREFIX = '/api/v1/auth';
export const REFRESH_COOKIE = 'refresh_token';

export interface RefreshCookie {
  readonly name: string;
  read(request: FastifyRequest): string | undefined;
  write(reply: FastifyReply, token: string, maxAgeSeconds: number): void;
  /**
   * Expires the cookie in the browser (`Max-Age=0`, an `Expires` in the past), unless the request
   * carried two of different values (a tossed one): expiring the app's own would leave the planted one
   * alone in the browser, read as the app's by the next request.
   */
  clear(reply: FastifyReply): void;
}

/** @param secure mark the cookie `Secure` (production). */
export function createRefreshCookie(secure: boolean): RefreshCookie {
  const attributes = { httpOnly: true, sameSite: 'strict', secure, path: AUTH_PREFIX } as const;
  return {
    name: REFRESH_COOKIE,
    read: (request) => (tossed(request) ? undefined : request.cookies[REFRESH_COOKIE]),
    write: (reply, token, maxAgeSeconds) => {
      // Checked here, in the route: the cookie is serialised later, in an onSend hook, where a
      // refusal bypassed the app's error handler (Fastify's own JSON, without code or request_id).
      if (!(Number.isSafeInteger(maxAgeSeconds) && maxAgeSeconds >= 0)) throw new TypeError(`refresh cookie: Max-Age must be a whole number of seconds, got ${maxAgeSeconds}`);
      reply.setCookie(REFRESH_COOKIE, token, { ...attributes, maxAge: maxAgeSeconds });
    },
    clear: (reply) => {
      if (!tossed(reply.request)) reply.setCookie(REFRESH_COOKIE, '', { ...attributes, maxAge: 0, expires: new Date(0) });
    },
  };
}

/** Whether the request carried two `refresh_token` cookies of different values. */
function tossed(request: FastifyRequest): boolean {
  const value = request.cookies[REFRESH_COOKIE];
  return value !== undefined && ambiguous(request.headers.cookie, value);
}

/**
 * Whether the `Cookie` header holds a `refresh_token` pair whose value differs from `value` (the one
 * the parser kept). Values are compared as sent and percent-decoded, as the parser decodes them.
 */
function ambiguous(header: string | undefined, value: string): boolean {
  if (header === undefined) return false;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1 || pair.slice(0, eq).trim() !== REFRESH_COOKIE) continue;
    const raw = pair.slice(eq + 1).trim();
    if (raw !== value && decoded(raw) !== value) return true;
  }
  return false;
}

function decoded(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
