/** What the pipeline needs of a Fastify request (ids, client IP as resolved under `trustProxy`, headers). */
import type { FastifyRequest } from 'fastify';
import type { RequestInfo } from '../pipeline/types.js';

export function requestInfo(request: FastifyRequest): RequestInfo {
  return { requestId: String(request.id), ip: request.ip, method: request.method, url: request.url, headers: request.headers };
}
