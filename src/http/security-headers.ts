/**
 * Response headers that protect what the plugin serves, fixed at start-up (no per-request merging).
 *
 * Pages rendered through `view()` carry user-specific state and a CSRF token, and their buttons run
 * actions — a payment among them. CSRF tokens do not stop clickjacking: another site framing the page
 * under a decoy gets real clicks with the user's cookies. So pages refuse framing by other origins
 * (`frame-ancestors 'self'`, and `X-Frame-Options` for older browsers), pin `<base>`, forbid MIME
 * sniffing and any caching. The CSP holds only what cannot break an app — it names no script or
 * style source, so inline code and CDNs keep working; add a fuller policy through `pageHeaders`
 * (the defaults follow Phoenix's `put_secure_browser_headers`).
 *
 * Action answers carry a fresh CSRF token and component state: never stored by any cache, never
 * sniffed as anything but JSON.
 */
import type { FastifyReply } from 'fastify';

/** Headers of every page `view()` serves, unless the app overrides them (`pageHeaders`). */
export const DEFAULT_PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "base-uri 'self'; frame-ancestors 'self'",
  'x-frame-options': 'SAMEORIGIN',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'strict-origin-when-cross-origin',
  // The page holds this session's CSRF token and its components' state, so no cache may keep it —
  // not even the browser's: Back and Forward show a kept page without asking the server, `no-cache`
  // or not, so they would show state the session has moved past (a balance before the payment) and,
  // after signing out on a shared computer, a signed-in page to the next person.
  'cache-control': 'no-store',
});

/** Headers of every answer of the action route, successes and errors alike. */
export const ACTION_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
});

const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The page headers: the defaults with the app's changes (`false` drops a header), checked once.
 * @throws {TypeError} for a name or value that is not a valid header
 */
export function pageHeadersOf(overrides: Readonly<Record<string, string | false>> = {}): Readonly<Record<string, string>> {
  const headers: Record<string, string> = { ...DEFAULT_PAGE_HEADERS };
  for (const [rawName, value] of Object.entries(overrides)) {
    const name = rawName.toLowerCase();
    if (!HEADER_NAME_RE.test(name)) throw new TypeError(`pageHeaders: "${rawName}" is not a header name`);
    if (value === false) {
      delete headers[name];
      continue;
    }
    if (typeof value !== 'string' || /[\r\n\0]/.test(value)) throw new TypeError(`pageHeaders: the value of "${rawName}" must be a one-line string or false`);
    headers[name] = value;
  }
  const cacheControl = headers['cache-control'];
  if (cacheControl === undefined || sharedCacheable(cacheControl)) {
    throw new TypeError(
      `pageHeaders: cache-control must keep pages out of shared caches ("private, …" or "no-store", got ${cacheControl === undefined ? 'none' : `"${cacheControl}"`}): a page carries its session's cookie, CSRF token and state, which a CDN would hand to other visitors`,
    );
  }
  return Object.freeze(headers);
}

/**
 * Whether `cacheControl` lets a shared cache (a CDN, a proxy) keep the answer: neither `private` nor
 * `no-store` among its directives.
 */
function sharedCacheable(cacheControl: string): boolean {
  return !/(?:^|,)\s*(?:private|no-store)\s*(?:[,=]|$)/i.test(cacheControl);
}

/**
 * Sets the page headers on `reply`, each unless the app already set it for this request: a policy of
 * its own (a CSP with a nonce from `@fastify/helmet`'s onRequest hook) wins over the fixed one — but
 * never a `Cache-Control` that lets a shared cache keep the page (a hook setting it for every route).
 */
export function setPageHeaders(reply: FastifyReply, headers: Readonly<Record<string, string>>): FastifyReply {
  for (const name in headers) {
    const current = reply.getHeader(name);
    if (current === undefined || (name === 'cache-control' && sharedCacheable(String(current)))) reply.header(name, headers[name]);
  }
  return reply;
}
