/**
 * The session cookie (PROTOCOL §2): `__Host-lc_session` when `Secure`, `lc_session` over plain HTTP.
 *
 * Read from the `Cookie` header and written as a `Set-Cookie` header of the reply by
 * cookie-header.ts, not through `@fastify/cookie`: an app's own registration of that plugin
 * (registered after ours, with `hook: false`, with a `parseOptions.decode` or a default `domain` of
 * its own) must not change or break the session, and a reply the route `hijack()`s, whose headers it
 * writes itself from `reply.getHeaders()`, must carry the cookie (`@fastify/cookie` writes its
 * cookies in an `onSend` hook, which a hijacked reply never runs).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SESSION_COOKIE } from '../core/wire.js';
import { cookieValue, putSetCookie } from './cookie-header.js';
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

/** The session cookie's reader (cookie-header.ts), where it was first exported. */
export { cookieValue };
