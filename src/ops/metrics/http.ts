/**
 * HTTP request metrics. The `route` label is Fastify's route template (`/api/v1/users/:id`, never
 * `/api/v1/users/42`), and `unmatched` for 404s and refusals before routing, so scanners probing
 * random URLs cannot blow up the number of series.
 *
 * Every request is counted once, when its response closes (Node emits `close` for every response:
 * after the answer went out, or when the connection ended first): with the status answered, or
 * `499` when the client hung up before any answer. Fastify's `onRequestAbort` is not enough: Node
 * flags a request aborted only while its body is unread, so a login whose client left during the
 * password check would be fully processed and never counted; `onResponse` misses it too. Requests
 * refused by `serverOptions()`'s handlers (a URL the router cannot decode, a request Node's parser
 * rejects) run none of the hooks: they are counted through `onUnroutedAnswer`.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { onUnroutedAnswer } from '../../http/server-options.js';
import type { Metrics } from './index.js';
import { CLIENT_CLOSED_REQUEST } from './names.js';

/**
 * Adds the hooks to `app` (and so to every route of it). Call before `ready()`, on the root instance
 * (what `Fastify()` returned), before hooks that may answer in `onRequest`.
 */
export function registerHttpMetrics(app: FastifyInstance, metrics: Pick<Metrics, 'observeHttp' | 'countUnroutedRequest' | 'countDroppedConnection' | 'countShedRequest'>): void {
  // Connections a parser refusal closed: a request the app was still reading on one (a body that
  // never finished) was answered by that refusal, and is counted there, not as a 499.
  const refusedConnections = new WeakSet<Socket>();

  function count(request: FastifyRequest, reply: FastifyReply): void {
    // `sent`: the app answered (even if the connection broke while the answer was going out).
    if (reply.sent) metrics.observeHttp(request.method, request.routeOptions.url ?? null, reply.statusCode, reply.elapsedTime / 1000);
    else if (!refusedConnections.has(request.raw.socket)) {
      metrics.observeHttp(request.method, request.routeOptions.url ?? null, CLIENT_CLOSED_REQUEST, reply.elapsedTime / 1000);
    }
  }

  // A callback hook, not an async one: nothing awaits here (STYLE §3).
  app.addHook('onRequest', (request, reply, done) => {
    reply.raw.once('close', () => count(request, reply));
    done();
  });
  // Node closes a connection past `server.maxConnections` (serverOptions' cap) before any request:
  // no hook runs, only this event.
  app.server.on('drop', () => metrics.countDroppedConnection());
  onUnroutedAnswer(app, (refusal) => {
    if (refusal.closedConnection !== null) refusedConnections.add(refusal.closedConnection);
    metrics.countUnroutedRequest(refusal.method, refusal.statusCode);
    if (refusal.shed === true) metrics.countShedRequest();
  });
}
