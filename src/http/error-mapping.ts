/**
 * Every failure becomes the JSON error shape of PROTOCOL §3. Fastify's own errors (body too large,
 * wrong media type, bad JSON) are mapped to our codes; anything unexpected is a 500 whose detail
 * stays in the log — never a stack trace or an internal message on the wire.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { LiveError, isLiveError } from '../core/errors.js';
import { errorResponse } from '../runtime/index.js';

export function toLiveError(error: unknown): LiveError {
  if (isLiveError(error)) return error;
  const fe = error as Partial<FastifyError> | null;
  // Only Fastify's own errors (`FST_…` codes) say what was wrong with the request; another error's
  // `statusCode` (an HTTP client library's, say) is about something else: a 500.
  const status = typeof fe?.statusCode === 'number' && typeof fe.code === 'string' && fe.code.startsWith('FST_') ? fe.statusCode : 500;
  if (status === 413) return new LiveError('PAYLOAD_TOO_LARGE');
  if (status === 415) return new LiveError('UNSUPPORTED_MEDIA_TYPE');
  if (status === 404) return new LiveError('NOT_FOUND');
  if (status === 405) return new LiveError('METHOD_NOT_ALLOWED');
  if (status >= 400 && status < 500) return new LiveError('INVALID_REQUEST');
  return new LiveError('INTERNAL_ERROR', { message: fe?.message ?? String(error), cause: error });
}

/** Logs the cause of a 5xx answer, with its stack: the answer itself shows none of it. */
export function logFailure(request: FastifyRequest, error: unknown, code: string): void {
  request.log.error({ err: error, code }, 'request failed');
}

export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const live = toLiveError(error);
  if (live.statusCode >= 500) {
    logFailure(request, error, live.code);
  } else if (!isLiveError(error)) {
    request.log.info({ code: live.code, reason: (error as Error | null)?.message }, 'request refused');
  }
  const res = errorResponse(live, String(request.id), {});
  return reply.code(res.status).headers(res.headers).send(res.body);
}
