/**
 * HTTP request metrics from one `onResponse` hook. The `route` label is Fastify's route template
 * (`/api/v1/users/:id`, never `/api/v1/users/42`), and `unmatched` for 404s, so scanners probing
 * random URLs cannot blow up the number of series.
 */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from './index.js';

/** Adds the hook to `app` (and so to every route of it). Call before `ready()`. */
export function registerHttpMetrics(app: FastifyInstance, metrics: Pick<Metrics, 'observeHttp'>): void {
  // A callback hook, not an async one: nothing awaits here (STYLE §3).
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observeHttp(request.method, request.routeOptions.url ?? null, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}
