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
 *
 * Both are read from the `Cookie` header and written as `Set-Cookie` lines by hand
 * (http/cookie-header.ts, as the session cookie), not through `@fastify/cookie`: an app's own
 * registration of that plugin applied its `parseOptions` to them — a `decode` made every refresh
 * look tossed, an `encode` changed the tokens on the wire, a default `domain`, `partitioned`,
 * `priority` or `expires` went out with them —, and with `hook: false` left `request.cookies` unset.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { cookieValues, decodeCookieValue, encodeCookieValue, putSetCookie } from '../http/cookie-header.js';

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
   * (and the app's own, kept, still needs its companion). With `Secure` cookies, a refresh cookie
   * that came without a companion is also expired where a sibling subdomain could have set it: with
   * a `Domain` (a parent domain's or the host's), partitioned or not (`strayExpiries`), which never
   * reaches the app's own (host-only, unpartitioned).
   */
  clear(reply: FastifyReply): void;
}

const EPOCH = 'Thu, 01 Jan 1970 00:00:00 GMT';

/** @param secure mark the cookie `Secure` (production), and pair each token with its companion. */
export function createRefreshCookie(secure: boolean): RefreshCookie {
  // The attributes in the order @fastify/cookie wrote them (Max-Age, Path, Expires, HttpOnly,
  // Secure, SameSite); no Domain (host-only), whatever the app's own cookie defaults.
  const flags = `; HttpOnly${secure ? '; Secure' : ''}; SameSite=Strict`;
  const refreshLine = (value: string, maxAge: number, expires = '') => `${REFRESH_COOKIE}=${encodeCookieValue(value)}; Max-Age=${maxAge}; Path=${AUTH_PREFIX}${expires}${flags}`;
  // What `__Host-` requires (Secure, Path=/, no Domain), which is what keeps a sibling from setting it.
  const companionLine = (value: string, maxAge: number, expires = '') => `${BINDING_COOKIE}=${encodeCookieValue(value)}; Max-Age=${maxAge}; Path=/${expires}; HttpOnly; Secure; SameSite=Strict`;
  return {
    name: REFRESH_COOKIE,
    bindingName: secure ? BINDING_COOKIE : null,
    read: (request) => single(request, REFRESH_COOKIE),
    readBinding: (request) => (secure ? single(request, BINDING_COOKIE) : undefined),
    write: (reply, token, maxAgeSeconds, binding = null) => {
      // A fraction, a negative or an unsafe number is no Max-Age a browser reads as meant.
      if (!(Number.isSafeInteger(maxAgeSeconds) && maxAgeSeconds >= 0)) throw new TypeError(`refresh cookie: Max-Age must be a whole number of seconds, got ${maxAgeSeconds}`);
      putSetCookie(reply, REFRESH_COOKIE, refreshLine(token, maxAgeSeconds));
      // Only where a `__Host-` cookie can be set; the service issues none elsewhere.
      if (secure && binding !== null) putSetCookie(reply, BINDING_COOKIE, companionLine(binding, maxAgeSeconds));
    },
    clear: (reply) => {
      const request = reply.request;
      if (tossed(request)) return;
      const expired = refreshLine('', 0, `; Expires=${EPOCH}`);
      // A refresh cookie without its companion may be no cookie of this host's: see `strayExpiries`.
      const strays = secure && single(request, REFRESH_COOKIE) !== undefined && single(request, BINDING_COOKIE) === undefined ? strayExpiries(request) : [];
      putSetCookie(reply, REFRESH_COOKIE, expired, ...strays);
      if (secure) putSetCookie(reply, BINDING_COOKIE, companionLine('', 0, `; Expires=${EPOCH}`));
    },
  };
}

/**
 * The request's cookies named `name`, in the `Cookie` header's order, percent-decoded as the cookie
 * parser did before (tokens are base64url: a quoted one stays quoted, and is no token).
 */
const valuesOf = (request: FastifyRequest, name: string): string[] => cookieValues(request.headers.cookie, name).map(decodeCookieValue);

/** The one value of the request's `name` cookies: `undefined` for none, and for two of different values. */
function single(request: FastifyRequest, name: string): string | undefined {
  const [first, ...others] = valuesOf(request, name);
  return others.every((value) => value === first) ? first : undefined;
}

/** Whether the request carried two `refresh_token` cookies of different values. */
function tossed(request: FastifyRequest): boolean {
  const [first, ...others] = valuesOf(request, REFRESH_COOKIE);
  return others.some((value) => value !== first);
}

/** The longest DNS name (RFC 1035 §2.3.4: 255 octets on the wire, 253 characters without the root's dot). */
const MAX_DNS_NAME = 253;
/** Parent domains tried (`a.b.c.example.co.uk` → the 4 nearest the root); the public suffix among them is refused by the browser. */
const MAX_STRAY_DOMAINS = 4;
/** Paths tried per domain: `/api/v1/auth/refresh-token` has 8, a prefix of 4 more segments 16. */
const MAX_STRAY_PATHS = 16;
/** Longest request path whose prefixes are tried. */
const MAX_STRAY_PATH = 256;
/**
 * The stray lines' share of a refusal's header block, as a proxy reads it from the app (HTTP/1.1:
 * `Set-Cookie: <line>\r\n` each). With the host-only pair (~270 bytes) every `Set-Cookie` of a
 * refusal stays under 4 KB, and its whole header block well under the 8 KB a proxy must allow
 * (docs/deployment.md; the shipped nginx site reads up to 16 KB).
 */
const MAX_STRAY_BYTES = 3_584;
/** What HTTP/1.1 adds around each line: `Set-Cookie: ` and CRLF. */
const SET_COOKIE_OVERHEAD = 'Set-Cookie: \r\n'.length;
/** A name a `Domain` attribute can hold here: two labels or more, ASCII (an IDN comes as punycode). */
const DOMAIN_NAME = /^[a-z0-9-]+(\.[a-z0-9-]+)+$/;

/**
 * `Set-Cookie` lines expiring a `refresh_token` that carries a `Domain`: one set for a parent domain
 * of the request's host (`Domain=example.com` seen from `app.example.com`) or for the host itself
 * (`Domain=app.example.com`), at every path the browser sends to this request's path (`/`, `/api`,
 * `/api/`, … the path itself), and the same again with `Partitioned`. Such a cookie is none of this
 * host's (it sets host-only ones): one planted by a sibling subdomain (a parent domain) or by a
 * subdomain of the host (the host), or one this module set before it ignored the app's own
 * `@fastify/cookie` default `domain` (bound to a companion the browser refused). A refusal expiring
 * only the host-only cookie left it in the browser, refused again with a `malicious_csrf` at every
 * page load that refreshes, for as long as it lives (the planter's `Max-Age`).
 *
 * A cookie's identity is its name, domain, path and host-only flag (RFC 6265 §5.3 step 11; a browser
 * keys a `Domain=app.example.com` cookie apart from the host-only one of the same host), and with
 * CHIPS also its partition (the top-level site): a `Partitioned` cookie that a sibling sets from its
 * own page is keyed by the site both hosts share, so Chromium sends it with this host's requests, and
 * only a `Partitioned` line deletes it (an unpartitioned one does not, nor the reverse:
 * planted-refresh-cookie-browser.test.ts). So none of these lines can expire the app's own cookie
 * (host-only, unpartitioned): a planter cannot use them to sign the browser out. A public suffix
 * (which the browser refuses as a `Domain`) is harmless here; an IP address or a single label gets
 * none (Chromium stores `Domain=127.0.0.1` from 127.0.0.1, `Domain=localhost` from localhost, as
 * the host-only cookie, which the host-only expiry reaches).
 */
function strayExpiries(request: FastifyRequest): string[] {
  // The host and the path are the client's to choose (Host, X-Forwarded-Host under trustProxy; the
  // path's slashes where the router ignores duplicate ones), and the lines are domains × paths, each
  // as long as its domain and path: unbounded, an 8 KB Host of one-letter labels made 32,000 lines
  // (132 MB) in one answer. A DNS name has at most 253 characters (RFC 1035 §2.3.4); beyond that, or
  // a path longer than `MAX_STRAY_PATH` or with more than `MAX_STRAY_PATHS` prefixes, no browser
  // sent it: only the host-only expiry, as before. Within those, the lines stop at `MAX_STRAY_BYTES`.
  const hostname = request.hostname;
  if (hostname.length > MAX_DNS_NAME + 1) return [];
  const host = hostname.toLowerCase();
  if (host.includes(':') || /^[\d.]+$/.test(host)) return [];
  const labels = host.split('.').filter((label) => label !== '');
  const name = labels.join('.');
  if (name.length > MAX_DNS_NAME) return [];
  // The parents nearest the root first (`example.com`, `team.example.com`, …: any sibling of the site
  // can set those), at most `MAX_STRAY_DOMAINS`, then the host (only itself and its own subdomains
  // can set that one).
  const domains: string[] = [];
  for (let i = labels.length - 2; i >= Math.max(1, labels.length - 1 - MAX_STRAY_DOMAINS); i--) domains.push(labels.slice(i).join('.'));
  domains.push(name);
  const path = request.url.split('?', 1)[0] as string;
  if (path.length > MAX_STRAY_PATH) return [];
  const paths = ['/'];
  for (let slash = path.indexOf('/', 1); slash !== -1; slash = path.indexOf('/', slash + 1)) paths.push(path.slice(0, slash), path.slice(0, slash + 1));
  if (path !== '/' && !path.endsWith('/')) paths.push(path);
  if (paths.length > MAX_STRAY_PATHS) return [];
  const cookiePaths = paths.filter((p) => /^\/[\u0021-\u003A\u003C-\u007E]*$/.test(p));
  // In that order, each domain's lines whole, then its `Partitioned` lines whole, while they fit in
  // `MAX_STRAY_BYTES`: a longer header block made the shipped nginx (4 KB by default) answer 502
  // instead of the refusal. The answer keeps the order farthest from the root first.
  const kept: string[][] = [];
  let bytes = 0;
  for (const domain of domains) {
    if (!DOMAIN_NAME.test(domain)) continue;
    const ofDomain: string[] = [];
    for (const partitioned of [false, true]) {
      const lines = cookiePaths.map((p) => strayLine(domain, p, partitioned));
      bytes += lines.reduce((sum, line) => sum + line.length + SET_COOKIE_OVERHEAD, 0);
      if (bytes > MAX_STRAY_BYTES) break;
      ofDomain.push(...lines);
    }
    if (ofDomain.length > 0) kept.unshift(ofDomain);
    if (bytes > MAX_STRAY_BYTES) break;
  }
  return kept.flat();
}

/**
 * What a browser needs to delete the cookie of that name, domain, path (and partition), and no more:
 * `Max-Age=0` deletes in every current browser (no `Expires` needed), `Secure` because these are
 * sent only with `Secure` cookies and a browser may refuse a non-`Secure` line for a `Secure` cookie
 * (and refuses a `Partitioned` one without it); `HttpOnly` and `SameSite` play no part in which
 * cookie a line replaces (RFC 6265 §5.3 step 11). The app's own host-only expiry keeps its full
 * attributes.
 */
const strayLine = (domain: string, path: string, partitioned: boolean) => `${REFRESH_COOKIE}=; Max-Age=0; Domain=${domain}; Path=${path}; Secure${partitioned ? '; Partitioned' : ''}`;
