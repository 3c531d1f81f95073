/**
 * `GET /metrics`: on the app itself (optionally behind `METRICS_TOKEN`), or on a separate small
 * server on `METRICS_PORT` so the scrape endpoint can stay off the public listener entirely. Either
 * way a `Host` that a DNS-rebinding page could send is refused first (`hosts.ts`).
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { LiveError } from '../../core/errors.js';
import { sendError } from '../../http/error-mapping.js';
import { notFoundHandler } from '../../http/not-found.js';
import { serverOptions } from '../../http/server-options.js';
import { afterHeadParsed, bodyUnread, closeIfBodyUnread } from '../../http/unread-body.js';
import { authzFailReporter, bearerChecker, tokenRefusalReporter } from '../health/bearer.js';
import { InvalidOptionError, optionalPreviousToken, optionalToken } from '../health/options-error.js';
import type { SecurityEventSink } from '../security-events.js';
import { checkAllowedHosts, hostCheck } from './hosts.js';
import type { Metrics } from './index.js';
import { METRICS_ROUTE } from './names.js';

export interface MetricsRouteOptions {
  /**
   * From `createMetrics()`: a scrape let in by `previousToken` is counted in its `countSecretFallback`
   * (`metrics_token`), when it has one; whether `previousToken` is set goes to its
   * `setSecretFallbacksConfigured('metrics_token', 0 or 1)`, once.
   */
  metrics: Pick<Metrics, 'render' | 'contentType'> & Partial<Pick<Metrics, 'countSecretFallback' | 'setSecretFallbacksConfigured'>>;
  /**
   * `METRICS_TOKEN`: scrapes must send `Authorization: Bearer <token>`; anything else is answered
   * 401 `INVALID_TOKEN` and logged as an `authz_fail` security event.
   * @default undefined (no token needed)
   */
  token?: string | undefined;
  /**
   * `METRICS_TOKEN_PREVIOUS`: a second token accepted beside `token` while it changes, so the
   * scraper's credentials can follow the app's: the app accepts both, then the scraper's file is
   * changed, then this is dropped. Needs `token`; must differ from it.
   * @default undefined (only `token`)
   * @example registerMetricsRoute(app, { metrics, token: newToken, previousToken: oldToken })
   */
  previousToken?: string | undefined;
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
  /**
   * `METRICS_ALLOWED_HOSTS`: host names (no port) a scrape may name in its `Host` header besides IP
   * addresses and `localhost`, which always pass; given (even empty), every request is checked.
   * Without it, only requests that reached a loopback address are, and only when no `token` is
   * required. A request naming anything else is answered 400 `INVALID_REQUEST` and logged as an
   * `authz_fail` security event: it is what a page rebinding its DNS name to this server sends
   * (see `hosts.ts`).
   * @default undefined (checked on loopback connections to a route without token)
   * @example registerMetricsRoute(app, { metrics, port: 9464, host: '0.0.0.0', allowedHosts: ['app1', 'app1.internal'] })
   */
  allowedHosts?: readonly string[] | undefined;
}

/** The separate metrics server, when `port` was given. */
export interface MetricsServer {
  readonly server: FastifyInstance;
  /** The port it listens on (useful with port 0). */
  readonly port: number;
}

const WHERE = 'registerMetricsRoute';

/** The answer to a `Host` the route does not serve: the same for every such name. */
const HOST_REFUSED =
  'This server answers /metrics only to a Host that is an IP address, localhost, or a name it was given (METRICS_ALLOWED_HOSTS): name it so in the scrape target, or add the name.';

/** Longest `Host` quoted in the log (a DNS name has 253 characters at most; a header up to 16 KiB). */
const MAX_HOST_LOGGED = 260;

/**
 * @returns the separate server when `port` is set, else `null` (the route is on `app`).
 * @example await registerMetricsRoute(app, { metrics, token: process.env.METRICS_TOKEN });
 */
export async function registerMetricsRoute(app: FastifyInstance, options: MetricsRouteOptions): Promise<MetricsServer | null> {
  const { metrics, port } = options;
  if (typeof metrics?.render !== 'function') throw new InvalidOptionError(WHERE, 'metrics must come from createMetrics()');
  const token = optionalToken(WHERE, 'token', options.token);
  const previousToken = optionalPreviousToken(WHERE, token, options.previousToken);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65_535)) {
    throw new InvalidOptionError(WHERE, `port must be an integer from 0 to 65535 (got ${String(port)})`);
  }
  const allowedHosts = checkAllowedHosts(WHERE, options.allowedHosts);
  // Bound once: the count of scrapes still sending the previous token tells when it can go.
  // The previous token is configured for as long as this process runs: told once, here.
  if (typeof metrics.setSecretFallbacksConfigured === 'function') metrics.setSecretFallbacksConfigured('metrics_token', previousToken === undefined ? 0 : 1);
  const countFallback = metrics.countSecretFallback;
  const onPrevious = typeof countFallback === 'function' ? () => countFallback('metrics_token') : undefined;
  const check = token === undefined ? null : bearerChecker(token, previousToken, onPrevious, {
          hookName: 'countSecretFallback',
          report: (message, error) => app.log.error({ err: error }, message),
        });
  const reportRefusal = tokenRefusalReporter(app, options.events, 'METRICS_TOKEN');
  const hostRefused = hostCheck(allowedHosts, token !== undefined);

  const reportAuthzFail = authzFailReporter(app, options.events);

  /** Logs one `authz_fail` (WARN) naming the refused `Host`: a rebinding page's, or a scraper's name to list. */
  function reportHost(request: FastifyRequest): void {
    const host = request.headers.host;
    const named = host === undefined ? 'no Host header' : `Host ${JSON.stringify(host.slice(0, MAX_HOST_LOGGED))}`;
    reportAuthzFail(
      request,
      `/metrics refused ${named}: not an IP address, localhost or a name of METRICS_ALLOWED_HOSTS (a page rebinding its DNS name to this server, or a scrape target to name by address or to list)`,
    );
  }

  async function handler(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    // Before the token: a rebinding page learns nothing from the token check either.
    if (hostRefused?.(request) === true) {
      reportHost(request);
      return sendError(new LiveError('INVALID_REQUEST', { message: HOST_REFUSED }), request, reply);
    }
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
  // And the app's request logger factory: its trace context, or none where the app turned it off
  // (`serverOptions({ traceContext: false })`: an OpenTelemetry SDK writes the same keys).
  const server = Fastify({ ...serverOptions({ loggerInstance: app.log.child({ server: 'metrics' }) }), childLoggerFactory: app.childLoggerFactory });
  server.get(METRICS_ROUTE, routeOptions, handler);
  server.setNotFoundHandler(notFoundHandler(server));
  // No plugin here, so not its onSend: an answer that leaves a body unread (405 for a POST to
  // /metrics, a GET with a body) closes the connection, or Node reads the body to its end. Decided
  // once the read that brought the head is parsed (unread-body.ts): the 405 is answered inside it,
  // before a small body that came with the head is parsed, which must not cost the connection.
  server.addHook('onSend', (request, reply, payload, done) => {
    if (!bodyUnread(request.raw)) return done(null, payload);
    afterHeadParsed(request, () => {
      closeIfBodyUnread(request, reply);
      done(null, payload);
    });
  });
  server.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  // Hooked before listening: if listen fails, closing the app still releases this server.
  app.addHook('onClose', async () => server.close());
  await server.listen({ port, host: options.host ?? '127.0.0.1' });
  const address = server.server.address();
  return { server, port: typeof address === 'object' && address !== null ? address.port : port };
}
