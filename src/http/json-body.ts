/**
 * The JSON body parser of the action route and the auth API. JSON on the wire is UTF-8 (RFC 8259
 * §8.1), so a body in another charset, or whose bytes are not valid UTF-8, is refused: decoded
 * leniently, its bad bytes would become U+FFFD and be stored (in component state, in a password
 * hash) as something the client never sent. `__proto__` and `constructor.prototype` keys are
 * refused, not silently merged. A string or key that is not well-formed Unicode (a lone surrogate,
 * which only a `\uD800`–`\uDFFF` escape can make: UTF-8 has no bytes for one) is refused too: the
 * page would show it as U+FFFD, and the next form post send U+FFFD back in its place. A body nested
 * deeper than `MAX_BODY_DEPTH`, or holding more than `MAX_BODY_VALUES` values, is refused before it
 * is parsed (`bodyBoundExceeded`, one pass over the bytes): parsing (and then walking) 1 MiB of
 * `[[[[…`, of `[[],[],…` or of an object with 100,000 keys took the event loop a quarter of a second
 * or more per request, with no session needed.
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { LiveError } from '../core/errors.js';
import {
  bodyBoundExceeded,
  boundError,
  JSON_PARSE_OPTIONS,
  MAX_BODY_DEPTH,
  MAX_BODY_VALUES,
  NOT_JSON_MESSAGE,
  NOT_UNICODE_MESSAGE,
  notWellFormed,
} from '../runtime/action-body.js';

/** `charset=utf-8` (any case, quoted or not, or the common `utf8`), or none at all. */
const CHARSET_RE = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

/** Whether a body's `Content-Type` declares UTF-8, or no charset (also read by the reference app's form parser). */
export function utf8Declared(contentType: string | undefined): boolean {
  const charset = contentType === undefined ? undefined : CHARSET_RE.exec(contentType)?.[1]?.toLowerCase();
  return charset === undefined || charset === 'utf-8' || charset === 'utf8';
}

/**
 * Makes `application/json` the only body type `app` (an encapsulated context) parses.
 * `allowEmpty`: a body of only whitespace parses to `undefined` (for routes that read nothing from
 * it) instead of being invalid JSON. `maxDepth`: deepest nesting of arrays and objects accepted, the
 * outermost one included; `maxValues`: most values accepted (the action body's `MAX_BODY_DEPTH` and
 * `MAX_BODY_VALUES` by default; the auth API's bodies are flat objects, well within both). Past
 * either, 400 `INVALID_REQUEST` without parsing. The action route relies on it: the runtime does not
 * check again what came through here.
 */
export function useJsonBodies(app: FastifyInstance, options: { bodyLimit: number; allowEmpty?: boolean; maxDepth?: number; maxValues?: number }): void {
  const allowEmpty = options.allowEmpty ?? false;
  const maxDepth = options.maxDepth ?? MAX_BODY_DEPTH;
  const maxValues = options.maxValues ?? MAX_BODY_VALUES;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: options.bodyLimit }, (request, body, done) => {
    if (!utf8Declared(request.headers['content-type'])) return done(new LiveError('UNSUPPORTED_MEDIA_TYPE', { message: 'JSON bodies must be UTF-8.' }), undefined);
    const bytes = body as Buffer;
    if (!isUtf8(bytes)) return done(new LiveError('INVALID_REQUEST', { message: 'The body is not valid UTF-8.' }), undefined);
    const bound = bodyBoundExceeded(bytes, maxDepth, maxValues);
    if (bound !== null) return done(boundError(bound, maxDepth, maxValues), undefined);
    const text = bytes.toString('utf8');
    if (allowEmpty && text.trim() === '') return done(null, undefined);
    let value: unknown;
    try {
      value = secureJson.parse(text, undefined, JSON_PARSE_OPTIONS);
    } catch {
      return done(new LiveError('INVALID_REQUEST', { message: NOT_JSON_MESSAGE }), undefined);
    }
    if (notWellFormed(text, value)) return done(new LiveError('INVALID_REQUEST', { message: NOT_UNICODE_MESSAGE }), undefined);
    done(null, value);
  });
}
