/**
 * The not-found handler an app (and the metrics server) installs: 405 `METHOD_NOT_ALLOWED` with an
 * `Allow` header when the path has routes for other methods only (RFC 9110 §15.5.6), else 404
 * `NOT_FOUND`; both in PROTOCOL §3's shape. Fastify alone answers 404 for both. The action route's
 * 405 keeps that route's `ACTION_HEADERS` (no-store, nosniff).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { LiveError } from '../core/errors.js';
import { ROUTES } from '../core/wire.js';
import { sendError } from './error-mapping.js';
import { ACTION_HEADERS } from './security-headers.js';

/**
 * The methods an app's routes may have, probed here. Not OPTIONS: a CORS plugin answers preflights on
 * every path (`OPTIONS *`), which would make every unknown path look like it exists.
 */
export const ROUTED_METHODS: readonly HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * Headers a path's routes promise on every answer, kept on its 405 too: that answer comes from here
 * (the app's not-found handler, at the root), out of reach of the route's own context and hooks.
 */
const PATH_HEADERS: ReadonlyMap<string, Readonly<Record<string, string>>> = new Map([[ROUTES.action, ACTION_HEADERS]]);

export function notFoundHandler(app: FastifyInstance): (request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  return (request, reply) => {
    const query = request.url.indexOf('?');
    const url = query === -1 ? request.url : request.url.slice(0, query);
    const allowed = ROUTED_METHODS.filter((method) => app.findRoute({ method, url }) !== null);
    // A route of this very method matched and its handler found nothing (`reply.callNotFound()`: a
    // static files plugin's wildcard route for a missing file): 404, not a 405 whose Allow names the
    // method the client used.
    if (allowed.length === 0 || allowed.includes(request.method as HTTPMethods)) return sendError(new LiveError('NOT_FOUND'), request, reply);
    const headers = PATH_HEADERS.get(url);
    return sendError(new LiveError('METHOD_NOT_ALLOWED', { headers: { allow: allowed.join(', ') } }), request, headers === undefined ? reply : reply.headers(headers));
  };
}
