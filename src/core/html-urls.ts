/**
 * URLs in `html` templates as the browser reads them: an attribute value's character references,
 * where a URL's origin is fixed, and the resource URLs whose origin the template's text must fix.
 */

/**
 * Attributes that load what runs in, or rules, our page, by tag: a script (`<script src>`, SVG's
 * `href`), every relative URL after it (`<base href>`), a plugin or document (`<object data>`,
 * `<embed src>`, frames), a stylesheet or preload (`<link href>`, unless its rel only names a page:
 * `LINK_PAGE_RELS`). Escaping and the scheme check cannot help there: an https URL of an attacker's
 * site passes both. After safevalues' TrustedResourceUrl: the template's text must settle the origin.
 */
export const RESOURCE_ATTRS: Readonly<Record<string, readonly string[]>> = {
  script: ['src', 'href', 'xlink:href'], base: ['href'], object: ['data'], embed: ['src'], iframe: ['src'], frame: ['src'], link: ['href'],
};
/** `<link>` rels that name a page, which the browser does not load: `<link rel="canonical" href="${url}">` is a plain URL. */
export const LINK_PAGE_RELS: ReadonlySet<string> = new Set(['alternate', 'author', 'canonical', 'help', 'license', 'me', 'next', 'prev', 'privacy-policy', 'terms-of-service']);

export function resourceMessage(tag: string, name: string): string {
  const link = tag === 'link' ? ` (a rel other than ${[...LINK_PAGE_RELS].join(', ')})` : '';
  return `a value cannot choose where <${tag} ${name}>${link} loads from, in @: what it loads runs in, or rules, the page, and an https URL of any site passes the URL check; ` +
    `put the origin in the template (${name}="/static/\${file}", ${name}="https://cdn.example.com/\${path}"), or interpolate a URL you built yourself (from configuration, never from user input) as trustedUrl(url), the whole value`;
}

/** `<meta http-equiv="refresh" content="0;url=…">` navigates, unchecked: its content is refused a value. */
export const REFRESH_MESSAGE =
  'cannot interpolate into the content of <meta http-equiv="refresh"> in @: it sends the page to whatever URL it holds, and no check applies; send a redirect from the server (a 303 with Location) instead';

/**
 * A `<meta>` attribute whose name is interpolated, or the content of a `<meta>` whose http-equiv is not
 * written in the template (a fragment or name may make it refresh): refused a value.
 */
export const META_NAME_MESSAGE =
  'cannot interpolate into a <meta> whose attribute names (or http-equiv) are not written in the template, in @: http-equiv="refresh" sends the page to whatever URL its content holds, and no check applies; write the names in the template';

/**
 * A URL attribute whose static text starts a `javascript:` or `vbscript:` URL, or a `data:` one other
 * than an image, audio or video: the browser decodes the value's `&#39;` back to `'` before it runs
 * the code, so escaping does not keep a value a string there. A `trustedUrl()` is refused too: it may
 * choose a scheme where it starts the URL, and here the template has chosen one.
 */
export const CODE_URL_MESSAGE =
  'cannot interpolate into a javascript:, vbscript: or data: URL written in the template, in @: the browser decodes entities before it runs the code; put the value in a quoted data-… attribute and read it from a script file';

/** Whether `start`, the start of a URL (`urlStart`), is a URL of code or of a page the browser renders from its text. */
export function runsCode(start: string): boolean {
  const url = start.replace(/[\u0000-\u0020\u007f]/g, '');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  return scheme === 'javascript' || scheme === 'vbscript' || (scheme === 'data' && !/^data:(?:image|audio|video)\//i.test(url));
}

/**
 * Named references that give ASCII characters a URL's scheme, host or path start is made of or ends at,
 * spelled as HTML spells them: names are case-sensitive (`&Tab;`, never `&tab;`; `&SOL;` is not `/` but
 * its own text, which Chromium keeps in a host: `https://cdn.example.com&SOL;.evil.test/`).
 */
const NAMED: Readonly<Record<string, string>> = {
  amp: '&', AMP: '&', lt: '<', LT: '<', gt: '>', GT: '>', quot: '"', QUOT: '"', apos: "'", colon: ':', Tab: '\t', NewLine: '\n',
  plus: '+', period: '.', sol: '/', bsol: '\\', quest: '?', num: '#', semi: ';', commat: '@',
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
