/**
 * The refresh-token cookie (PROTOCOL §4): `refresh_token`, `HttpOnly` (no script can read it),
 * `SameSite=Strict` (no other site can make the browser send it), `Secure` in production,
 * `Path=/api/v1/auth` (sent to the auth endpoints only), and `Max-Age` = what is left of the
 * token's life. The token never appears in a JSON body.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export const AUTH_PREFIX = '/api/v1/auth';
export const REFRESH_COOKIE = 'refresh_token';

export interface RefreshCookie {
  readonly name: string;
  read(request: FastifyRequest): string | undefined;
  write(reply: FastifyReply, token: string, maxAgeSeconds: number): void;
  /** Expires the cookie in the browser (`Max-Age=0`, an `Expires` in the past). */
  clear(reply: FastifyReply): void;
}

/** @param secure mark the cookie `Secure` (production). */
export function createRefreshCookie(secure: boolean): RefreshCookie {
  const attributes = { httpOnly: true, sameSite: 'strict', secure, path: AUTH_PREFIX } as const;
  return {
    name: REFRESH_COOKIE,
    read: (request) => request.cookies[REFRESH_COOKIE],
    write: (reply, token, maxAgeSeconds) => {
      // Checked here, in the route: the cookie is serialised later, in an onSend hook, where a
      // refusal bypassed the app's error handler (Fastify's own JSON, without code or request_id).
      if (!(Number.isSafeInteger(maxAgeSeconds) && maxAgeSeconds >= 0)) throw new TypeError(`refresh cookie: Max-Age must be a whole number of seconds, got ${maxAgeSeconds}`);
      reply.setCookie(REFRESH_COOKIE, token, { ...attributes, maxAge: maxAgeSeconds });
    },
    clear: (reply) => void reply.setCookie(REFRESH_COOKIE, '', { ...attributes, maxAge: 0, expires: new Date(0) }),
  };
}
