/**
 * The not-found handler an app (and the metrics server) installs: 405 `METHOD_NOT_ALLOWED` with an
 * `Allow` header when the path has routes for other methods (RFC 9110 §15.5.6), else 404
 * `NOT_FOUND`; both in PROTOCOL §3's shape. Fastify alone answers 404 for both.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { LiveError } from '../core/errors.js';
import { sendError } from './error-mapping.js';

/**
 * The methods an app's routes may have, probed here. Not OPTIONS: a CORS plugin answers preflights on
 * every path (`OPTIONS *`), which would make every unknown path look like it exists.
 */
export const ROUTED_METHODS: readonly HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

export function notFoundHandler(app: FastifyInstance): (request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  return (request, reply) => {
    const query = request.url.indexOf('?');
    const url = query === -1 ? request.url : request.url.slice(0, query);
    const allowed = ROUTED_METHODS.filter((method) => app.findRoute({ method, url }) !== null);
    const error = allowed.length === 0 ? new LiveError('NOT_FOUND') : new LiveError('METHOD_NOT_ALLOWED', { headers: { allow: allowed.join(', ') } });
    return sendError(error, request, reply);
  };
}
