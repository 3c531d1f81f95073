/**
 * HTTP request metrics. The `route` label is Fastify's route template (`/api/v1/users/:id`, never
 * `/api/v1/users/42`), and `unmatched` for 404s and refusals before routing, so scanners probing
 * random URLs cannot blow up the number of series.
 *
 * Every request is counted once, by whichever of these sees it first:
 * - `onResponse`: the answer went out, with its status;
 * - the response's `close`, for every request that reached `onRequest`: the answer, if the app gave
 *   one, else `499` — the client hung up first. Fastify's `onRequestAbort` is not enough: Node flags
 *   a request aborted only while its body is unread, so a login whose client left during the
 *   password check would be fully processed and never counted;
 * - a refusal by `serverOptions()`'s handlers (a URL the router cannot decode, a request Node's
 *   parser rejects), which run none of the hooks: counted through `onRefusedRequest`.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { onRefusedRequest } from '../../http/server-options.js';
import type { Metrics } from './index.js';
import { CLIENT_CLOSED_REQUEST } from './names.js';

/**
 * Adds the hooks to `app` (and so to every route of it). Call before `ready()`, on the root instance
 * (what `Fastify()` returned), before hooks that may answer in `onRequest`.
 */
export function registerHttpMetrics(app: FastifyInstance, metrics: Pick<Metrics, 'observeHttp' | 'countRefusedRequest'>): void {
  const counted = new WeakSet<FastifyRequest>();
  // Connections a parser refusal closed: a request the app was still reading on one (a body that
  // never finished) was answered by that refusal, and is counted there, not as a 499.
  const refusedConnections = new WeakSet<Socket>();

  function countOnce(request: FastifyRequest, reply: FastifyReply, statusCode: number): void {
    if (counted.has(request)) return;
    counted.add(request);
    metrics.observeHttp(request.method, request.routeOptions.url ?? null, statusCode, reply.elapsedTime / 1000);
  }

  // Callback hooks, not async ones: nothing awaits here (STYLE §3).
  app.addHook('onRequest', (request, reply, done) => {
    reply.raw.once('close', () => {
      // `sent`: the app answered (its `onResponse` may come later, behind another hook's await).
      if (reply.sent) countOnce(request, reply, reply.statusCode);
      else if (!refusedConnections.has(request.raw.socket)) countOnce(request, reply, CLIENT_CLOSED_REQUEST);
    });
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    countOnce(request, reply, reply.statusCode);
    done();
  });
  onRefusedRequest(app, (refusal) => {
    if (refusal.closedConnection !== null) refusedConnections.add(refusal.closedConnection);
    metrics.countRefusedRequest(refusal.method, refusal.statusCode);
  });
}
