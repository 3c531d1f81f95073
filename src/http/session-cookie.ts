/** The session cookie (PROTOCOL §2): `__Host-lc_session` when `Secure`, `lc_session` over plain HTTP. */
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
  const attributes = { httpOnly: true, sameSite: 'lax', path: '/', secure } as const;
  return {
    name,
    read: (request) => request.cookies[name],
    write: (reply, session) => void reply.setCookie(name, session.id, attributes),
    clear: (reply) => void reply.clearCookie(name, attributes),
  };
}
