/**
 * URLs in `html` templates as the browser reads them: an attribute value's character references,
 * where a URL starts and whether its origin is fixed. Which attributes are resources, and the
 * messages: html-rules.ts.
 */
import { INNER_COMMA, INNER_SEMICOLON, INNER_SPACE } from './html-plan.js';

/**
 * Whether `start`, the start of a URL (`urlStart`), is a URL of code or of a page the browser renders
 * from its text. Not: a `data:` image, audio or video, nor `data:text/plain` whose media type the
 * template ends with its `,` (`<a download="notes.txt" href="data:text/plain;charset=utf-8,${text}">`:
 * plain text runs nothing, and Chromium does not navigate a page to a data: URL, only downloads it).
 */
export function runsCode(start: string): boolean {
  const url = start.replace(/[\u0000-\u0020\u007f]/g, '');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  return scheme === 'javascript' || scheme === 'vbscript' || (scheme === 'data' && !/^data:(?:(?:image|audio|video)\/|text\/plain(?:;[^,]*)?,)/i.test(url));
}

/**
 * Named references that give ASCII characters a URL's scheme, host or path start is made of or ends at
 * (or a URL list's separators: `&comma;`),
 * spelled as HTML spells them: names are case-sensitive (`&Tab;`, never `&tab;`; `&SOL;` is not `/` but
 * its own text, which Chromium keeps in a host: `https://cdn.example.com&SOL;.evil.test/`).
 */
const NAMED: Readonly<Record<string, string>> = {
  amp: '&', AMP: '&', lt: '<', LT: '<', gt: '>', GT: '>', quot: '"', QUOT: '"', apos: "'", colon: ':', Tab: '\t', NewLine: '\n',
  plus: '+', period: '.', sol: '/', bsol: '\\', quest: '?', num: '#', semi: ';', comma: ',', commat: '@',
};
const REFERENCE = /&(?:#(\d+)|#[xX]([0-9a-fA-F]+)|([a-zA-Z]+));?/g;

function decodeReference(match: string, dec?: string, hex?: string, name?: string): string {
  if (name !== undefined) return Object.hasOwn(NAMED, name) ? (NAMED[name] as string) : match;
  const code = dec !== undefined ? Number.parseInt(dec, 10) : Number.parseInt(hex ?? '', 16);
  return code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff) ? String.fromCodePoint(code) : '\ufffd';
}

/** An attribute value as the browser reads it (its character references decoded), enough for the URL checks. */
export function decodeAttribute(value: string): string {
  return value.includes('&') ? value.replace(REFERENCE, decodeReference) : value;
}

/**
 * The start of a URL as the URL parser reads it, from an attribute value's text, up to the first `&`
 * not known to decode (a reference this table lacks, or one the text after it could complete):
 * tab, LF and CR dropped, leading spaces and controls too.
 */
export function urlStart(value: string): string {
  let decoded = value;
  if (value.includes('&')) {
    decoded = '';
    let at = 0;
    for (const match of value.matchAll(REFERENCE)) {
      const [text, dec, hex, name] = match;
      const char = text.endsWith(';') ? decodeReference(text, dec, hex, name) : text;
      decoded += value.slice(at, match.index);
      if (char === text) return normalise(decoded);
      decoded += char;
      at = match.index + text.length;
    }
    const rest = value.slice(at);
    const amp = rest.indexOf('&');
    decoded += amp < 0 ? rest : rest.slice(0, amp);
  }
  return normalise(decoded);
}

const normalise = (url: string): string => url.replace(/[\t\n\r]/g, '').replace(/^[\u0000-\u0020]+/, '');

/**
 * Whether `start`, the start of a URL (`urlStart`), fixes its origin whatever follows: an http(s) URL
 * whose host ends (`https://cdn.example.com/`), a path from the root (`/static/`, not `/` alone nor
 * `//`), a relative path that cannot grow into a scheme (`./`, `assets/`, `?v=`). Not: `''`,
 * `https://`, `https://cdn.example.com` (`.evil.test` could follow), `//`, `/`, `app` (`app:` could).
 */
export function originSettled(start: string): boolean {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(start);
  if (scheme !== null) return /^https?$/i.test(scheme[1] ?? '') && /^[/\\]*[^/\\?#]+[/\\?#]/.test(start.slice(scheme[0].length));
  if (/^[/\\]{2}/.test(start)) return /^[/\\]+[^/\\?#]+[/\\?#]/.test(start);
  if (/^[/\\]/.test(start)) return start.length > 1;
  return start !== '' && !/^[a-zA-Z][a-zA-Z0-9+.-]*$/.test(start);
}

/** One character reference, at `lastIndex`. */
const REFERENCE_AT = /&(?:#\d+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);?/y;

/** The character at `k` of an attribute value's text as the browser reads it, and how long its text is (a reference). */
function charAt(text: string, k: number): [string, number] {
  const char = text[k] as string;
  if (char !== '&') return [char, 1];
  REFERENCE_AT.lastIndex = k;
  const reference = REFERENCE_AT.exec(text)?.[0];
  return reference === undefined ? [char, 1] : [decodeAttribute(reference), reference.length];
}

/**
 * Where, in `text` (an attribute value's static text right before a value), the URL that value goes
 * on starts, when what the text holds of it is a `/` or `\` alone (leading spaces and controls, and
 * tab, LF and CR anywhere, not counted): the value must not make it `//host` (`keepRoot`). Else -1.
 * `starts`: `text` starts the attribute value. `list`: the value is a URL list (`srcset`, `ping`, SVG
 * animation values), where a URL also starts after white space, `,` or `;`.
 */
export function rootAt(text: string, starts: boolean, list: boolean): number {
  let from = starts ? 0 : -1;
  let slashes = 0;
  let other = false;
  for (let k = 0; k < text.length; ) {
    const [char, length] = charAt(text, k);
    k += length;
    if (list && /^[\s,;]$/.test(char)) {
      from = k;
      slashes = 0;
      other = false;
    } else if (char === '/' || char === '\\') slashes++;
    else if (!(/^[\t\n\r]$/.test(char) || (slashes === 0 && /^[\u0000-\u0020]$/.test(char)))) other = true;
  }
  return from >= 0 && slashes === 1 && !other ? from : -1;
}

/**
 * In `url` (an attribute value, escaped, from a `/` of the template's that `rootAt` found), the `/` or
 * `\` that would come right after that one, as the URL parser reads it (tab, LF and CR dropped): its
 * offset and length, to be written `%2F` / `%5C` (`href="/${'/evil.test'}"` stays a path on this
 * origin, `/%2Fevil.test`, not `//evil.test`, another host); else null. It may be the template's text
 * after an empty value (`/${''}/edit`).
 */
export function secondSlash(url: string): readonly [number, number, string] | null {
  let slashes = 0;
  // As charAt, without a pair per character: this runs at render.
  for (let k = 0; k < url.length; ) {
    let char = url[k] as string;
    let length = 1;
    if (char === '&') {
      REFERENCE_AT.lastIndex = k;
      const reference = REFERENCE_AT.exec(url)?.[0];
      if (reference !== undefined) {
        char = decodeAttribute(reference);
        length = reference.length;
      }
    }
    if (char === '/' || char === '\\') {
      if (slashes++ === 1) return [k, length, char === '/' ? '%2F' : '%5C'];
    } else if (!(/^[\t\n\r]$/.test(char) || (slashes === 0 && /^[\u0000-\u0020]$/.test(char)))) return null;
    k += length;
  }
  return null;
}

/**
 * Whether a value in the URL list `name` (`ping`, `srcset`, `imagesrcset`, SVG animation values) has
 * text of its candidate before it, in `text` (the attribute value's text before the value, U+0001 for
 * each earlier value), and which separators it must then not write (`Plan.urls.inner`): `ping`'s URLs
 * end at white space, `srcset`'s candidates (a URL and its descriptors) at `,`, animation values at `;`.
 */
export function listInner(name: string, text: string): number {
  const decoded = decodeAttribute(text);
  if (name === 'ping') return /[^\t\n\f\r ]$/.test(decoded) ? INNER_SPACE : 0;
  const comma = name === 'srcset' || name === 'imagesrcset';
  const candidate = decoded.slice(decoded.lastIndexOf(comma ? ',' : ';') + 1);
  return !/[^\t\n\f\r ]/.test(candidate) ? 0 : comma ? INNER_COMMA : INNER_SEMICOLON;
}
