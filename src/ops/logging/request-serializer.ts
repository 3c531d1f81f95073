/**
 * The `req` of request log lines ("incoming request"): Fastify's own fields, with what a client
 * chose made safe for a terminal and a line-based log, as security events make it
 * (`escapeControls`). `remoteAddress` is the client address, which with `TRUST_PROXY` is whatever
 * the nearest trusted hop's `X-Forwarded-For` named: kilobytes of text, C1 controls (`\u009b`, a
 * terminal's CSI) included, since Node's parser refuses those only in the URL and `Host`. It is cut
 * like `source_ip`. The URL and host are escaped too: one regex test for clean text.
 */
import type { FastifyRequest } from 'fastify';
import { escapeControls, MAX_SOURCE_IP, requestText } from '../security-logger.js';

/** Anything else logged under `req` (an app's own object) is written as it is, as before. */
export function serializeRequest(req: unknown) {
  if (!isFastifyRequest(req)) return req;
  const version = req.headers['accept-version'];
  return {
    method: req.method,
    url: escapeControls(req.url),
    version: typeof version === 'string' ? escapeControls(version) : undefined,
    host: escapeControls(req.host),
    remoteAddress: requestText(req.ip, MAX_SOURCE_IP),
    remotePort: req.socket?.remotePort,
  };
}

function isFastifyRequest(value: unknown): value is FastifyRequest {
  return typeof value === 'object' && value !== null && 'raw' in value && 'ip' in value;
}
