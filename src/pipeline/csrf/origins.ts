/**
 * The second CSRF layer: where a request comes from, by the headers browsers set and pages cannot
 * forge (`Sec-Fetch-Site`, `Origin`). The app's origin comes from configuration, never from the
 * `Host` header, which anyone behind a proxy can choose.
 */

/** Why the request source was refused, or `null` when it may proceed to the token check. */
export type SourceRefusal = 'cross-site' | 'origin' | null;

/**
 * The serialised origin (`scheme://host[:port]`) of a configured value: lower-case scheme and host,
 * default port dropped, a bare trailing `/` allowed. Anything else (a path, a query, credentials,
 * `*`, `null`, a scheme other than http/https) is a configuration mistake and throws.
 */
export function normaliseOrigin(value: string): string {
  const text = value.trim();
  // `localhost:3000` parses as a URL of scheme `localhost:`: say the scheme is missing, with the fix.
  if (!text.includes('://') && /^[^\s/:]+:\d+$/.test(text)) {
    throw new TypeError(`CSRF origin "${value}" has no scheme: write it as scheme://host[:port], such as http://${text}`);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`CSRF origin "${value}" is not a URL origin such as https://app.example.com`);
  }
  const http = url.protocol === 'https:' || url.protocol === 'http:';
  const bare = url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '' && url.password === '';
  if (http && !bare) {
    // An address with a path (`APP_URL` copied into `appOrigin`): name the origin it meant.
    throw new TypeError(`CSRF origin "${value}" must be exactly scheme://host[:port], with no path, query or credentials: ${url.origin}`);
  }
  if (!http) throw new TypeError(`CSRF origin "${value}" must be exactly scheme://host[:port] (http or https)`);
  return url.origin;
}

/** The exact `Origin` header values trusted: the app's own origin and the configured extra ones. */
export function trustedOrigins(appOrigin: string, allowed: readonly string[]): ReadonlySet<string> {
  return new Set([appOrigin, ...allowed].map(normaliseOrigin));
}

/**
 * `Origin: null` with `Sec-Fetch-Site: same-origin` (one value): a POST of the app's own page under
 * `Referrer-Policy: no-referrer` (see `checkSource`), to be read as a request without `Origin` by every
 * origin check — the CSRF source check, CORS's `malicious_cors` and the auth API's origin refusal.
 */
export function isSameOriginNull(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  return headers.origin === 'null' && headers['sec-fetch-site'] === 'same-origin';
}

/** `cross-site` as one comma-separated value of the header, in any case, with optional spaces. */
const CROSS_SITE = /(?:^|,)[ \t]*cross-site[ \t]*(?:,|$)/i;

/**
 * Refuses `Sec-Fetch-Site: cross-site` (`same-origin`, `same-site`, `none` and absent pass), and an
 * `Origin` header that is present but not exactly one of `trusted` (`null`, look-alike hosts,
 * another scheme or port, a trailing slash, repeated headers all fail). A request without `Origin`
 * passes this layer: older browsers and non-browser clients still need a valid token.
 * `Origin: null` with `Sec-Fetch-Site: same-origin` (one value) passes as if absent: a page under
 * `Referrer-Policy: no-referrer` (`@fastify/helmet`'s default) makes the browser write its POSTs'
 * origin as `null`, and the browser sets `Sec-Fetch-Site`, which a page cannot forge: an opaque origin
 * (a sandboxed frame, a `data:` page) or a redirect through another site is `cross-site`. The token decides.
 */
export function checkSource(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  trusted: ReadonlySet<string>,
): SourceRefusal {
  const site = headers['sec-fetch-site'];
  // A repeated header reaches us joined with ", " (Node): any of its values being cross-site refuses.
  if (site !== undefined && CROSS_SITE.test(typeof site === 'string' ? site : site.join(','))) return 'cross-site';
  const origin = headers.origin;
  if (origin === undefined || isSameOriginNull(headers)) return null;
  return typeof origin !== 'string' || !trusted.has(origin) ? 'origin' : null;
}
