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
 *
 * A planted cookie alone (a browser with no sign-in of its own: signed out, or never signed in) is
 * the one request the server cannot tell from the app's own by the `refresh_token` cookie itself, and
 * its name cannot take the `__Host-` prefix (PROTOCOL §4 fixes it, with `Path=/api/v1/auth`; the
 * prefix needs `Path=/`). So with `Secure` cookies each refresh token comes with a **companion**,
 * `__Host-lc_refresh_binding_token`: 256 random bits, `Secure`, `HttpOnly`, `SameSite=Strict`,
 * `Path=/`, no `Domain`, the refresh cookie's `Max-Age`, set with the token at sign-in and at each
 * rotation, and expired with it. The token's row stores the companion's hash (`binding_hash`), and
 * the token rotates only in a request carrying that companion (service.ts `refresh`). A sibling
 * subdomain can set neither a `__Host-` cookie nor one this host receives under that name, and it
 * cannot read the companion of its own sign-in into the victim's browser: its planted token is
 * refused there. Over plain HTTP (development) no `__Host-` cookie can be set: nothing changes there.
 * "token" in the name: log redaction censors its value anywhere, as the device cookie's.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export const AUTH_PREFIX = '/api/v1/auth';
export const REFRESH_COOKIE = 'refresh_token';
/** The refresh token's companion (with `Secure` cookies only): see the module comment. */
export const BINDING_COOKIE = '__Host-lc_refresh_binding_token';

export interface RefreshCookie {
  readonly name: string;
  /** The companion's name (`BINDING_COOKIE`), `null` without `Secure` cookies (none is set then). */
  readonly bindingName: string | null;
  read(request: FastifyRequest): string | undefined;
  /**
   * The companion the request carried; `undefined` without `Secure` cookies, and when it carried two
   * of different values (no browser sends that for a `__Host-` cookie; a browser flaw might).
   */
  readBinding(request: FastifyRequest): string | undefined;
  /** `binding`: the companion to set with the token (`IssuedTokens.binding`), `null` for none. */
  write(reply: FastifyReply, token: string, maxAgeSeconds: number, binding?: string | null): void;
  /**
   * Expires the cookie and its companion in the browser (`Max-Age=0`, an `Expires` in the past),
   * unless the request carried two refresh cookies of different values (a tossed one): expiring the
   * app's own would leave the planted one alone in the browser, read as the app's by the next request
   * (and the app's own, kept, still needs its companion).
   */
  clear(reply: FastifyReply): void;
}

/** @param secure mark the cookie `Secure` (production), and pair each token with its companion. */
export function createRefreshCookie(secure: boolean): RefreshCookie {
  // Host-only and unsigned whatever the app's own @fastify/cookie sets as defaults (its
  // `parseOptions`, applied to every setCookie): a default `domain` sent the refresh cookie to every
  // sibling subdomain and made browsers refuse the companion (`__Host-` forbids `Domain`), so that
  // every bound token was refused at its first refresh; a default `signed` made both unreadable.
  const own = { domain: undefined, signed: false } as const;
  const attributes = { ...own, httpOnly: true, sameSite: 'strict', secure, path: AUTH_PREFIX } as const;
  // What `__Host-` requires (Secure, Path=/, no Domain), which is what keeps a sibling from setting it.
  const companion = { ...own, httpOnly: true, sameSite: 'strict', secure: true, path: '/' } as const;
  return {
    name: REFRESH_COOKIE,
    bindingName: secure ? BINDING_COOKIE : null,
    read: (request) => (tossed(request) ? undefined : request.cookies[REFRESH_COOKIE]),
    readBinding: (request) => {
      if (!secure) return undefined;
      const value = request.cookies[BINDING_COOKIE];
      return value === undefined || ambiguous(request.headers.cookie, BINDING_COOKIE, value) ? undefined : value;
    },
    write: (reply, token, maxAgeSeconds, binding = null) => {
      // Checked here, in the route: the cookie is serialised later, in an onSend hook, where a
      // refusal bypassed the app's error handler (Fastify's own JSON, without code or request_id).
      if (!(Number.isSafeInteger(maxAgeSeconds) && maxAgeSeconds >= 0)) throw new TypeError(`refresh cookie: Max-Age must be a whole number of seconds, got ${maxAgeSeconds}`);
      reply.setCookie(REFRESH_COOKIE, token, { ...attributes, maxAge: maxAgeSeconds });
      // Only where a `__Host-` cookie can be set; the service issues none elsewhere.
      if (secure && binding !== null) reply.setCookie(BINDING_COOKIE, binding, { ...companion, maxAge: maxAgeSeconds });
    },
    clear: (reply) => {
      if (tossed(reply.request)) return;
      reply.setCookie(REFRESH_COOKIE, '', { ...attributes, maxAge: 0, expires: new Date(0) });
      if (secure) reply.setCookie(BINDING_COOKIE, '', { ...companion, maxAge: 0, expires: new Date(0) });
    },
  };
}

/** Whether the request carried two `refresh_token` cookies of different values. */
function tossed(request: FastifyRequest): boolean {
  const value = request.cookies[REFRESH_COOKIE];
  return value !== undefined && ambiguous(request.headers.cookie, REFRESH_COOKIE, value);
}

/**
 * Whether the `Cookie` header holds a `name` pair whose value differs from `value` (the one the
 * parser kept). Values are compared as sent and percent-decoded, as the parser decodes them.
 */
function ambiguous(header: string | undefined, name: string, value: string): boolean {
  if (header === undefined) return false;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
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
