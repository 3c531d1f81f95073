/**
 * The `Host` check of `/metrics`, against DNS rebinding: a page of `evil.example` that a browser
 * loaded, its name then re-pointed to 127.0.0.1 (or to any address the browser can reach), may read
 * `http://evil.example:9464/metrics` as a same-origin resource — no CORS, no token needed when the
 * route has none. The browser still sends `Host: evil.example:9464`, and that is what is refused.
 *
 * Only a host *name* can be rebound: an IP literal involves no DNS, and `localhost` (RFC 6761) is
 * not handed to DNS by browsers and can be registered by no one. So these always pass; other names
 * pass only when listed (`allowedHosts`, `METRICS_ALLOWED_HOSTS`). Which requests are checked:
 *
 * - `allowedHosts` given (even empty): every request, whatever address it reached;
 * - else, with no token on the route: requests that reached a loopback address (127.0.0.0/8, ::1)
 *   — the development default (`HOST=127.0.0.1`), where a scraper on this machine names
 *   127.0.0.1 or localhost, and a remote Prometheus (a service name, `app1:9464`) is never
 *   refused, since it reaches another address;
 * - else (a token is required): none — a rebound page does not have the token.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { InvalidOptionError } from '../health/options-error.js';

/** Names that always pass, besides IP literals. */
const ALWAYS = 'localhost';

/** A DNS name: labels of letters, digits, `_` (compose service names) and inner hyphens; one trailing dot. */
const NAME_RE = /^(?=.{1,253}\.?$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

/** What may follow the host in `Host`: `:` and a port (RFC 3986 allows an empty one). */
const PORT_RE = /^:\d{0,5}$/;

/** The same name in one spelling: lower case (names are case-insensitive), without the root's trailing dot. */
function canonicalName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * One entry of an allowed-host list in its canonical spelling, or an Error saying what is wrong.
 * @example allowedHostName('App1.') // 'app1'
 */
export function allowedHostName(entry: string): string {
  if (entry.includes(':') || entry.includes('/')) throw new Error(`"${entry}" must be a host name alone, without scheme or port: any port of a listed name passes`);
  if (!NAME_RE.test(entry)) throw new Error(`"${entry}" is not a host name (letters, digits, hyphens, underscores and dots)`);
  return canonicalName(entry);
}

/**
 * `METRICS_ALLOWED_HOSTS`: comma-separated host names, white space around each ignored.
 * @example allowedHostList('app1, app2') // ['app1', 'app2']
 */
export function allowedHostList(text: string): string[] {
  const entries = text.split(',').map((s) => s.trim());
  if (entries.some((e) => e === '')) throw new Error('has an empty entry: list host names separated by single commas, such as app1,app2');
  return [...new Set(entries.map(allowedHostName))];
}

/** A `readonly string[]` of host names for `registerMetricsRoute`'s `allowedHosts`, canonical. */
export function checkAllowedHosts(where: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new InvalidOptionError(where, 'allowedHosts must be an array of host names');
  try {
    return [...new Set(value.map(allowedHostName))];
  } catch (error) {
    throw new InvalidOptionError(where, `allowedHosts: ${(error as Error).message}`);
  }
}

/** Whether `address` (a socket's local address) is a loopback one: 127.0.0.0/8, ::1, or 127.x mapped to IPv6. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  if (address === '::1') return true;
  const v4 = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address;
  return isIPv4(v4) && v4.startsWith('127.');
}

/**
 * Whether the `Host` value names an IP literal (with or without a port), `localhost` or one of `names`
 * (canonical). Missing, empty, or unreadable: no.
 */
export function hostAllowed(host: string | undefined, names: ReadonlySet<string>): boolean {
  if (host === undefined || host === '') return false;
  const bracketed = host.startsWith('[');
  const end = bracketed ? host.indexOf(']') + 1 : host.includes(':') ? host.indexOf(':') : host.length;
  if (end === 0) return false;
  const name = bracketed ? host.slice(1, end - 1) : host.slice(0, end);
  const port = host.slice(end);
  if (port !== '' && !PORT_RE.test(port)) return false;
  if (bracketed) return isIPv6(name);
  if (isIPv4(name)) return true;
  if (!NAME_RE.test(name)) return false;
  const canonical = canonicalName(name);
  return canonical === ALWAYS || names.has(canonical);
}

/**
 * The check of one route, built once: `null` when no request is checked, else a function telling
 * whether a request's `Host` is refused.
 */
export function hostCheck(allowedHosts: readonly string[] | undefined, tokenRequired: boolean): ((request: FastifyRequest) => boolean) | null {
  if (allowedHosts === undefined && tokenRequired) return null;
  const names = new Set(allowedHosts ?? []);
  const everywhere = allowedHosts !== undefined;
  return (request) => {
    // The socket's own address: a request that reached 127.0.0.1 came from this machine, whatever
    // address the server listens on (0.0.0.0 takes loopback connections too). Unknown (a Unix
    // socket, `inject`): not loopback.
    if (!everywhere && !isLoopbackAddress(request.raw.socket?.localAddress)) return false;
    return !hostAllowed(request.headers.host, names);
  };
}
