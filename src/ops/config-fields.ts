/**
 * Parsers for single environment variables, used by the schema in `config.ts`. Each takes the
 * trimmed, non-empty text and returns the value or throws an Error whose message reads well after
 * `VARIABLE: `. Messages quote a value only when it cannot be a secret and cannot hold a password.
 */
import { isIP } from 'node:net';
import { MAX_TIMER_MS } from '../core/deadline.js';
import { MAX_LIFETIME_MINUTES, MAX_LIFETIME_TEXT } from '../pipeline/options.js';
import { redisDatabaseOf } from '../store/redis/connection.js';
import { MAX_RATE_LIMIT } from '../store/checks.js';

/** Minimum bytes of `LC_SESSION_SECRET` (and of the tokens in production). */
export const MIN_SECRET_BYTES = 32;

const DIGITS = /^\d+$/;

/** A TCP port, 0 to 65535 (0 asks the system for a free one). */
export function port(text: string): number {
  const n = Number(text);
  if (!DIGITS.test(text) || n > 65_535) throw new Error(`must be a port number from 0 to 65535 (got "${text}")`);
  return n;
}

/** RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens. */
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** The address to listen on: an IP address or a host name, as `listen({ host })` takes it. */
export function listenHost(text: string): string {
  if (isIP(text) !== 0) return text;
  // Digits and dots are an IPv4 address to the resolver, never a name: `256.1.1.1` passed as a host
  // name here and stopped start-up with `getaddrinfo ENOTFOUND`.
  if (/^[\d.]+$/.test(text)) throw new Error(`"${text}" is not an IPv4 address: four numbers from 0 to 255, such as 127.0.0.1 or 0.0.0.0`);
  if (HOST_NAME.test(text)) return text;
  throw new Error(`must be an IP address or a host name without scheme, port or brackets, such as 0.0.0.0, :: or localhost (got "${text}")`);
}

/** A whole number of at least `min`. */
export function wholeNumber(min: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!DIGITS.test(text) || !Number.isSafeInteger(n) || n < min) {
      throw new Error(`must be a whole number of at least ${min} (got "${text}")`);
    }
    return n;
  };
}

/** The most minutes a timer can wait (35791, about 24.8 days). */
export const MAX_TIMER_MINUTES = Math.floor(MAX_TIMER_MS / 60_000);

/** Minutes that end up as a timer's delay: 0 (off) up to `MAX_TIMER_MINUTES`. */
export function timerMinutes(text: string): number {
  const n = wholeNumber(0)(text);
  if (n > MAX_TIMER_MINUTES) {
    throw new Error(`must be at most ${MAX_TIMER_MINUTES} minutes (about 24 days), the longest a Node.js timer can wait (got "${text}")`);
  }
  return n;
}

/**
 * Minutes of a lifetime (a token, a session): 1 up to `MAX_LIFETIME_MINUTES` (100 years). Without
 * the bound, `SANCTUM_REFRESH_TOKEN_EXPIRATION=9007199254740991` started and failed every sign-in.
 */
export function lifetimeMinutes(text: string): number {
  const n = wholeNumber(1)(text);
  if (n > MAX_LIFETIME_MINUTES) throw new Error(`must be at most ${MAX_LIFETIME_TEXT}, the longest a token or session may live (got "${text}")`);
  return n;
}

/**
 * A rate-limit count that may be turned off: 0 (off) up to `MAX_RATE_LIMIT` (2^31 − 1), the largest
 * limit every store takes (a larger one started and then failed each limited request).
 */
export function limitOrOff(text: string): number {
  const n = wholeNumber(0)(text);
  if (n > MAX_RATE_LIMIT) throw new Error(`must be at most ${MAX_RATE_LIMIT} (got "${text}")`);
  return n;
}

/** Exactly one of `values` (case-sensitive, as the ecosystem spells them). */
export function oneOf<const T extends string>(values: readonly T[]): (text: string) => T {
  return (text) => {
    if (!(values as readonly string[]).includes(text)) {
      throw new Error(`must be one of ${values.join(', ')} (got "${text}")`);
    }
    return text as T;
  };
}

const YES = ['true', '1', 'yes', 'on'];
const NO = ['false', '0', 'no', 'off'];

/** `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off`, any case. */
export function yesNo(text: string): boolean {
  const t = text.toLowerCase();
  if (YES.includes(t)) return true;
  if (NO.includes(t)) return false;
  throw new Error(`must be true or false (got "${text}")`);
}

/**
 * A URL as messages may show it: scheme, host, port and path, without the user name, password,
 * query and fragment (where tokens such as `?api_key=` travel). Text that does not parse as a URL
 * loses everything up to its last `@` (where a `user:password@` would end) and everything from
 * its first `?` or `#`, so a mistyped URL is still recognisable without its secrets. Every
 * message that quotes a URL-like value goes through here.
 * @example urlForMessage('https://admin:pw@app.example.com/x?key=1') // 'https://app.example.com/x'
 */
export function urlForMessage(text: string): string {
  try {
    const url = new URL(text);
    return `${url.protocol}${url.host ? `//${url.host}` : ''}${url.pathname === '/' ? '' : url.pathname}`;
  } catch {
    const at = text.lastIndexOf('@');
    const rest = (at === -1 ? text : text.slice(at + 1)).split(/[?#]/)[0] as string;
    return at === -1 ? rest : `…@${rest}`;
  }
}

/** An http(s) URL without credentials, such as `APP_URL`. */
export function httpUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`"${urlForMessage(text)}" is not a URL such as https://app.example.com`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('must start with https:// (or http:// in development)');
  if (url.username || url.password) throw new Error('must not contain a user name or password');
  return text;
}

/** A URL whose scheme is one of `schemes`. The text is never quoted: it may hold a password. */
export function schemeUrl(schemes: readonly string[], example: string): (text: string) => string {
  return (text) => {
    let url: URL | undefined;
    try {
      url = new URL(text);
    } catch {
      // reported below
    }
    if (!url || !schemes.includes(url.protocol) || url.hostname === '') throw new Error(`must be a URL such as ${example}`);
    return text;
  };
}

/**
 * `REDIS_URL`: one `redis://`/`rediss://` URL, or several separated by commas — the seed nodes of
 * a Redis Cluster.
 */
export function redisUrls(text: string): string {
  const one = schemeUrl(['redis:', 'rediss:'], 'redis://host:6379 or rediss://…');
  const entries = text.split(',').map((s) => s.trim());
  if (entries.some((e) => e === '')) throw new Error('has an empty entry; give redis://host:port, or several comma-separated for a Cluster');
  for (const entry of entries) {
    one(entry);
    const url = new URL(entry);
    // Port 0 parses, but no Redis listens on it: start-up and the doctor only failed on connecting.
    if (url.port === '0') throw new Error('has port 0; give the port Redis listens on, such as redis://host:6379');
    redisCredentialsOf(url);
    const db = redisDatabaseOf(url);
    // A Cluster has database 0 only: a number given for it would be ignored, sharing keys silently.
    if (db !== 0 && entries.length > 1) throw new Error('names a database, but a Redis Cluster has only database 0; separate apps with REDIS_KEY_PREFIX');
  }
  return entries.join(',');
}

/**
 * The user name and password of a `redis://` URL, percent-decoded as ioredis decodes them. A `%`
 * that does not start a percent-encoded byte (`%25` is a literal `%`) would make ioredis throw a
 * bare `URIError: URI malformed` at start-up; it is refused here with a message that quotes
 * neither part. Used by the configuration, `createRedisStore` and a Cluster's `REDIS_URL`.
 */
export function redisCredentialsOf(url: URL): { username: string; password: string } {
  return { username: decodeCredential(url.username, 'user name'), password: decodeCredential(url.password, 'password') };
}

function decodeCredential(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new Error(`has a ${what} with a "%" that is not percent-encoded (write a literal "%" as %25)`);
  }
}

/** Prepended to every Redis key of the app: printable, no spaces, and no `{`/`}` (Cluster hash tags). */
export function redisKeyPrefix(text: string): string {
  if (!/^[\x21-\x7e]{1,64}$/.test(text) || /[{}]/.test(text)) {
    throw new Error('must be 1 to 64 printable characters without spaces, "{" or "}", such as shop: (got an invalid value)');
  }
  return text;
}

/**
 * A comma-separated list of exact origins (`scheme://host[:port]`), normalized as browsers send
 * them (lower-case host, default port dropped). `*`, `null`, paths and wildcards are refused:
 * credentialed CORS needs exact origins.
 */
export function origins(text: string): string[] {
  const entries = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (entries.length === 0) throw new Error('lists no origin; give exact origins such as https://app.example.com');
  return entries.map((entry) => {
    if (entry === '*') throw new Error('`*` is not allowed: credentials are sent, so list exact origins such as https://app.example.com');
    const shown = urlForMessage(entry);
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new Error(`"${shown}" is not an origin such as https://app.example.com`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`"${shown}" must start with https:// or http://`);
    if (url.hostname.includes('*')) throw new Error(`"${shown}" has a wildcard; list each origin exactly`);
    if (url.pathname !== '/' || url.search || url.hash || url.username || url.password || entry.endsWith('?') || entry.endsWith('#')) {
      throw new Error(`"${shown}" is not an exact origin: drop the path, query or credentials (use ${url.origin})`);
    }
    return url.origin;
  });
}

/** Named ranges that Fastify's `trustProxy` (proxy-addr) understands. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** `false`/`0`, `true`, a hop count, or comma-separated addresses, CIDR ranges or range names. */
export function trustProxy(text: string): boolean | number | string[] {
  const t = text.toLowerCase();
  if (t === 'false' || t === '0') return false;
  if (t === 'true') return true;
  if (DIGITS.test(t)) return Number(t);
  const entries = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  // An empty list trusts no proxy, yet would count as set for BEHIND_PROXY: refuse it, as origins() does.
  if (entries.length === 0) throw new Error('lists no address; give false, true, a hop count, or proxy addresses such as 10.0.0.0/8 or loopback');
  return entries.map((entry) => {
    if (PROXY_RANGE_NAMES.includes(entry) || isAddressOrCidr(entry)) return entry;
    throw new Error(`"${entry}" is not false, true, a hop count, an IP address, a CIDR range or one of ${PROXY_RANGE_NAMES.join(', ')}`);
  });
}

function isAddressOrCidr(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  // From /1: proxy-addr (Fastify's trustProxy) refuses a /0 at start-up ("invalid range on address"),
  // and a range of every address is TRUST_PROXY=true.
  return DIGITS.test(prefix) && Number(prefix) >= 1 && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** A token sent as `Authorization: Bearer <token>`: no white space. The value is never quoted. */
/** Shortest bearer token accepted in any environment (the health and metrics routes refuse shorter). */
export const MIN_BEARER_TOKEN_LENGTH = 16;

export function bearerToken(text: string): string {
  if (/\s/.test(text)) throw new Error('must not contain white space: it is sent as `Authorization: Bearer <token>`');
  if (text.length < MIN_BEARER_TOKEN_LENGTH) throw new Error(`must be at least ${MIN_BEARER_TOKEN_LENGTH} characters`);
  return text;
}

/**
 * A secret of at least `MIN_SECRET_BYTES` UTF-8 bytes. `createLiveComponents` uses the base64
 * decoding when it gives 32 bytes or more, else the text's bytes; either way the text is at least
 * 32 bytes long, so that is what is checked. The value is never quoted.
 */
export function secretText(text: string): string {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes < MIN_SECRET_BYTES) {
    throw new Error(
      `too short (${bytes} bytes; at least ${MIN_SECRET_BYTES} are needed); \`npx livecomponents keygen\` prints one`,
    );
  }
  return text;
}

/**
 * `LC_SESSION_SECRET_FALLBACKS`: comma-separated secrets, each at least `MIN_SECRET_BYTES` UTF-8
 * bytes as `secretText` checks it (a text secret holding a comma goes in as its base64). Surrounding
 * white space is dropped; an empty entry is refused. No value is ever quoted.
 */
export function secretList(text: string): string[] {
  const entries = text.split(',').map((entry) => entry.trim());
  return entries.map((entry, index) => {
    if (entry === '') throw new Error(`entry at index ${index} is empty (a stray comma?)`);
    const bytes = Buffer.byteLength(entry, 'utf8');
    if (bytes < MIN_SECRET_BYTES) throw new Error(`entry at index ${index} is too short (${bytes} bytes; at least ${MIN_SECRET_BYTES} are needed)`);
    return entry;
  });
}

/** Words that mark a secret copied from an example rather than generated (six letters or more, so random text almost never contains one). */
const PLACEHOLDER_WORDS = ['changeme', 'change-me', 'change_me', 'secret', 'password', 'passwd', 'example', 'placeholder', 'default', 'replace', 'insecure', 'letmein', 'qwerty'];

/** Why `text` looks like a placeholder, or undefined. Never quotes the text. */
export function placeholderReason(text: string): string | undefined {
  const lower = text.toLowerCase();
  return PLACEHOLDER_WORDS.some((w) => lower.includes(w)) ? 'it looks like a placeholder such as "changeme" or "secret"' : undefined;
}

/**
 * Why `bytes` cannot be random, or undefined: one value repeated, a short pattern repeated, or
 * fewer than `minDistinct` distinct values (32 random bytes have about 30; base64 text of them about 32).
 */
export function lowEntropyReason(bytes: Uint8Array, minDistinct: number): string | undefined {
  const distinct = new Set(bytes).size;
  if (distinct <= 1) return 'one value repeated';
  if (repeatsShortPattern(bytes)) return 'a short pattern repeated';
  if (distinct < minDistinct) return 'too few distinct characters';
  return undefined;
}

/** True when some prefix of at most half the length, repeated, makes up the whole sequence. */
function repeatsShortPattern(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 512);
  for (let p = 1; p <= n / 2; p++) {
    let i = p;
    while (i < n && bytes[i] === bytes[i - p]) i++;
    if (i === n) return true;
  }
  return false;
}

/** `atext` of RFC 5322 (letters, digits and `!#$%&'*+/=?^_\`{|}~-`), in dot-separated runs. */
const DOT_ATOM = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/i;
/** A display name without quotes: no character that would start a second address, a comment or a group. */
const PLAIN_NAME = /^[^"(),:;<>@[\\\]]+$/;
/** A quoted display name: anything but a quote or a backslash inside. */
const QUOTED_NAME = /^"([^"\\]*)"$/;

/** One sender address, split: the display name (if any) and `local@domain`. */
export interface Mailbox {
  readonly name: string | undefined;
  readonly address: string;
}

/**
 * One mailbox, `Name <local@domain>` or a bare `local@domain` (the `MAIL_FROM` syntax). Refused:
 * control characters (CR/LF would inject headers), a second address, a group, a comment, a quoted
 * local part, a domain that is not a host name (write an international one in punycode, `xn--…`).
 * @example parseMailbox('Shop <no-reply@shop.example>') // { name: 'Shop', address: 'no-reply@shop.example' }
 */
export function parseMailbox(text: string): Mailbox {
  if (/[\u0000-\u001f\u007f]/.test(text)) throw new Error('must be one line: control characters such as CR or LF are refused');
  const angled = /^(.*?)\s*<([^<>]*)>$/s.exec(text.trim());
  const address = (angled ? (angled[2] as string) : text).trim();
  const at = address.lastIndexOf('@');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (at < 1 || local.length > 64 || !DOT_ATOM.test(local) || !HOST_NAME.test(domain)) {
    throw new Error('must be one address such as no-reply@app.example.com or App <no-reply@app.example.com>');
  }
  return { name: angled ? displayName(angled[1] as string) : undefined, address };
}

function displayName(text: string): string | undefined {
  if (text === '') return undefined;
  const quoted = QUOTED_NAME.exec(text);
  if (quoted) return quoted[1];
  if (PLAIN_NAME.test(text)) return text;
  throw new Error('has a display name with a character that needs quoting (, ; : @ < > ( ) [ ] \\); write it in double quotes, without " or \\ inside');
}

/** `MAIL_FROM`: checked by `parseMailbox`, kept as text. */
export function mailbox(text: string): string {
  parseMailbox(text);
  return text;
}

/** `localhost`, an address of 127.0.0.0/8, or `::1` (brackets and a final dot allowed). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/**
 * How an `SMTP_URL` protects the relay password and the reset links on the wire:
 * - `tls`: `smtps://`, TLS from the first byte;
 * - `starttls`: `smtp://` to a remote host, STARTTLS required (a relay, or a man in the middle,
 *   that does not offer it gets nothing: no AUTH, no message);
 * - `loopback`: `smtp://` to this machine (a local relay or a development mail catcher): STARTTLS
 *   when offered, plain text otherwise;
 * - `opted-out`: to a remote host, `smtp://` with `?requireTLS=false`, or either scheme with
 *   `?tls.rejectUnauthorized=false` (a certificate nobody checks stops no man in the middle).
 */
export type SmtpSecurity = 'tls' | 'starttls' | 'loopback' | 'opted-out';

/** The `SmtpSecurity` of a URL that `schemeUrl(['smtp:', 'smtps:'])` accepted. */
export function smtpSecurityOf(url: URL): SmtpSecurity {
  const smtps = url.protocol === 'smtps:';
  if (isLoopbackHost(url.hostname)) return smtps ? 'tls' : 'loopback';
  if (url.searchParams.get('tls.rejectUnauthorized') === 'false') return 'opted-out';
  if (smtps) return 'tls';
  return url.searchParams.get('requireTLS') === 'false' ? 'opted-out' : 'starttls';
}
