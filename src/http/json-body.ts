/**
 * The JSON body parser of the action route and the auth API. JSON on the wire is UTF-8 (RFC 8259
 * §8.1), so a body in another charset, or whose bytes are not valid UTF-8, is refused: decoded
 * leniently, its bad bytes would become U+FFFD and be stored (in component state, in a password
 * hash) as something the client never sent. `__proto__` and `constructor.prototype` keys are
 * refused, not silently merged. A body nested deeper than `MAX_BODY_DEPTH` is refused before it is
 * parsed: parsing (and then walking) 1 MiB of `[[[[…` took the event loop a quarter of a second or
 * more per request, before the action body's depth check refused it anyway.
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { LiveError } from '../core/errors.js';
import { MAX_BODY_DEPTH, tooDeepMessage } from '../runtime/action-body.js';

/** One object, not one per request. */
const JSON_PARSE_OPTIONS = { protoAction: 'error', constructorAction: 'error' } as const;

/** `charset=utf-8` (any case, quoted or not, or the common `utf8`), or none at all. */
const CHARSET_RE = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

function utf8Declared(contentType: string | undefined): boolean {
  const charset = contentType === undefined ? undefined : CHARSET_RE.exec(contentType)?.[1]?.toLowerCase();
  return charset === undefined || charset === 'utf-8' || charset === 'utf8';
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/**
 * Whether the JSON text `bytes` opens more than `max` arrays or objects inside one another, counted
 * outside strings (a `"` starts or ends one, a backslash escapes the byte after it). One pass over the
 * bytes, no allocation; it does not validate anything else (the parser does). Scanning UTF-8 bytes is
 * exact: every byte of a multi-byte character is 0x80 or more, never one of these ASCII marks.
 */
export function nestingExceeds(bytes: Uint8Array, max: number): boolean {
  const length = bytes.length;
  // Valid JSON of N bytes nests at most N/2 deep (each level opens and closes). Shorter invalid text
  // (`[[[[` unclosed) is refused by the parser, in no time at this size.
  if (length <= 2 * max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      depth--;
    }
  }
  return false;
}

/**
 * Makes `application/json` the only body type `app` (an encapsulated context) parses.
 * `allowEmpty`: a body of only whitespace parses to `undefined` (for routes that read nothing from
 * it) instead of being invalid JSON. `maxDepth`: deepest nesting of arrays and objects accepted, the
 * outermost one included (the action body's `MAX_BODY_DEPTH` by default; the auth API's bodies are
 * flat objects, well within it); deeper is 400 `INVALID_REQUEST` without parsing.
 */
export function useJsonBodies(app: FastifyInstance, options: { bodyLimit: number; allowEmpty?: boolean; maxDepth?: number }): void {
  const allowEmpty = options.allowEmpty ?? false;
  const maxDepth = options.maxDepth ?? MAX_BODY_DEPTH;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: options.bodyLimit }, (request, body, done) => {
    if (!utf8Declared(request.headers['content-type'])) return done(new LiveError('UNSUPPORTED_MEDIA_TYPE', { message: 'JSON bodies must be UTF-8.' }), undefined);
    const bytes = body as Buffer;
    if (!isUtf8(bytes)) return done(new LiveError('INVALID_REQUEST', { message: 'The body is not valid UTF-8.' }), undefined);
    if (nestingExceeds(bytes, maxDepth)) return done(new LiveError('INVALID_REQUEST', { message: tooDeepMessage(maxDepth) }), undefined);
    const text = bytes.toString('utf8');
    if (allowEmpty && text.trim() === '') return done(null, undefined);
    try {
      done(null, secureJson.parse(text, undefined, JSON_PARSE_OPTIONS));
    } catch {
      done(new LiveError('INVALID_REQUEST', { message: 'The body is not valid JSON.' }), undefined);
    }
  });
}
