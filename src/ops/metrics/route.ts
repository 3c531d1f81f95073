/**
 * `GET /metrics`: on the app itself (optionally behind `METRICS_TOKEN`), or on a separate small
 * server on `METRICS_PORT` so the scrape endpoint can stay off the public listener entirely.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { LiveError } from '../../core/errors.js';
import { sendError } from '../../http/error-mapping.js';
import { notFoundHandler } from '../../http/not-found.js';
import { serverOptions } from '../../http/server-options.js';
import { bearerChecker, tokenRefusalReporter } from '../health/bearer.js';
import { InvalidOptionError, optionalToken } from '../health/options-error.js';
import type { SecurityEventSink } from '../security-events.js';
import type { Metrics } from './index.js';
import { METRICS_ROUTE } from './names.js';

export interface MetricsRouteOptions {
  metrics: Pick<Metrics, 'render' | 'contentType'>;
  /**
   * `METRICS_TOKEN`: scrapes must send `Authorization: Bearer <token>`; anything else is answered
   * 401 `INVALID_TOKEN` and logged as an `authz_fail` security event.
   * @default undefined (no token needed)
   */
  token?: string | undefined;
  /** Where a refused token is reported. @default the sink of the `livecomponents` plugin on `app`, if any */
  events?: SecurityEventSink | undefined;
  /**
   * `METRICS_PORT`: serve `/metrics` on its own server on this port (0 picks a free one) instead of
   * on `app`. That server closes when `app` closes.
   * @default undefined (served by `app`)
   */
  port?: number | undefined;
  /** Address the separate metrics server listens on (only with `port`). @default '127.0.0.1' */
  host?: string | undefined;
}

/** The separate metrics server, when `port` was given. */
export interface MetricsServer {
  readonly server: FastifyInstance;
  /** The port it listens on (useful with port 0). */
  readonly port: number;
}

const WHERE = 'registerMetricsRoute';

/**
 * @returns the separate server when `port` is set, else `null` (the route is on `app`).
 * @example await registerMetricsRoute(app, { metrics, token: process.env.METRICS_TOKEN });
 */
export async function registerMetricsRoute(app: FastifyInstance, options: MetricsRouteOptions): Promise<MetricsServer | null> {
  const { metrics, port } = options;
  if (typeof metrics?.render !== 'function') throw new InvalidOptionError(WHERE, 'metrics must come from createMetrics()');
  const token = optionalToken(WHERE, 'token', options.token);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65_535)) {
    throw new InvalidOptionError(WHERE, `port must be an integer from 0 to 65535 (got ${String(port)})`);
  }
  const check = token === undefined ? null : bearerChecker(token);
  const reportRefusal = tokenRefusalReporter(app, options.events, 'METRICS_TOKEN');

  async function handler(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const verdict = check === null ? 'valid' : check(request.headers.authorization);
    if (verdict !== 'valid') {
      reportRefusal(request, verdict);
      return sendError(new LiveError('INVALID_TOKEN', { headers: { 'www-authenticate': 'Bearer realm="metrics"' } }), request, reply);
    }
    const text = await metrics.render();
    return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(text);
  }
  const routeOptions = { logLevel: 'warn', config: { rateLimit: false } } as const;

  if (port === undefined) {
    app.get(METRICS_ROUTE, routeOptions, handler);
    return null;
  }
  // Scrapes are not request-logged: the route's logLevel is 'warn'. The app's server options: request
  // ids, the request time limit and PROTOCOL's error shape for requests Node's parser refuses.
  const server = Fastify(serverOptions({ loggerInstance: app.log.child({ server: 'metrics' }) }));
  server.get(METRICS_ROUTE, routeOptions, handler);
  server.setNotFoundHandler(notFoundHandler(server));
  server.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  // Hooked before listening: if listen fails, closing the app still releases this server.
  app.addHook('onClose', async () => server.close());
  await server.listen({ port, host: options.host ?? '127.0.0.1' });
  const address = server.server.address();
  return { server, port: typeof address === 'object' && address !== null ? address.port : port };
}
