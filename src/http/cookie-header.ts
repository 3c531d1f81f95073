/**
 * Cookies read from the `Cookie` header and written as `Set-Cookie` headers of the reply by hand,
 * not through `@fastify/cookie`, for the framework's own cookies (the session cookie, the auth
 * module's): an app's own registration of that plugin (before or after ours, with `hook: false`, a
 * `parseOptions.decode`/`encode`, or default attributes — `domain`, `signed`, `partitioned`,
 * `priority`, `expires` — that it applies to every `setCookie`) must not change or break them, and a
 * reply the route `hijack()`s, whose headers it writes itself from `reply.getHeaders()`, must carry
 * them (`@fastify/cookie` writes its cookies in an `onSend` hook, which a hijacked reply never runs).
 */
import type { FastifyReply } from 'fastify';

/**
 * The value of the first cookie named `name` in a `Cookie` header (RFC 6265 §5.4: `name=value`
 * pairs joined by `;`), or `undefined`. As the `cookie` package reads it, without the other names'
 * work: the name and value trimmed of spaces and tabs, one pair of double quotes around the value
 * taken off. No percent-decoding: a session id has no `%`, and a value with one fails its check.
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  // Index arithmetic, no substring per pair: this runs on every action.
  let start = 0;
  while (start < header.length) {
    const semicolon = header.indexOf(';', start);
    const end = semicolon === -1 ? header.length : semicolon;
    const value = valueAt(header, name, start, end);
    if (value !== undefined) return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
    start = end + 1;
  }
  return undefined;
}

/**
 * The values of every cookie named `name` in a `Cookie` header, in the header's order, as sent:
 * trimmed of spaces and tabs, quotes and percent-escapes left as they are. A browser sends two
 * cookies of one name when they differ in domain or path (a sibling subdomain's, set for the whole
 * site, and the host's own): a reader that keeps the first alone cannot see that.
 */
export function cookieValues(header: string | undefined, name: string): string[] {
  const values: string[] = [];
  if (header === undefined) return values;
  let start = 0;
  while (start < header.length) {
    const semicolon = header.indexOf(';', start);
    const end = semicolon === -1 ? header.length : semicolon;
    const value = valueAt(header, name, start, end);
    if (value !== undefined) values.push(value);
    start = end + 1;
  }
  return values;
}

/**
 * A value of `cookieValues` as the `cookie` package decodes it (`request.cookies` of
 * `@fastify/cookie` without a `decode` of the app's): percent-escapes decoded when there is one, the
 * value as sent when it has none or a malformed one; quotes kept.
 */
export function decodeCookieValue(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * A value for a `Set-Cookie` line as the `cookie` package encodes it by default: percent-encoded when
 * it holds a character a cookie value may not (RFC 6265 `cookie-octet`), else as it is. A random token
 * (base64url) has none.
 */
export function encodeCookieValue(value: string): string {
  return /[\u0000-\u0020\u007F-\uFFFF",;\\%]/.test(value) ? encodeURIComponent(value) : value;
}

/** The trimmed value of the pair in `header[start, end)` when its name is `name`, else `undefined`. */
function valueAt(header: string, name: string, start: number, end: number): string | undefined {
  const at = skipSpaces(header, start, end);
  if (!header.startsWith(name, at)) return undefined;
  const equals = skipSpaces(header, at + name.length, end);
  if (equals >= end || header.charCodeAt(equals) !== EQUALS) return undefined;
  return header.slice(equals + 1, end).trim();
}

const EQUALS = 0x3d;

/** The first index from `from` (below `end`) that is not a space or a tab. */
function skipSpaces(text: string, from: number, end: number): number {
  let i = from;
  while (i < end && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x09)) i++;
  return i;
}

/**
 * Adds `lines` to the reply's `Set-Cookie` header, keeping the other cookies set on it (the app's,
 * the other modules') and replacing those of the same name set earlier in this request (a page
 * view's new session, then `switchUser`'s): a browser keeps the last, and one line per cookie is
 * clearer.
 */
export function putSetCookie(reply: FastifyReply, name: string, ...lines: string[]): void {
  const previous = reply.getHeader('set-cookie');
  if (previous === undefined) {
    reply.header('set-cookie', lines.length === 1 ? lines[0] : lines);
    return;
  }
  const prefix = `${name}=`;
  const kept = (Array.isArray(previous) ? previous : [String(previous)]).filter((cookie) => !cookie.startsWith(prefix));
  // `reply.header('set-cookie', …)` appends to what is there: removed first, then set whole.
  reply.removeHeader('set-cookie');
  reply.header('set-cookie', [...kept, ...lines]);
}
