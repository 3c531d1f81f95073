/**
 * The reference app's form bodies (`application/x-www-form-urlencoded`, the only type its account
 * pages take), read strictly as UTF-8, as the JSON parser reads JSON (src/http/json-body.ts).
 * `URLSearchParams` decodes leniently: `password=correct-p%E4ssword-horse` (a Latin-1 `ä`), `%FF` or a
 * raw Latin-1 byte became U+FFFD, and signed in as a password the user never typed.
 */
import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LiveError } from '../../src/index.js';
import { utf8Declared } from '../../src/http/json-body.js';

/** A form's fields, the first of each name; no prototype, so a field named `__proto__` is just a field. */
export type FormFields = Record<string, string>;

const NOT_UTF8_MESSAGE = 'The form is not valid UTF-8 text.';

/**
 * The fields of a urlencoded body, or `null` when its bytes, or the bytes of a percent-escape, are
 * not UTF-8 (a lone `%` without two hex digits too: a browser always sends `%25`).
 * @example parseForm(Buffer.from('a=1+2&b=%C3%A9&a=3')) // { a: '1 2', b: 'é' }
 * @example parseForm(Buffer.from('password=p%E4ss')) // null
 */
export function parseForm(bytes: Buffer): FormFields | null {
  if (!isUtf8(bytes)) return null;
  const fields = Object.create(null) as FormFields;
  for (const pair of bytes.toString('utf8').split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeField(eq === -1 ? pair : pair.slice(0, eq));
    const value = decodeField(eq === -1 ? '' : pair.slice(eq + 1));
    if (name === null || value === null) return null;
    if (!(name in fields)) fields[name] = value;
  }
  return fields;
}

/** `decodeURIComponent` throws for an escape that is not UTF-8, a surrogate's (`%ED%A0%80`) included. */
function decodeField(encoded: string): string | null {
  try {
    return decodeURIComponent(encoded.replaceAll('+', ' '));
  } catch {
    return null;
  }
}

/**
 * Makes urlencoded forms the only body type `app` (an encapsulated context) parses. A charset other
 * than UTF-8 is 415 `UNSUPPORTED_MEDIA_TYPE`, as for JSON. A body that is not UTF-8 is parsed to a
 * 400 `INVALID_REQUEST` for the route to answer (`formOf`): the sign-in page shows it as it shows
 * its other refusals, rather than as the JSON a parser's error would be.
 */
export function useFormBodies(app: FastifyInstance, options: { bodyLimit: number }): void {
  app.removeAllContentTypeParsers();
  // Another type is 415 from the parser lookup, before the body is read: the plugin's onSend closes
  // the connection after it, or Node would read the body to its end (src/http/unread-body.ts).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer', bodyLimit: options.bodyLimit }, (request, body, done) => {
    if (!utf8Declared(request.headers['content-type'])) return done(new LiveError('UNSUPPORTED_MEDIA_TYPE', { message: 'Forms must be UTF-8.' }), undefined);
    done(null, parseForm(body as Buffer) ?? new LiveError('INVALID_REQUEST', { message: NOT_UTF8_MESSAGE }));
  });
}

/** The request's form fields (none without a body), or the `INVALID_REQUEST` its body was parsed to. */
export function formOf(request: FastifyRequest): FormFields | LiveError {
  const body = request.body ?? {};
  return body instanceof LiveError ? body : (body as FormFields);
}
