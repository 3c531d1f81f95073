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
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500;
  if (status === 413) return new LiveError('PAYLOAD_TOO_LARGE');
  if (status === 415) return new LiveError('UNSUPPORTED_MEDIA_TYPE');
  if (status === 404) return new LiveError('NOT_FOUND');
  if (status === 405) return new LiveError('METHOD_NOT_ALLOWED');
  if (status >= 400 && status < 500) return new LiveError('INVALID_REQUEST');
  return new LiveError('INTERNAL_ERROR', { message: fe?.message ?? String(error), cause: error });
}

export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const live = toLiveError(error);
  if (live.statusCode >= 500) {
    request.log.error({ err: error, code: live.code }, 'request failed');
  } else if (!isLiveError(error)) {
    request.log.info({ code: live.code, reason: (error as Error | null)?.message }, 'request refused');
  }
  const res = errorResponse(live, String(request.id), {});
  return reply.code(res.status).headers(res.headers).send(res.body);
}
