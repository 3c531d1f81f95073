/**
 * What an `html` template's value must be where it lands, and the TypeError messages for the places
 * escaping cannot make safe. html-context.ts reads the template and picks the place; this module says
 * what the place asks. The messages name the place with `@` (`refusal` fills it in).
 */
import { ATTR } from './wire.js';

/** `…text before${…}`, naming an interpolation the way every `html` TypeError does. */
export function placeOf(strings: readonly string[], i: number): string {
  return `\`…${(strings[i] ?? '').slice(-40)}\${…}\``;
}

/** The TypeError message for `message`, whose ` in @` names the place of interpolation `i`. */
export function refusal(message: string, strings: readonly string[], i: number): string {
  // A function, so a `$&` or `$'` in the template's text is not read as a replacement pattern.
  return `html: ${message.replace(' in @', () => ` in ${placeOf(strings, i)}`)}`;
}

/**
 * Attributes holding a URL (HTML, SVG xlink, legacy), after Go html/template's attrTypeMap and
 * DOMPurify's URI attributes. `data` counts on `<object>` only.
 */
const URL_ATTRS: ReadonlySet<string> = new Set([
  'href', 'src', 'action', 'formaction', 'xlink:href', 'poster', 'cite', 'background', 'manifest', 'codebase',
  'longdesc', 'usemap', 'lowsrc', 'dynsrc', 'archive', 'classid', 'icon', 'profile',
]);
/** URL lists: each candidate is checked. */
const URL_LIST_ATTRS: ReadonlySet<string> = new Set(['srcset', 'imagesrcset', 'ping']);
/**
 * SVG animation elements: their `values`, `from`, `to` and `by` set the attribute `attributeName`
 * names, `href` included (`<set attributeName="href" to="javascript:…">` runs in Chromium), so each
 * `;`-separated value is checked as a URL.
 */
const ANIMATION_TAGS: ReadonlySet<string> = new Set(['animate', 'set', 'animatemotion', 'animatetransform', 'animatecolor']);
const ANIMATION_VALUES: ReadonlySet<string> = new Set(['values', 'from', 'to', 'by']);

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

/** What a value in a quoted attribute named `name` (lower case) of `tag` must be, or the TypeError message (with `@` for the place). */
export function attributeRule(name: string, tag: string): 'resource' | 'url' | 'urls' | 'style' | 'params' | 'text' | `!${string}` {
  if (name.startsWith('on')) {
    return `!cannot interpolate into the event handler attribute ${name} in @: the browser decodes entities before it runs the code; put the value in a quoted data-… attribute and read it from a script file`;
  }
  if (name === 'srcdoc') return '!cannot interpolate into srcdoc in @: the browser decodes entities and renders the value as a page; give the iframe a src URL instead';
  if (name === 'style') return 'style';
  if (name === ATTR.params) return 'params';
  // tag '': a fragment read as attributes, put into a tag not known here (<set ${…}>; a resource tag's is known: TAGGED).
  if (URL_LIST_ATTRS.has(name) || (ANIMATION_VALUES.has(name) && (tag === '' || ANIMATION_TAGS.has(tag)))) return 'urls';
  if (RESOURCE_ATTRS[tag]?.includes(name) === true) return 'resource';
  return URL_ATTRS.has(name) || (name === 'data' && (tag === 'object' || tag === '')) ? 'url' : 'text';
}

export function resourceMessage(tag: string, name: string): string {
  const link = tag === 'link' ? ` (a rel other than ${[...LINK_PAGE_RELS].join(', ')})` : '';
  return `a value cannot choose where <${tag} ${name}>${link} loads from, in @: what it loads runs in, or rules, the page, and an https URL of any site passes the URL check; ` +
    `put the origin in the template (${name}="/static/\${file}", ${name}="https://cdn.example.com/\${path}"), or interpolate a URL you built yourself (from configuration, never from user input) as trustedUrl(url), the whole value`;
}

/**
 * `<link ${'href'}="${url}">`: a value names the attribute, so the template does not say it is an
 * href, and the tag's rel is not read for it (a page's URL or a stylesheet's); refused as a resource.
 */
export const LINK_NAME_MESSAGE =
  'a value cannot choose where <link href> loads from when a value names the attribute, in @: the template does not say the value is an href, so the tag\'s rel is not read for it, and as a stylesheet or preload it would load from any origin; ' +
  'write the name in the template (<link rel="canonical" href="${url}"> takes any safe URL; a rel that loads takes an origin written in the template), or interpolate a URL you built yourself as trustedUrl(url)';

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
 * than an image, audio, video or plain text (`runsCode`): the browser decodes the value's `&#39;` back to `'` before it runs
 * the code, so escaping does not keep a value a string there. A `trustedUrl()` is refused too: it may
 * choose a scheme where it starts the URL, and here the template has chosen one.
 */
export const CODE_URL_MESSAGE =
  'cannot interpolate into a javascript:, vbscript: or data: URL written in the template, in @: the browser decodes entities before it runs the code; put the value in a quoted data-… attribute and read it from a script file';

/** `data-lc-params` built around a value, refused. */
export const PARAMS_MESSAGE =
  `cannot build ${ATTR.params} around an interpolation in @: a " in the value becomes &quot;, which the browser decodes back inside the JSON; ` +
  `pass the whole value built by JSON.stringify: ${ATTR.params}="\${JSON.stringify(params)}"`;

/** A value with text around it in an attribute whose name is interpolated. */
export const DYNAMIC_VALUE_MESSAGE =
  'cannot interpolate into the value of an attribute whose name is interpolated, with text around it, in @: what it holds (a URL, code…) is unknown; write the name in the template';

/** A value where the raw text after an `<svg>`, `<math>` or in a `<noscript>` is read two ways. */
export const AMBIGUOUS_MESSAGE =
  'cannot interpolate in @: in <noscript>, or after an <svg> or <math>, a </noscript>, </title>, </textarea>… in a comment or an attribute value is read by the browser either as text or as that end tag, so where the value lands is not known; take the end tag out of the comment or value';

/**
 * A fragment right after an attribute name that gives it a value: `<a hr${html`ef="${x}"`}>` is an
 * href for the browser, an `ef` for the fragment; `<meta http-equiv ${html` ="refresh"`}>` a refresh.
 */
export const NAME_VALUE_MESSAGE =
  'cannot put an html`…` fragment that gives a value to the attribute name written before it, in @: the browser reads hr${html`ef="${x}"`} as href="…" and href ${html` ="…"`} as href\'s value, which no check saw as that attribute; ' +
  'write the whole attribute, name and value, in the fragment (html` href="${url}"`) or in the template';

export const TAG_NAME_MESSAGE = 'cannot interpolate a tag name in @: write the tag in the template (pick between html`…` fragments)';

export const COMMENT_END_MESSAGE = 'cannot interpolate right before "->", "!>" or ">" in a comment, in @: the value could end the comment there; put a space after it';

export const SCRIPT_MESSAGE =
  'cannot interpolate inside <script> in @: entities are not decoded there, so escaping does not apply; put the value in a quoted data-… attribute and read it from the script';

export const STYLE_MESSAGE = 'cannot interpolate inside <style> in @: entities are not decoded there, so escaping does not apply; pick styles from a fixed set of classes';

export const MARKUP_DECLARATION_MESSAGE = 'cannot interpolate right after "<!" in @: the value could open a comment';

export const UNQUOTED_MESSAGE = 'cannot interpolate an unquoted attribute value in @: quote it (name="${…}"); unquoted, a space in the value starts another attribute';
