/**
 * Fastify server options the framework relies on: request ids in and out, the caller's W3C trace
 * context (`traceparent`) on request log lines, the body limit, the
 * `TRUST_PROXY` semantics for client IPs (only a trusted proxy's `X-Forwarded-For` counts), a
 * time limit for receiving a request, one for a connection that sends nothing, a cap on open
 * connections in all and per client address, and PROTOCOL's error shape for
 * requests Node's parser or Fastify's router refuses — with a notice of each such refusal
 * (`onUnroutedAnswer`), since they run none of the app's hooks.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type FastifyBaseLogger, type FastifyHttpOptions, type FastifyInstance, type FastifyServerFactoryHandler, type FastifyServerOptions } from 'fastify';
import { checkTimerDelay, MAX_TIMER_MS } from '../core/deadline.js';
import { HEADERS } from '../core/wire.js';
import { LOG_FIELDS } from '../ops/logging/fields.js';
import { FloodLogController } from '../ops/logging/request-lines.js';
import { answerShedRequest, createLoadMonitor, DEFAULT_MAX_EVENT_LOOP_DELAY_MS, shouldShed } from '../ops/load-shedding/index.js';
import { createClientIp } from '../pipeline/rate-limit/client-ip.js';
import { answerClientError, answerConnect, answerRefusedRequest } from './client-errors.js';
import { sendError } from './error-mapping.js';
import { ROUTED_METHODS } from './not-found.js';
import { ACTION_BODY_LIMIT } from './plugin.js';
import { addTraceFields, parseTraceparent, TRACEPARENT_HEADER } from './trace-context.js';
import { afterHeadParsed, afterRawHeadParsed, bodyUnread, closeIfBodyUnread } from './unread-body.js';

const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/**
 * How many request timeouts a connection that sent stray bytes is given before its idle timer fires
 * again (`closeIdleOnTimeout`): past the request timeout, so a request that did begin gets its 408 first.
 */
const STRAY_BYTES_TIMEOUTS = 1.5;

/**
 * The longest `requestTimeoutMs` (1,431,655,764 ms, about 16.6 days): the idle timer is then armed
 * for 1.5 times it, which must stay within a timer's limit (`MAX_TIMER_MS`). Past it Node truncated
 * that timer with a TimeoutOverflowWarning on each such connection.
 */
export const MAX_REQUEST_TIMEOUT_MS = Math.floor(MAX_TIMER_MS / STRAY_BYTES_TIMEOUTS);

/** Node's own headers timeout; ours is this, or the request timeout when that is shorter. */
const NODE_HEADERS_TIMEOUT_MS = 60_000;

/** The default of `maxConnectionsPerAddress`: room for dozens of browsers behind one NAT (six connections each). */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 256;

/** The connection cap where the process's open-files limit cannot be read (not Linux, or `unlimited`). */
export const FALLBACK_MAX_CONNECTIONS = 8192;

/**
 * The soft open-files limit of this process (`Max open files` in /proc/self/limits, Linux), or
 * `null` where it cannot be read or is `unlimited`. `limitsText`: that file's text, for tests.
 */
export function openFilesLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'latin1');
    } catch {
      return null;
    }
  }
  const soft = /^Max open files\s+(\d+)\s/m.exec(text)?.[1];
  return soft === undefined ? null : Number(soft);
}

/**
 * The default connection cap: the soft open-files limit minus headroom for everything else the
 * process opens (database and Redis connections, log files, SQLite's journal, the listening sockets,
 * Node's own) — a tenth of the limit, at least 256 and at most half of it: 1024 → 768, 20000 →
 * 18000, 65536 → 58982. Past the cap Node closes new connections at once, so a flood of idle sockets
 * cannot take the file handles the database and the logs need.
 */
export function defaultMaxConnections(openFiles: number | null = openFilesLimit()): number {
  if (openFiles === null) return FALLBACK_MAX_CONNECTIONS;
  const headroom = Math.min(Math.floor(openFiles / 2), Math.max(256, Math.ceil(openFiles / 10)));
  return Math.max(1, openFiles - headroom);
}

/** An incoming `X-Request-Id` is kept only when it is short and plain; else a new UUID. */
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * A request that `serverOptions()`'s handlers answered themselves, out of reach of the app's hooks:
 * refused (by Node's parser, or for its target, `Host` or `Expect`), or `OPTIONS *` (204).
 */
export interface UnroutedAnswer {
  /** Its method as Node parsed it; `null` when Node's parser refused it (no request was formed). */
  readonly method: string | null;
  /** The status it was answered with. */
  readonly statusCode: number;
  /**
   * Node's parser refusals only: the connection, now closed. A request the app was still reading on
   * it (a body that never finished) gets no answer of its own: this refusal was its answer.
   */
  readonly closedConnection: Socket | null;
  /** Answered 503 because the event loop was overloaded (`maxEventLoopDelayMs`). */
  readonly shed?: boolean;
}

export type UnroutedAnswerListener = (answer: UnroutedAnswer) => void;

// Keyed by the Node server of the app the handlers answer for (`app.server` of the one
// `Fastify(serverOptions())` returned), so two apps in one process never hear each other's refusals;
// the server, not the app, because the refusals `createNodeServer` answers happen where only the
// server is known.
const unroutedListeners = new WeakMap<Server, UnroutedAnswerListener[]>();

/**
 * Calls `listener` for every request `app`'s `serverOptions()` handlers answer before routing:
 * refusals (URLs the router cannot decode, requests Node's parser rejects, HTTP/1.1 requests without
 * `Host`, requests with an `Expect` other than `100-continue`, request targets that are no path
 * (`GET *`), CONNECT) and `OPTIONS *`. An app built without `serverOptions()` never calls it.
 * `registerHttpMetrics` counts these with it.
 */
export function onUnroutedAnswer(app: FastifyInstance, listener: UnroutedAnswerListener): void {
  const listeners = unroutedListeners.get(app.server);
  if (listeners === undefined) unroutedListeners.set(app.server, [listener]);
  else listeners.push(listener);
}

function notifyUnrouted(server: Server, refusal: UnroutedAnswer): void {
  for (const listener of unroutedListeners.get(server) ?? []) listener(refusal);
}

/** The request id of a request: its `X-Request-Id` when short and plain, else a new UUID. */
function requestIdOf(req: IncomingMessage): string {
  const incoming = req.headers[HEADERS.requestId];
  return typeof incoming === 'string' && REQUEST_ID_RE.test(incoming) ? incoming : randomUUID();
}

/**
 * Fastify's logger for a request: its bindings (`request_id`, the log controller's label) plus,
 * when the request carries a valid W3C `traceparent`, the caller's `trace_id`, `span_id` (its
 * parent-id) and `trace_flags` (trace-context.ts). Fastify calls it once per request, before the
 * request's first line, and pino serializes the bindings once for all of the request's lines
 * (`request.log`, `reply.log`, Fastify's own). Without the header it does one property read more
 * than Fastify's default factory; but Fastify checks the logger any factory but its own returns
 * (`validateLogger`: an array of seven method names filtered, about 0.4 µs, some 2/3 of the child
 * logger's own cost), on every request, header or not.
 */
const requestChildLogger: NonNullable<FastifyServerOptions['childLoggerFactory']> = (logger, bindings, childOptions, req) => {
  const traceparent = req.headers[TRACEPARENT_HEADER];
  if (traceparent !== undefined) {
    const trace = parseTraceparent(traceparent);
    if (trace !== null) addTraceFields(bindings, trace);
  }
  return logger.child(bindings, childOptions);
};

export function serverOptions(options: {
  /** `false`, `true`, a hop count, or CIDRs/addresses (Fastify's `trustProxy`). @default false */
  trustProxy?: boolean | number | string | string[];
  /**
   * Fastify's logger (or `loggerInstance`: `createLogger()`'s). Every line logged for a request
   * carries `request_id`, and `trace_id`, `span_id` and `trace_flags` when it came with a valid
   * `traceparent` header (docs/logging.md, Trace context).
   */
  logger?: FastifyServerOptions['logger'];
  loggerInstance?: FastifyServerOptions['loggerInstance'];
  /**
   * Longest time a client may take to send a whole request (headers and body), in ms; past it the
   * connection gets 408 `REQUEST_TIMEOUT` and is closed. Fastify's default is no limit, so a client
   * trickling a body (slowloris) would hold its connection for ever when no proxy buffers requests.
   * Checked every quarter of it (at most every 30 s), so a request is cut within 1¼ of it. At most
   * `MAX_REQUEST_TIMEOUT_MS` (1,431,655,764, about 16.6 days: a timer armed for 1.5 times it must
   * stay within 2^31 − 1 ms).
   * @default 60_000
   */
  requestTimeoutMs?: number;
  /**
   * Most connections the server holds open at once (Node's `server.maxConnections`); past it a new
   * connection is closed as soon as it is accepted. Without a cap, ~20,000 idle sockets exhausted the
   * process's open files, and then the database, Redis and log files could not get a handle either.
   * @default the soft open-files limit minus headroom (`defaultMaxConnections()`), or 8192 where that
   * limit cannot be read
   */
  maxConnections?: number;
  /**
   * Longest a connection may stay silent, in ms, while none of its requests is being answered:
   * nothing received since it opened or since its last answer (bytes that start no request, such as
   * a blank line, count as nothing), the client not reading an answer the app has finished, or over
   * TLS no handshake. Past it the connection is closed. Node's headers timeout covers only the first
   * of these, and Fastify's idle timeout is off by default. It never cuts an answer the app is still working on (a slow action), nor a
   * request that has begun to arrive (the headers and request timeouts bound it, and answer 408);
   * between requests a keep-alive connection is closed by Node's `keepAliveTimeout` (72 s, Fastify's
   * default) instead, however short this is. `0` turns it off.
   * @default the headers timeout: 60_000, or `requestTimeoutMs` when that is shorter
   * @example serverOptions({ connectionTimeoutMs: 10_000 }) // close silent sockets after 10 s
   */
  connectionTimeoutMs?: number;
  /**
   * Most connections one client address holds open at once, an IPv6 address counting as its /56
   * network as the rate limiter counts clients; past it a new connection from that address is closed
   * as soon as it is accepted, and counted in `livecomponents_connections_dropped_total` (the
   * server's `'drop'` event, as Node emits past `maxConnections`). Without it one client could take
   * every slot of `maxConnections`. Behind a reverse proxy every connection comes from the proxy:
   * turn it off there (`0`) and limit per client at the proxy (nginx `limit_conn`).
   * @default 256 (`DEFAULT_MAX_CONNECTIONS_PER_ADDRESS`)
   * @example serverOptions({ maxConnectionsPerAddress: 0 }) // behind nginx
   */
  maxConnectionsPerAddress?: number;
  /**
   * Load shedding: when the event loop stalls more than this, in ms, the requests that waited through
   * the stall, and while stalls follow each other every request, except on the health endpoints
   * (`/health`, `/health/*`) and `/metrics`, are answered at once, before routing, with 503
   * `SERVICE_UNAVAILABLE` and `Retry-After: 1`, and counted in `livecomponents_requests_shed_total`;
   * once a one-off stall is over (a big `JSON.parse`, a long GC), requests are served again. A warning
   * is logged when it starts (at most once a minute). Without it, an overloaded server queued every
   * request for seconds, liveness probes included (src/ops/load-shedding). `0` turns it off.
   * @default 1000 (`DEFAULT_MAX_EVENT_LOOP_DELAY_MS`)
   * @example serverOptions({ maxEventLoopDelayMs: 0 }) // never shed
   */
  maxEventLoopDelayMs?: number;
  /**
   * Whether request log lines carry the caller's `trace_id`, `span_id` and `trace_flags` from a valid
   * `traceparent` header (docs/logging.md, Trace context). Turn it off when an OpenTelemetry SDK
   * with @opentelemetry/instrumentation-pino writes the same keys from its own server span: both
   * would be on every line, and strict JSON parsers refuse duplicate keys. Likewise
   * `createSecurityLogger({ traceContext: false })`.
   * @default true
   */
  traceContext?: boolean;
} = {}): FastifyHttpOptions<Server> {
  const requestTimeout = checkTimerDelay(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, { max: MAX_REQUEST_TIMEOUT_MS, integer: true }, () => {
    return new TypeError(`serverOptions: requestTimeoutMs must be a positive whole number of ms, at most ${MAX_REQUEST_TIMEOUT_MS} (a timer is armed for 1.5 times it, and Node's timers wait at most ${MAX_TIMER_MS} ms)`);
  });
  const maxConnections = options.maxConnections ?? defaultMaxConnections();
  if (!(Number.isSafeInteger(maxConnections) && maxConnections > 0)) throw new TypeError('serverOptions: maxConnections must be a positive whole number');
  const headersTimeout = Math.min(NODE_HEADERS_TIMEOUT_MS, requestTimeout);
  const connectionTimeout = checkTimerDelay(options.connectionTimeoutMs ?? headersTimeout, { zero: true, integer: true }, () => {
    return new TypeError(`serverOptions: connectionTimeoutMs must be a whole number of ms from 0 (off) to ${MAX_TIMER_MS}`);
  });
  const maxConnectionsPerAddress = options.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
  if (!(Number.isSafeInteger(maxConnectionsPerAddress) && maxConnectionsPerAddress >= 0)) {
    throw new TypeError('serverOptions: maxConnectionsPerAddress must be a whole number, 0 (off) or more');
  }
  const maxEventLoopDelayMs = checkTimerDelay(options.maxEventLoopDelayMs ?? DEFAULT_MAX_EVENT_LOOP_DELAY_MS, { zero: true, integer: true }, () => {
    return new TypeError(`serverOptions: maxEventLoopDelayMs must be a whole number of ms from 0 (off) to ${MAX_TIMER_MS}`);
  });
  if (options.traceContext !== undefined && typeof options.traceContext !== 'boolean') throw new TypeError('serverOptions: traceContext must be true or false');
  const caps: ConnectionCaps = { maxConnections, maxConnectionsPerAddress, maxEventLoopDelayMs };
  return {
    // The Node server is built here rather than by Fastify, because `maxConnections` is a property of
    // the server object, not an option of `http.createServer`. Not in an onReady hook of the plugin:
    // the cap belongs to every server built with these options (the separate metrics server has no
    // plugin), and an option of `serverOptions()` reaches nothing else. One cost: given a factory,
    // Fastify listens on one address for `host: 'localhost'` (it would bind both ::1 and 127.0.0.1).
    serverFactory: (handler, fastifyOptions) => createNodeServer(handler, fastifyOptions as unknown as FactoryOptions, caps),
    requestTimeout,
    // Fastify hands it to `server.setTimeout()`: the sockets' idle timeout (see `closeIdleOnTimeout`).
    connectionTimeout,
    http: {
      // Node refuses a headers timeout longer than the request timeout; its own default is 60 s.
      headersTimeout,
      requestTimeout,
      connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(requestTimeout / 4))),
      // Node answers an HTTP/1.1 request without Host with a bare 400 of its own; createNodeServer
      // refuses it instead, in PROTOCOL's shape (RFC 9112 §3.2 still requires the 400).
      requireHostHeader: false,
    },
    trustProxy: trustProxyOption(options.trustProxy ?? false),
    // Fastify answers a request that arrives on an open connection once `close()` began with a bare
    // 503 of its own (no `code`, no `request_id`, none of the app's hooks). Off, such a request is
    // routed as usual: served, with `Connection: close` (Fastify adds it while closing), or refused
    // in PROTOCOL's shape by whatever has already closed (a store: 503 SERVICE_UNAVAILABLE). Each
    // open connection carries at most that one request more, so this sheds no load that matters.
    return503OnClosing: false,
    bodyLimit: ACTION_BODY_LIMIT,
    ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : { logger: options.logger ?? false }),
    // Request log lines carry `request_id` (Fastify's default label is `reqId`); Fastify 5 moved the
    // label from the deprecated top-level `requestIdLogLabel` to the log controller.
    logController: new FloodLogController({ requestIdLogLabel: LOG_FIELDS.requestId }),
    // And the caller's trace context, from `traceparent`. Only with a logger: without one Fastify
    // skips making request loggers altogether, which a factory of ours would undo for nothing.
    ...((options.loggerInstance || options.logger) && options.traceContext !== false ? { childLoggerFactory: requestChildLogger } : {}),
    // Requests Node's parser refused answer in PROTOCOL's error shape too (see client-errors.ts).
    // Fastify calls it with `this` bound to the app.
    clientErrorHandler(this: FastifyInstance, error, socket) {
      afterPendingAnswers(socket, this.server.timeout || this.server.requestTimeout, () => {
        const statusCode = answerClientError(error, socket);
        if (statusCode !== null) notifyUnrouted(this.server, { method: null, statusCode, closedConnection: socket });
      });
    },
    // And so do the URLs Fastify's router refuses (a malformed percent-encoding such as `/%`); such a
    // reply skips the app's hooks, so the request id header is set here, and `Connection: close` for a
    // body left unread, decided as the plugin's onSend does (unread-body.ts): the router refuses in the
    // read that brought the head, where a small body sent with it is not parsed yet.
    frameworkErrors: (error, request, reply) => {
      afterHeadParsed(request, () => {
        closeIfBodyUnread(request, reply);
        sendError(error, request, reply.header(HEADERS.requestId, request.id));
        notifyUnrouted(request.server.server, { method: request.method, statusCode: reply.statusCode, closedConnection: null });
      });
    },
    genReqId: requestIdOf,
  };
}

/** What `createNodeServer` reads of the options Fastify hands a server factory (its own, defaults applied). */
interface FactoryOptions {
  http?: FastifyHttpOptions<Server>['http'];
  https?: HttpsServerOptions | true | null;
  http2?: boolean;
  keepAliveTimeout: number;
  requestTimeout: number;
  connectionTimeout: number;
  maxRequestsPerSocket?: number | null;
  /** The app's logger (Fastify sets it before building the server). */
  logger?: FastifyBaseLogger;
}

/** The caps `createNodeServer` adds to the server Fastify would build. */
interface ConnectionCaps {
  readonly maxConnections: number;
  /** 0: no cap per address. */
  readonly maxConnectionsPerAddress: number;
  /** 0: no load shedding. */
  readonly maxEventLoopDelayMs: number;
}

/**
 * The HTTP/1 server exactly as Fastify 5 builds one (lib/server.js `getServerInstance`: the `http`
 * options, keep-alive and request timeouts, idle timeout, requests per socket), plus the caps (see
 * `capConnectionsPerAddress`), an idle timeout that spares a request being answered (see
 * `closeIdleOnTimeout`), and
 * two refusals Node would otherwise answer itself with a bare status (no body, no `request_id`, not
 * counted): an HTTP/1.1 request without `Host` (Node's check is off, see `requireHostHeader`) and an
 * `Expect` other than `100-continue` (Node's 417; its `checkExpectation` event lets us answer); and
 * a request target that is neither a path nor absolute-form (`toOriginForm`), which Fastify's router
 * would serve as if it began with '/'. All are 400 `INVALID_REQUEST` in PROTOCOL's shape, close the
 * connection, and reach no route or hook. `OPTIONS *` is answered here (204, `Allow`), and a CONNECT
 * (which Node would close without a word) 405 `METHOD_NOT_ALLOWED` in the same shape. A request with
 * `Expect: 100-continue` gets its `100 Continue` only once its body is read (`continueOnRead`). A
 * request pipelined behind an answer that closes the connection is not run (`behindAnswers`).
 */
function createNodeServer(handler: FastifyServerFactoryHandler, options: FactoryOptions, caps: ConnectionCaps): Server {
  const refuse = (req: IncomingMessage, res: ServerResponse, message: string): void => {
    // A refusal closes the connection: the requests pipelined behind it are not run (`behindAnswers`).
    // Marked here, as `checkExpectation`'s refusals come past `handle` and are not among its answers.
    answeringOf(req.socket as AnsweringSocket).closing = true;
    const statusCode = answerRefusedRequest(res, requestIdOf(req), message);
    notifyUnrouted(server, { method: req.method ?? null, statusCode, closedConnection: null });
  };
  const monitor = caps.maxEventLoopDelayMs > 0 ? createLoadMonitor(caps.maxEventLoopDelayMs, (delayMs) => warnShedding(options.logger, delayMs, caps.maxEventLoopDelayMs)) : null;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const state = trackAnswer(req.socket as AnsweringSocket, res);
    // What every request pays for requests behind an answer that closes the connection: this read.
    if (state.closing) {
      dropArrived(state, res);
      return;
    }
    const running = inProgress(state);
    if (state.held.size > 0 || running > MAX_ANSWERS_IN_PROGRESS) {
      holdRequest(state, res, () => answer(req, res));
      return;
    }
    // Pipelined behind answers in progress (never a browser's: one request at a time per connection).
    const next = running > 1 ? behindAnswers(state, res) : RUN;
    if (next === RUN) answer(req, res);
    else if (next === WAIT) holdRequest(state, res, () => answer(req, res));
    else dropArrived(state, res);
  };
  const answer = (req: IncomingMessage, res: ServerResponse): void => {
    const hostRefusal = hostRefusalOf(req);
    if (hostRefusal !== null) {
      refuse(req, res, hostRefusal);
      return;
    }
    // Fastify's router (find-my-way) routes any target as if it began with '/': `GET *` was served as
    // `GET /`, `POST *api/livecomponents/action` ran an action. Only origin-form ('/…') reaches it.
    if (req.url?.charCodeAt(0) !== SLASH) {
      if (req.url === '*' && req.method === 'OPTIONS') {
        afterRawHeadParsed(req, () => {
          answerServerOptions(req, res);
          // Not a refusal, but answered before routing all the same: the HTTP metrics count it here.
          notifyUnrouted(server, { method: 'OPTIONS', statusCode: 204, closedConnection: null });
        });
        return;
      }
      if (!toOriginForm(req)) {
        refuse(req, res, 'The request target must be a path beginning with "/".');
        return;
      }
    }
    if (shouldShed(monitor, req)) {
      afterRawHeadParsed(req, () => {
        closeRawIfBodyUnread(req, res);
        const statusCode = answerShedRequest(res, requestIdOf(req));
        notifyUnrouted(server, { method: req.method ?? null, statusCode, closedConnection: null, shed: true });
      });
      return;
    }
    handler(req, res);
  };
  // Fastify ignores `https` and `http2` once a factory is given: serving plain HTTP where TLS was asked
  // for must not happen silently. HTTPS is built as Fastify would (same `http` settings); HTTP/2 is refused.
  if (options.http2 === true) throw new TypeError('serverOptions() builds an HTTP/1 server: http2 is not supported with it (end HTTP/2 at the proxy)');
  const tls = options.https === true ? {} : options.https;
  // Over TLS Node's HTTP timeouts start once the handshake is done: before it only TLS's own
  // `handshakeTimeout` (120 s) applies, so a silent TCP connection gets the connection timeout there
  // too (an explicit `handshakeTimeout` in the TLS options wins).
  const handshakeTimeout = options.connectionTimeout > 0 ? { handshakeTimeout: options.connectionTimeout } : {};
  const server: Server = tls ? createHttpsServer({ ...options.http, ...handshakeTimeout, ...tls }, handle) : createServer(options.http ?? {}, handle);
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => refuse(req, res, 'The Expect header asks for something this server does not do.'));
  // `Expect: 100-continue`: without a listener Node answers `100 Continue` on arrival, before any
  // hook, inviting the body of a request about to be refused. Here it waits for the body's first read.
  // Then on as Node goes on: a 'request' event, which instrumentation (OpenTelemetry's) listens for too.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    continueOnRead(req, res);
    server.emit('request', req, res);
  });
  // A CONNECT (a tunnel through a proxy) gets the bare socket; with no listener Node closes it silently.
  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    const statusCode = answerConnect(socket, requestIdOf(req), SERVER_ALLOW);
    if (statusCode !== null) notifyUnrouted(server, { method: req.method ?? null, statusCode, closedConnection: null });
  });
  server.keepAliveTimeout = options.keepAliveTimeout;
  server.requestTimeout = options.requestTimeout;
  server.setTimeout(options.connectionTimeout);
  closeIdleOnTimeout(server);
  if ((options.maxRequestsPerSocket ?? 0) > 0) server.maxRequestsPerSocket = options.maxRequestsPerSocket ?? null;
  server.maxConnections = caps.maxConnections;
  if (caps.maxConnectionsPerAddress > 0) capConnectionsPerAddress(server, caps.maxConnectionsPerAddress);
  if (monitor !== null) {
    server.on('listening', monitor.start);
    server.on('close', monitor.stop);
  }
  return server;
}

function warnShedding(logger: FastifyBaseLogger | undefined, delayMs: number, maxDelayMs: number): void {
  logger?.warn(
    `Overloaded: the event loop lagged ${delayMs} ms (over maxEventLoopDelayMs, ${maxDelayMs} ms); answering 503 with Retry-After to the requests that waited through it, and to all while the lag persists, /health and /metrics excepted (counted in livecomponents_requests_shed_total; logged at most once a minute)`,
  );
}

const SLASH = 0x2f;

/**
 * Sends a request's `100 Continue` (it came with `Expect: 100-continue`) when its body is first read
 * — by its route's parser or the app's own stream — and not before: a refusal before then (a source
 * refused in `onRequest`, a media type no parser takes, 404, load shedding) is the final answer, with
 * no 100, and the client need not send the body at all. Node closes the connection after such an
 * answer (it does whenever a request that expected a 100 is answered without one while its body may
 * yet come), and the body of a client that sends it anyway (curl does after a second) goes with it. A
 * body that arrives without waiting (the client sent it with the head) is read as usual, and the 100
 * then goes out only if the read begins before all of it is in (no harm: RFC 9110 §10.1.1 lets a
 * client take it either way); all in, or none, the connection stays open.
 * One own `_read` per such request, put back at the first read; the action route's requests do not
 * come this way (browsers never send `Expect`).
 */
function continueOnRead(req: IncomingMessage, res: ServerResponse): void {
  const read = req._read;
  req._read = function readAfterContinue(this: IncomingMessage, size: number): void {
    this._read = read;
    // Never after the final answer's head: Node reads what is left of a body to drop it (`_dump`).
    if (!res.headersSent) res.writeContinue();
    read.call(this, size);
  };
  // Node's writeHead closes the connection when the 100 was not sent (`_expect_continue`, set before
  // 'checkContinue'): the client may yet send the body, or not. Not when there is no body
  // (`Content-Length: 0`, a GET) or all of it is in (sent with the head: a read begun after that asks
  // no 100): nothing more can come, so the connection serves the next request, as after Node's own 100.
  const expecting = res as ServerResponse & { _expect_continue?: boolean };
  let expected = expecting._expect_continue === true;
  Object.defineProperty(expecting, '_expect_continue', {
    configurable: true,
    get: () => expected && bodyUnread(req),
    set: (value: boolean) => {
      expected = value;
    },
  });
}

/**
 * `Connection: close` on an answer these handlers give themselves (load shedding, `OPTIONS *`) when
 * it leaves a body unread, or Node would read the rest to its end (unread-body.ts); decided once the
 * read that brought the head is parsed (`afterRawHeadParsed`), so a small body sent with the head
 * keeps the connection. Their refusals (no or a bad `Host`, a target that is no path, an `Expect`)
 * close it whatever the body: a request so malformed is no client's to keep talking to, and the
 * requests pipelined behind it are not run (`behindAnswers`). Node's parser refusals (400, 408, 414,
 * 431) must close: the connection's framing is lost. The app's answers get it from the plugin's `onSend`.
 */
function closeRawIfBodyUnread(req: IncomingMessage, res: ServerResponse): void {
  if (bodyUnread(req)) res.shouldKeepAlive = false;
}

/** What `OPTIONS *` (the server as a whole, RFC 9110 §9.3.7) is told the server handles. */
const SERVER_ALLOW = [...ROUTED_METHODS, 'OPTIONS'].join(', ');

/** `OPTIONS *`: 204 with the methods the server's routes may have; no route is asked (none is "*"). */
function answerServerOptions(req: IncomingMessage, res: ServerResponse): void {
  closeRawIfBodyUnread(req, res);
  res.writeHead(204, { allow: SERVER_ALLOW, [HEADERS.requestId]: requestIdOf(req) });
  res.end();
}

/** An absolute-form target (RFC 9112 §3.2.2): `http(s)://authority`, then the path and query, if any. */
const ABSOLUTE_FORM_RE = /^https?:\/\/([^/?]+)(.*)$/i;

/**
 * Rewrites an absolute-form target to origin-form, the authority becoming `Host`: RFC 9112 §3.2.2
 * says a server MUST accept absolute-form and then use its authority in place of `Host`. Fastify
 * routes it by its path already, but keeps it in `request.url` and takes the host from the `Host`
 * header — code that reads either (redirects, origin checks) would see a URL it never expects.
 * @returns false for any other target (`*` with another method, `*metrics`, another scheme), or an
 * authority that is no valid host: refused.
 */
function toOriginForm(req: IncomingMessage): boolean {
  const match = ABSOLUTE_FORM_RE.exec(req.url ?? '');
  if (match === null) return false;
  const [, authority = '', rest = ''] = match;
  if (!HOST_RE.test(authority)) return false;
  req.url = rest.charCodeAt(0) === SLASH ? rest : `/${rest}`;
  req.headers.host = authority;
  return true;
}

/**
 * A `Host` value (RFC 9112 §3.2, RFC 3986 §3.2.2): uri-host — a reg-name (IPv4 is one), `[IPv6]` or
 * `[vFuture]` — then an optional `:port`. An empty value is valid (a target without authority).
 */
const HOST_RE = /^(?:\[(?:[0-9A-Fa-f:.]+|[vV][0-9A-Fa-f]+\.[-\w.~!$&'()*+,;=:]+)\]|(?:[-\w.~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?$/;

/**
 * Why `req`'s `Host` must be refused (RFC 9112 §3.2: 400 for an HTTP/1.1 request without one, and
 * for any request with more than one or with an invalid value), or `null`. Node keeps only the first
 * of several in `req.headers` and checks none of this (and its missing-Host check is off, see
 * `requireHostHeader`), so the raw lines are read: one pass, a regex on the value.
 */
function hostRefusalOf(req: IncomingMessage): string | null {
  const raw = req.rawHeaders;
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    if (host !== undefined) return 'A request may carry only one Host header.';
    host = raw[i + 1] as string;
  }
  if (host === undefined) return req.httpVersionMajor === 1 && req.httpVersionMinor === 1 ? 'An HTTP/1.1 request needs a Host header.' : null;
  return HOST_RE.test(host) ? null : 'The Host header is not a valid host[:port].';
}

/**
 * Most answers one connection has in progress (not yet sent in full) before the requests pipelined
 * behind them wait (at most `MAX_HELD_REQUESTS` of them). Browsers never pipeline (one request at a
 * time per connection); without a cap one connection that pipelined 200,000 requests and read no
 * answer had 83,408 of them run and their answers held (1.36 GB, the event loop stuck for 30 s).
 * The requests wait rather than being refused: a client that does read gets every answer, in order.
 */
export const MAX_ANSWERS_IN_PROGRESS = 32;

/**
 * Most requests one connection may have waiting (`held`) behind its answers in progress; one more
 * closes the connection. Pausing the socket does not stop the reading: Node's parser reads on after
 * every complete request (`readStart` in `parserOnMessageComplete`, held back only by Node's own
 * `_paused`), so a client that pipelined requests behind an unsafe one and read no answer had every
 * request it sent held: 99,305 from 4.7 MB on one connection, 196 MB of heap, still growing. A
 * waiting request costs about 2 KB (its request and response objects): at most ~2 MB a connection.
 * Browsers never pipeline; a client that pipelines fewer than this many at once is never cut.
 */
export const MAX_HELD_REQUESTS = 1_024;

/** Per connection: the answers not yet sent in full, and how far it had been read when the last one was. */
interface Answering {
  readonly socket: Socket;
  /** Held requests' answers included. */
  readonly pending: Set<ServerResponse>;
  /**
   * Requests read but not yet handed to the app (`MAX_ANSWERS_IN_PROGRESS` were in progress, or
   * answers before it were and it or one of them is unsafe: `behindAnswers`), in arrival order, each with
   * what runs it; their answers are in `pending` too, after every answer not held.
   */
  readonly held: Map<ServerResponse, () => void>;
  readUpTo: number;
  /**
   * An answer on this connection closes it (`answerCloses`), or a refusal answered past `handle`
   * did: the requests after it are not run (`behindAnswers`).
   */
  closing: boolean;
  /**
   * Requests not run because the connection closes after an answer before them (`dropRequest` from
   * `handle`). Node still keeps each one's response, queued behind that answer until it is sent, so
   * past `MAX_HELD_REQUESTS` of them the connection ends at once (a stream answered with
   * `Connection: close` and 60,000 GETs pipelined behind it held 117 MB of heap).
   */
  dropped: number;
  /** What to do once `pending` is empty (the refusal of a malformed request pipelined behind them). */
  afterPending?: () => void;
}

/**
 * A connection's `Answering`, kept on its socket and on each of its answers, so that one shared
 * 'close' listener serves every answer: cheaper per request than a WeakMap lookup and a closure per
 * answer (and Node detaches `res.socket` once the answer is sent).
 */
const ANSWERING = Symbol('livecomponents.answering');
type AnsweringSocket = Socket & { [ANSWERING]?: Answering };
type TrackedAnswer = ServerResponse & { [ANSWERING]: Answering };

function answeringOf(socket: AnsweringSocket): Answering {
  return (socket[ANSWERING] ??= { socket, pending: new Set(), held: new Map(), readUpTo: 0, closing: false, dropped: 0 });
}

/** What `answerCloses` reads of an answer: Node's own fields, set when its head is stored. */
type ClosableAnswer = ServerResponse & { _last?: boolean };

/**
 * Whether `res` closes its connection once sent: Node decided so in its head (`_last`: `Connection:
 * close` a handler set, an answer to HTTP/1.0 without `Content-Length`, such as a 204 or a stream,
 * which Node can only end by closing; a request that did not ask to keep the connection), or, head
 * not yet written, the request did not ask to keep it (`shouldKeepAlive`: `Connection: close`, or
 * HTTP/1.0 without keep-alive — RFC 9112 §9.6: no request after it is processed).
 */
function answerCloses(res: ClosableAnswer): boolean {
  return res.headersSent ? res._last === true : !res.shouldKeepAlive;
}

const RUN = 0;
const WAIT = 1;
const DROP = 2;

/**
 * What becomes of `next`, a request read while answers before it on its connection are in progress
 * (pipelined), or the first held one (`runHeld`).
 *
 * - `DROP` when one of those answers closes the connection (`answerCloses`; remembered). Node still
 *   emits the requests pipelined behind such an answer, and queues their answers behind it: they
 *   would never be sent, so the client could not tell their routes ran (an action's effects without
 *   its answer).
 * - `WAIT` unless it and all of those are of safe methods (RFC 9112 §9.3.2: only such a sequence may
 *   run in parallel): it runs once they are sent (`runHeld`), when it is known whether one closes the
 *   connection. A safe one that runs alongside (GETs) has no effects to lose if one turns out to.
 * - `RUN` otherwise.
 *
 * Only the answers in progress are read, at most `MAX_ANSWERS_IN_PROGRESS`: `pending` is in arrival
 * order, the held ones last.
 */
function behindAnswers(state: Answering, next: ServerResponse): typeof RUN | typeof WAIT | typeof DROP {
  if (state.closing) return DROP;
  const safe = isSafe(next.req);
  let parallel = true;
  for (const res of state.pending) {
    if (res === next || state.held.has(res)) break;
    if (answerCloses(res)) {
      state.closing = true;
      return DROP;
    }
    parallel &&= safe && isSafe(res.req);
  }
  return parallel ? RUN : WAIT;
}

/**
 * A request not run: the connection closes after an answer before it. Its answer, queued behind that
 * one by Node, is never written; Node ends the connection once that answer is sent (its own
 * `destroySoon`), and the request with it. No longer counted as in progress.
 */
function dropRequest(state: Answering, res: ServerResponse): void {
  state.pending.delete(res);
}

/** `dropRequest` for a request just read; past `MAX_HELD_REQUESTS` of them the connection ends (`Answering.dropped`). */
function dropArrived(state: Answering, res: ServerResponse): void {
  dropRequest(state, res);
  if (++state.dropped > MAX_HELD_REQUESTS) state.socket.destroy();
}

/** RFC 9110 §9.2.1; RFC 9112 §9.3.2 lets a server run pipelined requests in parallel only when safe. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** GET, HEAD, OPTIONS, TRACE (`behindAnswers`). */
function isSafe(req: IncomingMessage): boolean {
  return SAFE_METHODS.has(req.method ?? '');
}

/** Notes `res` as an answer in progress on `socket` until it closes (sent in full, or the connection gone). */
function trackAnswer(socket: AnsweringSocket, res: ServerResponse): Answering {
  const state = answeringOf(socket);
  state.pending.add(res);
  (res as TrackedAnswer)[ANSWERING] = state;
  res.on('close', answerClosed);
  return state;
}

/**
 * Runs the request later (`runHeld`), and pauses the socket until then (which Node undoes after each
 * complete request it parses: `MAX_HELD_REQUESTS` bounds what waits); past the bound, closes the connection.
 */
function holdRequest(state: Answering, res: ServerResponse, run: () => void): void {
  if (state.held.size >= MAX_HELD_REQUESTS) {
    // Past the bound (see MAX_HELD_REQUESTS): the connection ends, its held requests are dropped
    // (`runHeld` on the answers' close) and those still in its last read are not run.
    state.closing = true;
    state.socket.destroy();
    return;
  }
  state.held.set(res, run);
  // Node's parser still hands over the requests already read (at most one read: 64 KiB); they wait too.
  state.socket.pause();
}

/** Answers the app is working on or has not finished sending: the pending ones not held. */
function inProgress(state: Answering): number {
  return state.pending.size - state.held.size;
}

/** Hands held requests to the app while fewer than `MAX_ANSWERS_IN_PROGRESS` are in progress; reads again once none waits. */
function runHeld(state: Answering): void {
  // A Map iterates in insertion order (arrival), and deleting the entry being visited is safe.
  for (const [res, run] of state.held) {
    if (inProgress(state) >= MAX_ANSWERS_IN_PROGRESS) break;
    // Checked before each, as one run may answer at once (a refusal) and close the connection.
    const next = state.socket.destroyed ? DROP : behindAnswers(state, res);
    if (next === WAIT) break;
    if (next === DROP) {
      // Their answers could never be sent: running them would have effects the client cannot see.
      for (const dropped of state.held.keys()) dropRequest(state, dropped);
      state.held.clear();
      return;
    }
    state.held.delete(res);
    run();
  }
  // Not while Node itself holds reading (`_paused`: answers written faster than the client reads):
  // it resumes by itself once the socket drains.
  if (state.held.size === 0 && state.afterPending === undefined && !(state.socket as Socket & { _paused?: boolean })._paused) state.socket.resume();
}

function answerClosed(this: TrackedAnswer): void {
  const state = this[ANSWERING];
  state.pending.delete(this);
  // Node ends the connection after it (`destroySoon`); requests still to come on it are not run.
  if ((this as ClosableAnswer)._last === true) state.closing = true;
  state.readUpTo = state.socket.bytesRead;
  // An answer sent before its body arrived that kept the connection: one written past Fastify's
  // onSend (`reply.hijack()`), whose head no `Connection: close` of ours reached. Node now reads the
  // rest of the body to its end (unread-body.ts): the connection ends instead, once the answer is
  // flushed. Decided once the read that brought the head is parsed: an answer written in it closes
  // here before a small body sent with the head is parsed, and that body costs nothing. After a body
  // was read, one property read (`complete`).
  if (bodyUnread(this.req)) afterRawHeadParsed(this.req, () => endIfBodyUnread(this.req, state.socket));
  if (state.held.size > 0) runHeld(state);
  if (state.pending.size === 0 && state.afterPending !== undefined) {
    const then = state.afterPending;
    state.afterPending = undefined;
    then();
  }
}

/** Ends `socket` once what it is sending is flushed, when `req`'s body is not all in (`answerClosed`). */
function endIfBodyUnread(req: IncomingMessage, socket: Socket): void {
  if (bodyUnread(req) && !socket.destroyed) socket.destroySoon();
}

/**
 * Runs `then` (answering Node's parser error, then closing the connection) once the answers to the
 * requests read in full before the malformed one are sent: at once, it threw them away although their
 * routes ran, and the client could not tell whether they had. The request the error cut short (a body
 * cut off or malformed) is not waited for: it can no longer complete. Reading stops meanwhile; Node
 * reports the parser's error again for any further bytes, which changes nothing.
 */
function afterPendingAnswers(socket: Socket, giveUpAfterMs: number, then: () => void): void {
  const state = (socket as AnsweringSocket)[ANSWERING];
  if (state === undefined) {
    then();
    return;
  }
  // Already waiting: a further parser error of the same connection.
  if (state.afterPending !== undefined) return;
  let waiting = false;
  for (const res of state.pending) {
    if (res.req.complete) waiting = true;
    else {
      // Cut short, never to run: a held one too (`runHeld` would run it once the answers before it are sent).
      state.pending.delete(res);
      state.held.delete(res);
    }
  }
  if (!waiting) {
    then();
    return;
  }
  state.afterPending = then;
  socket.pause();
  giveUpWhenNotRead(state, then, giveUpAfterMs);
}

/**
 * Closes the connection when, `ms` after the wait for its answers began (and every `ms` after), the
 * app has finished them all but they are still not sent: the client does not read. Without it a
 * client that never read waited out no timeout (one was held 145 s); an answer the app is still
 * working on is waited for, as `closeIdleOnTimeout` does.
 */
function giveUpWhenNotRead(state: Answering, waitingFor: () => void, ms: number): void {
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    if (state.afterPending !== waitingFor || state.socket.destroyed) return;
    for (const res of state.pending) {
      if (!res.writableEnded && !state.held.has(res)) {
        timer = setTimeout(check, ms).unref();
        return;
      }
    }
    state.afterPending = undefined;
    state.socket.destroy();
  };
  timer = setTimeout(check, ms).unref();
  state.socket.once('close', () => clearTimeout(timer));
}

/**
 * A socket's timeout (`connectionTimeout` until its first request and again once each next request's
 * headers are in, Node's `keepAliveTimeout` between requests) closes a silent connection: one that
 * sent nothing since it opened or since its last answer was sent, or that does not read an answer the
 * app has finished. It spares two: an answer the app is still working on (Node alone, with no
 * 'timeout' listener, destroys the socket even then, and a slow action would lose its answer), and a
 * request that has begun to arrive — Node's headers and request timeouts bound it, and answer it 408.
 */
function closeIdleOnTimeout(server: Server): void {
  server.on('timeout', (socket: AnsweringSocket) => {
    const state = socket[ANSWERING];
    if (state !== undefined && state.pending.size > 0) {
      // A held request is not being worked on: the client's not reading holds it.
      for (const res of state.pending) if (!res.writableEnded && !state.held.has(res)) return;
    } else if (socket.bytesRead > (state?.readUpTo ?? 0)) {
      // Spared once per new bytes, with the timer armed again: a socket timer does not re-arm after it
      // fires, and bytes that never start a request (a bare CRLF after an answer: the parser skips it)
      // put the connection under no Node timeout at all — it would be held for ever. Armed past the
      // request timeout (Node checks it every quarter of it here), so a request that did begin gets
      // its 408 first.
      answeringOf(socket).readUpTo = socket.bytesRead;
      socket.setTimeout(Math.max(server.timeout, Math.ceil(server.requestTimeout * STRAY_BYTES_TIMEOUTS)) || server.keepAliveTimeout);
      return;
    }
    socket.destroy();
  });
}

/**
 * Closes a new connection at once when its client address (IPv6 by network, as the rate limiter
 * groups clients: `createClientIp`) already holds `cap` open, and emits the server's `'drop'` event
 * for it as Node does past `maxConnections`, so `livecomponents_connections_dropped_total` counts it.
 */
function capConnectionsPerAddress(server: Server, cap: number): void {
  const clientOf = createClientIp();
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined) return; // already closed by the client: nothing to hold
    const client = clientOf(address);
    const count = open.get(client) ?? 0;
    if (count >= cap) {
      socket.destroy();
      server.emit('drop', {
        localAddress: socket.localAddress,
        localPort: socket.localPort,
        localFamily: socket.localFamily,
        remoteAddress: address,
        remotePort: socket.remotePort,
        remoteFamily: socket.remoteFamily,
      });
      return;
    }
    open.set(client, count + 1);
    socket.once('close', () => {
      const left = (open.get(client) ?? 1) - 1;
      if (left > 0) open.set(client, left);
      else open.delete(client);
    });
  });
}

/**
 * Fastify's `trustProxy` for our setting. A hop count becomes the function form: since 5.12 Fastify
 * reads a numeric `trustProxy` as "trust nothing" (a count cannot check who the immediate peer is),
 * so `TRUST_PROXY=1` silently put every client behind the proxy in one rate-limit budget. PROTOCOL
 * keeps the hop count with proxy-addr's meaning — the `n` addresses nearest the app (the socket's
 * first) are proxies — which is exact only where nothing but the proxy reaches the app
 * (docs/deployment.md §5).
 */
function trustProxyOption(value: boolean | number | string | string[]): FastifyServerOptions['trustProxy'] {
  if (typeof value !== 'number') return value;
  if (!(Number.isInteger(value) && value >= 0)) throw new TypeError('serverOptions: a trustProxy hop count must be a whole number, 0 or more');
  const hops = value;
  return hops === 0 ? false : (_address: string, hop: number) => hop < hops;
}
