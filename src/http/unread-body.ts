/**
 * Answers given before a request's body is read (in `onRequest`: a refused source, a rate limit, a
 * media type no parser takes). Node then reads what is left of an unread body to its end on a
 * kept-alive connection, whatever the route's `bodyLimit` says: a cross-site `text/plain` post
 * announcing 64 MiB to the action route, and a foreign-Origin JSON post of 32 MiB to the auth API,
 * were read whole (probed over a socket, every byte accepted, `Connection: keep-alive`). So such an
 * answer closes the connection, as Fastify does after a parser error (413).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

/** `application/json`, with parameters or none: the one body type the action route and the auth API parse. */
export const JSON_MEDIA_TYPE = /^\s*application\/json\s*(?:;|$)/i;

/** Whether an HTTP/1 request announces a body (a length above 0, or chunks). HTTP/2 has no `Connection` header. */
export function bodyAnnounced(request: FastifyRequest): boolean {
  const { headers } = request;
  return request.raw.httpVersionMajor === 1 && (headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0'));
}

/** `Connection: close` on `reply` when `request` announces a body its answer leaves unread. */
export function closeIfBodyUnread(request: FastifyRequest, reply: FastifyReply): void {
  if (bodyAnnounced(request)) reply.header('connection', 'close');
}
