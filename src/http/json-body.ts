/**
 * The JSON body parser of the action route and the auth API. JSON on the wire is UTF-8 (RFC 8259
 * §8.1), so a body in another charset, or whose bytes are not valid UTF-8, is refused: decoded
 * leniently, its bad bytes would become U+FFFD and be stored (in component state, in a password
 * hash) as something the client never sent. `__proto__` and `constructor.prototype` keys are
 * refused, not silently merged.
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { LiveError } from '../core/errors.js';

/** One object, not one per request. */
const JSON_PARSE_OPTIONS = { protoAction: 'error', constructorAction: 'error' } as const;

/** `charset=utf-8` (any case, quoted or not, or the common `utf8`), or none at all. */
const CHARSET_RE = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

function utf8Declared(contentType: string | undefined): boolean {
  const charset = contentType === undefined ? undefined : CHARSET_RE.exec(contentType)?.[1]?.toLowerCase();
  return charset === undefined || charset === 'utf-8' || charset === 'utf8';
}

/**
 * Makes `application/json` the only body type `app` (an encapsulated context) parses.
 * `allowEmpty`: a body of only whitespace parses to `undefined` (for routes that read nothing from
 * it) instead of being invalid JSON.
 */
export function useJsonBodies(app: FastifyInstance, options: { bodyLimit: number; allowEmpty?: boolean }): void {
  const allowEmpty = options.allowEmpty ?? false;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: options.bodyLimit }, (request, body, done) => {
    if (!utf8Declared(request.headers['content-type'])) return done(new LiveError('UNSUPPORTED_MEDIA_TYPE', { message: 'JSON bodies must be UTF-8.' }), undefined);
    const bytes = body as Buffer;
    if (!isUtf8(bytes)) return done(new LiveError('INVALID_REQUEST', { message: 'The body is not valid UTF-8.' }), undefined);
    const text = bytes.toString('utf8');
    if (allowEmpty && text.trim() === '') return done(null, undefined);
    try {
      done(null, secureJson.parse(text, undefined, JSON_PARSE_OPTIONS));
    } catch {
      done(new LiveError('INVALID_REQUEST', { message: 'The body is not valid JSON.' }), undefined);
    }
  });
}
