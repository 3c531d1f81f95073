/**
 * The session cookie (PROTOCOL §2): `__Host-lc_session` when `Secure`, `lc_session` over plain HTTP.
 *
 * Read from the `Cookie` header and written as a `Set-Cookie` header of the reply by this module
 * alone, not through `@fastify/cookie`: an app's own registration of that plugin (registered after
 * ours, with `hook: false`, with a `parseOptions.decode` or a default `domain` of its own) must not
 * change or break the session, and a reply the route `hijack()`s, whose headers it writes itself
 * from `reply.getHeaders()`, must carry the cookie (`@fastify/cookie` writes its cookies in an
 * `onSend` hook, which a hijacked reply never runs).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SESSION_COOKIE } from '../core/wire.js';
import type { Session } from '../session/types.js';

export interface SessionCookie {
  readonly name: string;
  read(request: FastifyRequest): string | undefined;
  write(reply: FastifyReply, session: Session): void;
  clear(reply: FastifyReply): void;
}

export function createSessionCookie(secure: boolean): SessionCookie {
  const name = secure ? SESSION_COOKIE.secure : SESSION_COOKIE.plain;
  // The attributes in @fastify/cookie's order, as the cookie was written before. A session id is
  // base64url (the runtime's own, never request data): nothing in it to encode.
  const attributes = `; Path=/; HttpOnly${secure ? '; Secure' : ''}; SameSite=Lax`;
  const cleared = `${name}=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly${secure ? '; Secure' : ''}; SameSite=Lax`;
  return {
    name,
    read: (request) => cookieValue(request.headers.cookie, name),
    write: (reply, session) => putSetCookie(reply, name, `${name}=${session.id}${attributes}`),
    clear: (reply) => putSetCookie(reply, name, cleared),
  };
}

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
    const at = skipSpaces(header, start, end);
    if (header.startsWith(name, at)) {
      const equals = skipSpaces(header, at + name.length, end);
      if (equals < end && header.charCodeAt(equals) === EQUALS) {
        const value = header.slice(equals + 1, end).trim();
        return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
      }
    }
    start = end + 1;
  }
  return undefined;
}

const EQUALS = 0x3d;

/** The first index from `from` (below `end`) that is not a space or a tab. */
function skipSpaces(text: string, from: number, end: number): number {
  let i = from;
  while (i < end && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x09)) i++;
  return i;
}

/**
 * Adds `line` to the reply's `Set-Cookie` header, keeping the other cookies set on it (the app's,
 * the auth module's) and replacing one of the same name set earlier in this request (a page view's
 * new session, then `switchUser`'s): a browser keeps the last, and one line per cookie is clearer.
 */
function putSetCookie(reply: FastifyReply, name: string, line: string): void {
  const previous = reply.getHeader('set-cookie');
  if (previous === undefined) {
    reply.header('set-cookie', line);
    return;
  }
  const prefix = `${name}=`;
  const kept = (Array.isArray(previous) ? previous : [String(previous)]).filter((cookie) => !cookie.startsWith(prefix));
  // `reply.header('set-cookie', …)` appends to what is there: removed first, then set whole.
  reply.removeHeader('set-cookie');
  reply.header('set-cookie', [...kept, line]);
}
