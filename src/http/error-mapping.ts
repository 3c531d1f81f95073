/**
 * Every failure becomes the JSON error shape of PROTOCOL §3. Fastify's own errors (body too large,
 * wrong media type, bad JSON) and the 4xx refusals of the app's hooks and plugins (a 401 of an auth
 * hook, `@fastify/rate-limit`'s 429) are mapped to our codes by status, logged at `info`; anything
 * unexpected is a 500 whose detail stays in the log — never a stack trace or an internal message on
 * the wire. A request whose client went away while it was being read is neither: nothing is answered
 * (no one is left to read it).
 */
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, LiveError, isLiveError, type ErrorCode } from '../core/errors.js';
import { createLogger } from '../ops/logging/index.js';
import { LOG_FIELDS } from '../ops/logging/fields.js';
import { errorResponse } from '../runtime/index.js';

/**
 * The registry's code for a refusal of the request by its status (a hook's, a plugin's or Fastify's
 * own 4xx); a 4xx without one of its own is `INVALID_REQUEST`.
 */
const CODE_BY_STATUS: ReadonlyMap<number, ErrorCode> = new Map<number, ErrorCode>([
  [401, 'UNAUTHENTICATED'],
  [403, 'FORBIDDEN'],
  [404, 'NOT_FOUND'],
  [405, 'METHOD_NOT_ALLOWED'],
  [408, 'REQUEST_TIMEOUT'],
  [413, 'PAYLOAD_TOO_LARGE'],
  [414, 'URI_TOO_LONG'],
  [429, 'RATE_LIMIT_EXCEEDED'],
  [431, 'HEADERS_TOO_LARGE'],
  [503, 'SERVICE_UNAVAILABLE'],
]);

/**
 * The 4xx status `error` asks for (or a Fastify plugin's 503), or `undefined`. Fastify's convention (its default error handler,
 * `http-errors`, `@fastify/rate-limit`, an app's `onRequest` hook throwing `{ statusCode: 401 }`) is
 * that an error's `statusCode` is the answer's: trusted when the error has no `code`, or one of
 * Fastify's (`FST_…`, which plugins built with `@fastify/error` use too). An error with a code of its
 * own (a payment SDK's `card_declined` with 402, a socket's `ECONNRESET`) describes a call the server
 * made, not this request: a 500. An action's own exceptions never come here (the runtime answers
 * them), only what Fastify, a hook, a plugin or a route of the app threw.
 */
function refusalStatusOf(error: Partial<FastifyError> | null): number | undefined {
  const status = error?.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status)) return undefined;
  const code: unknown = error?.code;
  const fastifys = typeof code === 'string' && code.startsWith('FST_');
  if (status >= 400 && status <= 499) return code === undefined || fastifys ? status : undefined;
  // A Fastify plugin shedding load answers 503 on purpose, with a Retry-After (`@fastify/under-pressure`'s
  // FST_UNDER_PRESSURE): as a 500 logged with its stack, every shed request was a failure at `error`.
  // A 503 without a Fastify code (an upstream's, carried by an HTTP client's error) stays a 500.
  return status === 503 && fastifys ? status : undefined;
}

/**
 * `route`: the Fastify instance of the request's route (`request.server`, its encapsulation
 * context), so a 415 can name the media types that route takes.
 */
export function toLiveError(error: unknown, route?: FastifyInstance): LiveError {
  if (isLiveError(error)) return error;
  const fe = error as Partial<FastifyError> | null;
  const status = refusalStatusOf(fe);
  if (status === undefined) return new LiveError('INTERNAL_ERROR', { message: fe?.message ?? String(error), cause: error });
  if (status === 415) return new LiveError('UNSUPPORTED_MEDIA_TYPE', { message: unsupportedMediaTypeMessage(route) });
  // The registry's sentence, not the error's: a plugin's message may name its internals.
  return new LiveError(CODE_BY_STATUS.get(status) ?? 'INVALID_REQUEST');
}

/** The media types a 415 may name, as a route's context takes them (`hasContentTypeParser`). */
const NAMED_MEDIA_TYPES = ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'] as const;

/**
 * The sentence of Fastify's 415 (no parser for the body's media type in the route's context): the
 * media types that route takes, so a form route does not say "must be JSON"; a neutral sentence when
 * it takes none of the common ones, or the route is unknown.
 */
function unsupportedMediaTypeMessage(route: FastifyInstance | undefined): string {
  const taken = route === undefined ? [] : NAMED_MEDIA_TYPES.filter((type) => route.hasContentTypeParser(type));
  if (taken.length === 1 && taken[0] === 'application/json') return ERROR_CODES.UNSUPPORTED_MEDIA_TYPE.message;
  if (taken.length === 0) return 'This route does not take a request body of this media type.';
  return `The request body must be ${taken.join(' or ')}.`;
}

/**
 * Logs the cause of a 5xx answer, with its stack: the answer itself shows none of it. `message`
 * names what failed when it was not the request's handler (an error page's render, say).
 */
export function logFailure(request: FastifyRequest, error: unknown, code: string, message = 'request failed'): void {
  failureLog(request).error({ err: error, code }, message);
}

let fallbackLog: FastifyBaseLogger | undefined;

/**
 * The request's logger, or — when the app's Fastify logger is off (Fastify's default: `Fastify()`
 * gives abstract-logging's logger, whose methods are all one function named `noop`) — one of our own
 * on standard output, as the security events have: a 500 whose cause is logged nowhere cannot be
 * fixed. A logger of the app's own (`loggerInstance`), or one it set to `silent`, is its choice and
 * is kept.
 */
function failureLog(request: FastifyRequest): FastifyBaseLogger {
  // pino's disabled levels are functions named `noop` too; a logger with a `level` is a real one.
  if (request.log.error.name !== 'noop' || request.log.level !== undefined) return request.log;
  fallbackLog ??= createLogger({ stream: process.stdout });
  return fallbackLog.child({ [LOG_FIELDS.requestId]: String(request.id) });
}

/**
 * Whether `error` is the one the request itself was destroyed with: the client closed the connection
 * (or Node's request timeout closed it) while the body was being read. Fastify hands that error to the
 * error handler as it would a parse error, with `code: 'ECONNRESET'` and `statusCode: 400`; it is not
 * a server failure. An `ECONNRESET` from anything else (a store's connection, say) is not the
 * request's own error, so it stays a 500.
 */
export function isClientAbort(error: unknown, request: FastifyRequest): boolean {
  return error != null && request.raw.errored === error;
}

/**
 * Answers `error` in PROTOCOL's shape — except a client abort (`isClientAbort`): that is logged at
 * `info` as `client aborted the request`, without a stack, and nothing is sent, so the reply stays
 * unsent and the HTTP metrics count the request once, as hung up (499), or as the 408/400 that Node's
 * parser answered when that is what closed the connection. Returns `undefined` then, which is also
 * what an error handler returns when it has nothing to send. A `LiveError` made by the caller is never
 * an abort: it is always answered.
 */
export function sendError(error: LiveError, request: FastifyRequest, reply: FastifyReply): FastifyReply;
export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined;
export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  if (isClientAbort(error, request)) {
    request.log.info({ reason: (error as Error).message }, 'client aborted the request');
    return undefined;
  }
  const live = withRetryAfter(toLiveError(error, request.server), error, reply);
  // A refusal by a hook or plugin (its status mapped to a registry code, a 503 among them) is its decision, not a failure.
  // Fastify's own handler timeout (`handlerTimeout`: FST_ERR_HANDLER_TIMEOUT, a 503) is a handler that hung: a failure.
  if (!isLiveError(error) && live.code !== 'INTERNAL_ERROR' && (error as Partial<FastifyError> | null)?.code !== 'FST_ERR_HANDLER_TIMEOUT') {
    request.log.info({ code: live.code, reason: (error as Error | null)?.message }, 'request refused');
  } else if (live.statusCode >= 500) {
    logFailure(request, error, live.code);
  }
  const res = errorResponse(live, String(request.id), {});
  return reply.code(res.status).headers(res.headers).send(res.body);
}

/**
 * A 429 of the app's own rate limiter (`@fastify/rate-limit`, a hook) carries PROTOCOL §3's
 * `retry_after`, read from the `Retry-After` header (whole seconds) the limiter set on the reply,
 * which stays on the answer. Its `limit` and `window` are the limiter's to know: not sent.
 */
function withRetryAfter(live: LiveError, error: unknown, reply: FastifyReply): LiveError {
  if (live.code !== 'RATE_LIMIT_EXCEEDED' || live === error) return live;
  const header = reply.getHeader('retry-after');
  const text = typeof header === 'number' ? String(header) : header;
  if (typeof text !== 'string' || !/^\d{1,10}$/.test(text)) return live;
  return new LiveError('RATE_LIMIT_EXCEEDED', { fields: { retry_after: Number(text) } });
}

/**
 * The error handler for an app's own routes (pages, forms): answers in PROTOCOL's shape, as the
 * action route does, with a 5xx's detail in the log only. `app.setErrorHandler(livecomponentsErrorHandler)`
 * first, before registering plugins: a route takes the error handler its plugin had when the plugin
 * finished loading, so a plugin registered earlier keeps Fastify's default (its `message` on the wire).
 */
export function livecomponentsErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  return sendError(error, request, reply);
}
