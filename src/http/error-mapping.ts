/**
 * Every failure becomes the JSON error shape of PROTOCOL §3. Fastify's own errors (body too large,
 * wrong media type, bad JSON) are mapped to our codes; anything unexpected is a 500 whose detail
 * stays in the log — never a stack trace or an internal message on the wire. A request whose client
 * went away while it was being read is neither: nothing is answered (no one is left to read it).
 */
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, LiveError, isLiveError } from '../core/errors.js';
import { createLogger } from '../ops/logging/index.js';
import { LOG_FIELDS } from '../ops/logging/fields.js';
import { errorResponse } from '../runtime/index.js';

/**
 * `route`: the Fastify instance of the request's route (`request.server`, its encapsulation
 * context), so a 415 can name the media types that route takes.
 */
export function toLiveError(error: unknown, route?: FastifyInstance): LiveError {
  if (isLiveError(error)) return error;
  const fe = error as Partial<FastifyError> | null;
  // Only Fastify's own errors (`FST_…` codes) say what was wrong with the request; another error's
  // `statusCode` (an HTTP client library's, say) is about something else: a 500.
  const status = typeof fe?.statusCode === 'number' && typeof fe.code === 'string' && fe.code.startsWith('FST_') ? fe.statusCode : 500;
  if (status === 413) return new LiveError('PAYLOAD_TOO_LARGE');
  if (status === 415) return new LiveError('UNSUPPORTED_MEDIA_TYPE', { message: unsupportedMediaTypeMessage(route) });
  if (status === 404) return new LiveError('NOT_FOUND');
  if (status === 405) return new LiveError('METHOD_NOT_ALLOWED');
  if (status >= 400 && status < 500) return new LiveError('INVALID_REQUEST');
  return new LiveError('INTERNAL_ERROR', { message: fe?.message ?? String(error), cause: error });
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

/** Logs the cause of a 5xx answer, with its stack: the answer itself shows none of it. */
export function logFailure(request: FastifyRequest, error: unknown, code: string): void {
  failureLog(request).error({ err: error, code }, 'request failed');
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
  if (request.log.error.name !== 'noop') return request.log;
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
  const live = toLiveError(error, request.server);
  if (live.statusCode >= 500) {
    logFailure(request, error, live.code);
  } else if (!isLiveError(error)) {
    request.log.info({ code: live.code, reason: (error as Error | null)?.message }, 'request refused');
  }
  const res = errorResponse(live, String(request.id), {});
  return reply.code(res.status).headers(res.headers).send(res.body);
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
