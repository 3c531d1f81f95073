/**
 * Serves the browser runtime bundle, read once at start-up, with a strong ETag so browsers
 * revalidate cheaply (the URL is fixed by PROTOCOL §2, so it cannot be content-hashed).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ROUTES } from '../core/wire.js';

/** The package root: the nearest folder above this file holding our package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate) && (JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === 'livecomponents') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('livecomponents: package root not found');
    dir = parent;
  }
}

export const DEFAULT_CLIENT_BUNDLE = join(packageRoot(), 'dist', 'client', 'livecomponents.js');

export function registerClientAsset(app: FastifyInstance, bundlePath = DEFAULT_CLIENT_BUNDLE): void {
  if (!existsSync(bundlePath)) {
    throw new Error(`livecomponents: browser runtime not found at ${bundlePath}; run "npm run build" first`);
  }
  const body = readFileSync(bundlePath);
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  app.get(ROUTES.clientScript, (request, reply) =>
    sendTagged(request, reply.header('cache-control', 'public, max-age=300, must-revalidate'), { body, type: 'text/javascript; charset=utf-8', etag }),
  );
}

/**
 * Answers a static file read once (`body`, its `type` and entity-tag `etag`): 304 when
 * `If-None-Match` matches the tag, else the bytes; `ETag` and `nosniff` either way. For the browser
 * runtime and an app's own assets (the reference app's).
 */
export function sendTagged(request: FastifyRequest, reply: FastifyReply, file: { body: Buffer; type: string; etag: string }): FastifyReply {
  reply.header('etag', file.etag).header('x-content-type-options', 'nosniff');
  // No Content-Type on a 304 (RFC 9110 §15.4.5: it describes a body the answer does not have).
  // Nor a Content-Length, which may only be the 200's (§8.6): Fastify's HEAD handler writes `0` for
  // an empty payload and none for a stream, so a HEAD's 304 gets an empty stream.
  if (noneMatchHas(request.headers['if-none-match'], file.etag)) return reply.code(304).send(request.method === 'HEAD' ? Readable.from([]) : undefined);
  return reply.header('content-type', file.type).send(file.body);
}

/** One entity-tag of an `If-None-Match` list: `W/` (dropped: the comparison is weak), then the quoted tag. */
const ENTITY_TAG_RE = /(?:W\/)?("[^"]*")/g;

/**
 * Whether `If-None-Match` matches `etag` (RFC 9110 §13.1.2): `*`, or a comma-separated list of
 * entity-tags compared weakly — `W/"x"` matches `"x"`. Browsers send the tag back as given, but a
 * proxy or CDN may weaken it (compression) or send several.
 */
export function noneMatchHas(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header === etag) return true;
  if (header.trim() === '*') return true;
  for (const match of header.matchAll(ENTITY_TAG_RE)) if (match[1] === etag) return true;
  return false;
}
