/**
 * The `html` tagged template: every interpolated value is escaped unless it is already `SafeHtml`.
 * The only way to put raw markup in is `unsafeRawHtml()`, named so it is easy to grep for in review.
 * Where a value lands (html-context.ts) decides what else it must be.
 */
import { analyse } from './html-context.js';
import { AFTER_NAME, INNER_COMMA, INNER_SEMICOLON, INNER_SPACE, META_NAMED, META_PLAIN, NAME, ORIGIN, REFUSED, STYLE, TAGGED, TEXT, URL_LIST, VALUE, type Plan } from './html-plan.js';
import { attributeRule, DYNAMIC_VALUE_MESSAGE, LINK_NAME_MESSAGE, META_NAME_MESSAGE, NAME_VALUE_MESSAGE, PARAMS_MESSAGE, placeOf, refusal, resourceMessage } from './html-rules.js';
import { decodeAttribute, originSettled, secondSlash, urlStart } from './html-urls.js';

const SAFE = Symbol('livecomponents.safeHtml');
/**
 * On a fragment that holds values: its strings and values, to read it again as attributes (when read
 * as text), or as attributes of the tag it is put into (`TAGGED`).
 */
const SOURCE = Symbol('livecomponents.safeHtml.source');

export interface SafeHtml {
  readonly [SAFE]: true;
  readonly value: string;
  toString(): string;
}

interface Source {
  readonly strings: TemplateStringsArray;
  readonly values: readonly HtmlValue[];
  /** Whether it was read as attributes already. */
  readonly inTag: boolean;
}

/** On a fragment whose template ends inside a tag, an attribute value, `<script>` or `<style>` (`Plan.open`). */
const OPEN = Symbol('livecomponents.safeHtml.open');

function safe(value: string, source?: Source, open = false): SafeHtml {
  const fragment = { [SAFE]: true as const, value, toString: () => value };
  if (open) Object.assign(fragment, { [OPEN]: true });
  return source === undefined ? fragment : Object.assign(fragment, { [SOURCE]: source });
}

export function isSafeHtml(value: unknown): value is SafeHtml {
  return typeof value === 'object' && value !== null && (value as { [SAFE]?: unknown })[SAFE] === true;
}

const TRUSTED_URL = Symbol('livecomponents.trustedUrl');
/** The objects `trustedUrl` made: a copy (`{ ...url }`, which keeps the symbol) or a look-alike is not one. */
const TRUSTED_URLS = new WeakSet<object>();

/** A URL its author built and trusts, from `trustedUrl()`: not markup (not a `SafeHtml`). */
export interface TrustedUrl {
  readonly [TRUSTED_URL]: true;
  readonly value: string;
  toString(): string;
}

function isTrustedUrl(value: unknown): value is TrustedUrl {
  return typeof value === 'object' && value !== null && TRUSTED_URLS.has(value);
}

/**
 * Marks a URL the author built and trusts, of any scheme (a `data:` image made on the server, a
 * `blob:`, `sms:` or `geo:` link): where it starts a URL attribute's value (or a `srcset` candidate)
 * and holds the scheme, `html` skips the `safeUrl` scheme check; it is still escaped. Where it starts
 * a resource URL (`<script src>`, `<link href>`…), it may choose the origin, which a string may not.
 * Anywhere else it is its text, as a string. Never pass user input: grep for it in review, as for
 * `unsafeRawHtml`.
 * @example html`<img src="${trustedUrl(`data:image/png;base64,${png.toString('base64')}`)}" alt="">`
 * @example html`<script type="module" src="${trustedUrl(`${config.cdn}/app.js`)}"></script>`
 */
export function trustedUrl(url: string): TrustedUrl {
  if (typeof url !== 'string') throw new TypeError(`trustedUrl takes a string, not ${url === null ? 'null' : typeof url}`);
  const trusted: TrustedUrl = Object.freeze({ [TRUSTED_URL]: true as const, value: url, toString: () => url });
  TRUSTED_URLS.add(trusted);
  return trusted;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};
const ESCAPE_RE = /[&<>"'`]/g;
const NEEDS_ESCAPE = /[&<>"'`]/;

/** Escapes text for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return NEEDS_ESCAPE.test(text) ? text.replace(ESCAPE_RE, (ch) => ESCAPES[ch] ?? ch) : text;
}

/**
 * A value the template accepts: text and numbers are escaped; `null`, `undefined` and `false` render
 * nothing. Any other object, a function or a symbol throws a TypeError. Where the value lands decides
 * the rest (see `html`).
 */
export type HtmlValue = SafeHtml | TrustedUrl | string | number | bigint | boolean | null | undefined | readonly HtmlValue[];

/** Strings a `style` attribute takes: no `url(`, `;`, `:`, `\\`, quotes, `/` or `*` (comments). */
const CSS_VALUE = /^[\w\s#%.,+-]*$/;
/** Strings where an attribute name goes: bare names (`checked`, `aria-hidden`), no `=`, quotes, `<>/`. */
const ATTR_NAMES = /^[\w\s:.-]*$/;

function renderValue(value: HtmlValue, strings: TemplateStringsArray, i: number, kind: number): string {
  if (value === null || value === undefined || value === false) return '';
  // Its text, as a string: what it skips is the URL check, in render.
  if (isTrustedUrl(value)) return renderValue(value.value, strings, i, kind);
  if (isSafeHtml(value)) {
    if (kind === VALUE || kind === STYLE || kind === ORIGIN) throw new TypeError(`html: cannot put an html\`…\` fragment or unsafeRawHtml() in an attribute value, in ${placeOf(strings, i)}: it is markup, and the attribute holds text; interpolate a string`);
    if ((value as { [OPEN]?: true })[OPEN] === true) throw new TypeError(openMessage(strings, i));
    if (kind !== NAME) return value.value;
    // A fragment read as text (html` download href="${url}"`) whose values are placed where attributes
    // go: read it again as attributes, so its values are checked as what they are there. One without
    // values (or unsafeRawHtml) must not end the tag there either: <p ${html` hidden>`}<script src="${x}">.
    const source = (value as { [SOURCE]?: Source })[SOURCE];
    if (source === undefined && attributesOpen(value.value)) throw new TypeError(openMessage(strings, i));
    return source === undefined || source.inTag ? value.value : renderAs(source, planOf(source.strings, ''), strings, i);
  }
  if (Array.isArray(value)) {
    if (kind === NAME) return joinNames(value as readonly HtmlValue[], (item) => renderValue(item, strings, i, NAME), strings, i);
    return (value as readonly HtmlValue[]).map((item) => renderValue(item, strings, i, kind)).join('');
  }
  const type = typeof value;
  // String() would put `[object Object]`, a function's source or `[object Promise]` on the page.
  if (type === 'object' || type === 'function' || type === 'symbol') throw new TypeError(notRenderable(value, strings, i));
  const text = String(value);
  if (kind === STYLE && type !== 'number' && type !== 'bigint' && !CSS_VALUE.test(text)) {
    throw new TypeError(
      `html: a style attribute takes numbers, or strings of letters, digits, _, spaces and # % . , + - only, in ${placeOf(strings, i)}: this string holds other characters (url(…), ;, :, quotes…); pick styles from a fixed set of classes`,
    );
  }
  if (kind === NAME && !ATTR_NAMES.test(text)) {
    throw new TypeError(`html: where an attribute name goes, in ${placeOf(strings, i)}, a string may only hold attribute names (checked, disabled); write name="value" pairs as html\` title="\${…}"\` fragments`);
  }
  return escapeHtml(text);
}

function openMessage(strings: TemplateStringsArray, i: number): string {
  return `html: cannot put an html\`…\` fragment that ends inside a tag, an attribute value, <script> or <style> in ${placeOf(strings, i)}: the template's text after it would land there unchecked; end the tag (or value) in the fragment`;
}

/** Whether `text`, a fragment without values, read as attributes ends the tag, or inside a value. */
function attributesOpen(text: string): boolean {
  let open = ATTRIBUTES_OPEN.get(text);
  if (open === undefined) {
    open = analyse([text], true).open;
    // Keyed by the template's own string (a fragment without values is its text): one per call site;
    // bounded, for unsafeRawHtml() text.
    if (text.length <= 512 && ATTRIBUTES_OPEN.size < 1024) ATTRIBUTES_OPEN.set(text, open);
  }
  return open;
}
const ATTRIBUTES_OPEN = new Map<string, boolean>();

/** `=` after an attribute name, white space and all: a value for it. */
const VALUE_START = /^[\t\n\f\r ]*=/;
/** Name characters, then `=`: the rest of a name and its value. */
const NAME_THEN_VALUE = /^[^\t\n\f\r />=]+[\t\n\f\r ]*=/;
/** Text that ends in an attribute name (not after a quoted value, white space or `/`). */
const ENDS_IN_NAME = /[^\t\n\f\r "'/>]$/;

/**
 * Whether `text`, where an attribute name goes after `before`, gives a value to a name it does not
 * write whole: `<a hr` + `ef="…"`, `<meta http-equiv ` + ` ="refresh"`. A name's value is checked as
 * the template that writes `=` reads the name, so a value there would be checked as another attribute.
 */
function givesValue(before: string, text: string): boolean {
  return VALUE_START.test(text) || (ENDS_IN_NAME.test(before) && NAME_THEN_VALUE.test(text));
}

/** Items where an attribute name goes, joined: refused where one gives a value to the name the one before ends with. */
function joinNames(items: readonly HtmlValue[], render: (item: HtmlValue) => string, strings: TemplateStringsArray, i: number): string {
  let text = '';
  for (const item of items) {
    const part = render(item);
    if (text !== '' && givesValue(text, part)) throw new TypeError(refusal(NAME_VALUE_MESSAGE, strings, i));
    text += part;
  }
  return text;
}

/** A fragment read again as attributes (`plan`): refused if, read so, it ends inside a value. */
function renderAs(source: Source, plan: Plan, strings: TemplateStringsArray, i: number): string {
  // Its own refusals first (html` title=${x}` ends in an unquoted value: that is what to fix).
  const text = render(source.strings, source.values, plan);
  if (plan.open) throw new TypeError(openMessage(strings, i));
  return text;
}

function notRenderable(value: unknown, strings: TemplateStringsArray, i: number): string {
  const name = typeof value === 'object' ? (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name : undefined;
  const what = typeof value !== 'object' ? `a ${typeof value}` : typeof name === 'string' && name !== '' && name !== 'Object' ? `a ${name}` : 'an object';
  const hint = name === 'Promise' ? ' (await it before rendering: render is synchronous)' : typeof value === 'function' ? ' (call it?)' : '';
  return `html: cannot render ${what}${hint} in ${placeOf(strings, i)}: interpolate strings, numbers, booleans, null/undefined, arrays, or html\`…\` fragments (for an object, pick its fields)`;
}

/** One plan per call site: a template's strings array is the same object at every call. */
const PLANS = new WeakMap<TemplateStringsArray, Plan>();
/** Templates read as attributes of a tag (`''`: not known), by tag: for a fragment put where an attribute name goes. */
const TAG_PLANS = new WeakMap<TemplateStringsArray, Map<string, Plan>>();

/** The template's plan; with `tag`, read as attributes of that tag. */
function planOf(strings: TemplateStringsArray, tag?: string): Plan {
  if (tag === undefined) {
    let plan = PLANS.get(strings);
    if (plan === undefined) PLANS.set(strings, (plan = analyse(strings)));
    return plan;
  }
  let byTag = TAG_PLANS.get(strings);
  if (byTag === undefined) TAG_PLANS.set(strings, (byTag = new Map()));
  let plan = byTag.get(tag);
  if (plan === undefined) byTag.set(tag, (plan = analyse(strings, true, tag)));
  return plan;
}

/**
 * A value where an attribute name goes in a resource tag or `<meta>` (`<script ${…}>`): a fragment
 * with values is rendered again as attributes of that tag, so `html\` src="${x}"\`` meets `<script src>`'s
 * rule. Anything else is as where any attribute name goes.
 */
function renderTagged(value: HtmlValue, strings: TemplateStringsArray, i: number, tag: string): string {
  if (Array.isArray(value)) return joinNames(value as readonly HtmlValue[], (item) => renderTagged(item, strings, i, tag), strings, i);
  const source = isSafeHtml(value) ? (value as { [SOURCE]?: Source })[SOURCE] : undefined;
  return source === undefined ? renderValue(value, strings, i, NAME) : renderAs(source, planOf(source.strings, tag), strings, i);
}

/**
 * Escapes every value, and checks it against where it lands, read from the template's static text:
 * - element text, `<textarea>`/`<title>` content, comments, quoted attribute values: escaped;
 * - a URL attribute (`href`, `src`, `action`, `srcset`…) whose scheme the static text before the value
 *   does not settle (no `/ ? # :`): the whole value, as the browser decodes it, goes through `safeUrl`
 *   (each candidate of `srcset`, `imagesrcset` and `ping`, each value an SVG animation sets) and
 *   becomes `#` when unsafe;
 *   a `trustedUrl()` that starts the value (or a list candidate) and holds the scheme skips that check;
 *   a `/` or `\` a value starts with right after a lone `/` of the template (that starts the URL, or a
 *   `srcset`, `ping`… candidate) is written `%2F` / `%5C` (no `//host`); a value inside a list's
 *   candidate writes the list's separators percent-encoded (no candidate of its own);
 * - a resource URL (`<script src>`, `<base href>`, `<iframe src>`, `<object data>`, `<embed src>`,
 *   `<link href>` unless its first rel names pages only): the static text before the first value must
 *   settle the origin (`/static/`, `/` alone, `./`, `https://cdn.example.com/`), or the value that starts it be a
 *   `trustedUrl()`; else a TypeError at render; a fragment put where an attribute name goes in such a
 *   tag (or a `<meta>`) is read again as that tag's attributes;
 * - a `style` attribute: numbers, and strings of letters, digits, `_`, spaces and `# % . , + -`;
 * - where an attribute name goes (`<input ${x}>`): html`…` fragments (read as attributes), and strings
 *   of bare names;
 * - TypeError at render: `on…` handlers, `srcdoc`, a URL the template starts with `javascript:`, `vbscript:` or `data:` (not an image,
 *   audio, video, nor `data:text/plain…,`), `<meta http-equiv="refresh">` content (or a `<meta>` whose names or http-equiv are
 *   interpolated, or not written in the template: a fragment's content takes a value when it or the tag writes name, property or
 *   itemprop and neither an http-equiv), `<script>`, `<style>`, a tag name, an unquoted
 *   attribute value, an html`…` fragment in an attribute value, `data-lc-params` built around a value,
 *   an html`…` fragment that ends inside a tag, a value, `<script>` or `<style>` where text or a name goes, or one
 *   put where a name goes that ends the tag or inside a value (with values or not), or that gives a value to
 *   the attribute name right before it (`hr${html`ef="${x}"`}`).
 * @example
 * html`<p class="greeting">Hello, ${user.name}!</p>` // user.name is escaped
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  // Called as html(text) or html([text]) it would pass text through unescaped, as trusted markup.
  if (!Array.isArray(strings) || !Array.isArray((strings as TemplateStringsArray).raw)) {
    throw new TypeError('html is a template tag: write html`…${value}…`; trusted markup goes through unsafeRawHtml()');
  }
  const plan = planOf(strings);
  return safe(render(strings, values, plan), values.length === 0 ? undefined : { strings, values, inTag: plan.inTag }, plan.open);
}

function render(strings: TemplateStringsArray, values: readonly HtmlValue[], plan: Plan): string {
  const { kinds, refusals, tags, urls } = plan;
  let out = strings[0] ?? '';
  // Most templates have no URL value to check: their loop keeps no spans.
  if (urls === null) {
    for (let i = 0; i < values.length; i++) {
      const kind = kinds[i] ?? TEXT;
      out += (kind >= REFUSED ? renderDynamic(kind, out, values[i], strings, i, refusals[i], tags[i] ?? '') : renderValue(values[i], strings, i, kind)) + (strings[i + 1] ?? '');
    }
    return out;
  }
  let open = urls.open[0] ?? -1;
  let mode = urls.mode[0] ?? 0;
  let trusted: (readonly [number, number])[] = []; // where trustedUrl() values are in `out`
  let root = -1; // where in `out` the URL (or list candidate) the template starts with a / alone begins
  for (let i = 0; i < values.length; i++) {
    const at = urls.roots[i] ?? -1;
    if (at >= 0) {
      const before = (strings[i] ?? '').length - at;
      // A list's earlier candidate ends where this one starts.
      if (root >= 0) out = keepRoot(out, root, out.length - before, trusted);
      root = out.length - before;
    }
    const kind = kinds[i] ?? TEXT;
    const start = out.length;
    // A resource URL that starts with a value: what is before this value must fix the origin, unless
    // it is the trustedUrl() that starts the URL.
    if (kind === ORIGIN && !(start === open && isTrustedUrl(values[i])) && !originSettled(urlStart(out.slice(open)))) throw new TypeError(refusals[i]);
    const text = kind >= REFUSED ? renderDynamic(kind, out, values[i], strings, i, refusals[i], tags[i] ?? '') : renderValue(values[i], strings, i, kind);
    const inner = urls.inner[i] ?? 0;
    out += inner === 0 ? text : text.replace(SEPARATORS[inner] as RegExp, percentEncode);
    if ((kind === VALUE || kind === ORIGIN) && isTrustedUrl(values[i])) trusted.push([start, out.length]);
    const next = strings[i + 1] ?? '';
    const close = urls.close[i + 1] ?? -1;
    if (close >= 0) {
      let end = out.length + close;
      out += next;
      if (root >= 0) {
        const length = out.length;
        out = keepRoot(out, root, end, trusted);
        end += out.length - length;
        root = -1;
      }
      const spans = trusted.filter(([s]) => s >= open).map(([s, e]) => [s - open, e - open] as const);
      if (!urlIsSafe(out.slice(open, end), (mode & URL_LIST) !== 0, spans)) out = `${out.slice(0, open)}#${out.slice(end)}`;
      trusted = [];
    } else out += next;
    const opens = urls.open[i + 1] ?? -1;
    if (opens >= 0) {
      open = out.length - next.length + opens;
      mode = urls.mode[i + 1] ?? 0;
    }
  }
  return out;
}

/**
 * By `Plan.urls.inner`: the separators a list value inside a candidate writes percent-encoded (escaped
 * text: its character references are kept whole, `&amp;` is not split at its `;`).
 */
const SEPARATORS: readonly (RegExp | undefined)[] = Object.assign([], {
  [INNER_SPACE]: /&(?:amp|lt|gt|quot|#39|#96);|[\t\n\f\r ]/g,
  [INNER_COMMA]: /&(?:amp|lt|gt|quot|#39|#96);|[\t\n\f\r ,]/g,
  [INNER_SEMICOLON]: /&(?:amp|lt|gt|quot|#39|#96);|;/g,
});
const percentEncode = (match: string): string => (match.length > 1 ? match : `%${match.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);

/**
 * `out` with the `/` or `\` that would follow the template's `/` at `root` (up to `end`) written `%2F` /
 * `%5C` (`secondSlash`): `href="/${'/evil.test'}"` stays a path on this origin. The `trusted` spans
 * after it move with the text.
 */
function keepRoot(out: string, root: number, end: number, trusted: (readonly [number, number])[]): string {
  const found = secondSlash(out.slice(root, end));
  if (found === null) return out;
  const [k, length, code] = found;
  const at = root + k;
  const shift = code.length - length;
  for (let t = 0; t < trusted.length; t++) {
    const [s, e] = trusted[t] as readonly [number, number];
    if (e > at) trusted[t] = [s > at ? s + shift : s, e + shift];
  }
  return out.slice(0, at) + code + out.slice(at + length);
}

/**
 * A refused value (`refused` is the message), a `TAGGED` one, or the whole value of an attribute whose
 * name is interpolated (`${ATTR.params}="${x}"`): its name, read from the end of `out`, and its tag, read from the template, say what it must be.
 */
function renderDynamic(kind: number, out: string, value: HtmlValue, strings: TemplateStringsArray, i: number, refused: string | undefined, tag: string): string {
  if (refused !== undefined) throw new TypeError(refused);
  if (kind === TAGGED || kind === AFTER_NAME) {
    const text = kind === TAGGED ? renderTagged(value, strings, i, tag) : renderValue(value, strings, i, NAME);
    if (givesValue(out, text)) throw new TypeError(refusal(NAME_VALUE_MESSAGE, strings, i));
    // An http-equiv from a fragment would rule the content the template wrote, values and all.
    if ((tag === 'meta' || tag === META_NAMED || tag === META_PLAIN) && /http-equiv/i.test(text)) throw new TypeError(refusal(META_NAME_MESSAGE, strings, i));
    return text;
  }
  const name = /([^\s"'>/=]+)\s*=\s*["']$/.exec(out.slice(-200))?.[1]?.toLowerCase() ?? '';
  const whole = (strings[i + 1] ?? '').startsWith(out.slice(-1));
  const rule = attributeRule(name, tag);
  const url = rule === 'url' || rule === 'urls' || rule === 'resource';
  const rejected = rule.startsWith('!')
    ? rule.slice(1)
    : whole || !(url || rule === 'params')
      ? undefined
      : rule === 'params'
        ? PARAMS_MESSAGE
        : DYNAMIC_VALUE_MESSAGE;
  if (rejected !== undefined) throw new TypeError(refusal(rejected, strings, i));
  if (rule === 'resource' && !isTrustedUrl(value)) throw new TypeError(refusal(tag === 'link' ? LINK_NAME_MESSAGE : resourceMessage(tag, name), strings, i));
  const text = renderValue(value, strings, i, rule === 'style' ? STYLE : VALUE);
  return url && !urlIsSafe(text, rule === 'urls', isTrustedUrl(value) ? [[0, text.length]] : []) ? '#' : text;
}

/**
 * Whether `value` (an attribute value, escaped) passes `safeUrl`, or each of its parts for a list.
 * `trusted`: where `trustedUrl()` values are in it. One that starts the URL (or a list candidate: after
 * a separator) and holds the scheme (its `:`, or a `/ ? #` before one) skips the check for the URL it
 * starts (and the parts of it a list's `, ;` split makes): the text after it is not where a scheme goes.
 * Tab, LF and CR are dropped before the split: the URL parser removes them, so in an SVG animation value
 * (split on `;` only) `javascript\n:x` is `javascript:x`, not two parts.
 */
function urlIsSafe(value: string, list: boolean, trusted: readonly (readonly [number, number])[] = []): boolean {
  // Decoded piece by piece around the trusted values that start a URL: their text is escaped, so no
  // character reference runs across their end, and the text before one ends at a separator.
  const decode = (text: string): string => decodeAttribute(text).replace(/[\t\n\r]/g, '');
  let url = '';
  let at = 0;
  const spans: [number, number][] = [];
  for (const [s, e] of trusted) {
    const before = value.slice(at, s);
    const head = decode(before);
    if (s !== 0 && !(list && /[\s,;]$/.test(before) && /[\s,;]$/.test(head))) continue;
    url += head;
    const text = decode(value.slice(s, e));
    spans.push([url.length, url.length + text.length]);
    url += text;
    at = e;
  }
  url += decode(value.slice(at));
  const passes = (part: string, start: number): boolean => {
    if (safeUrl(part) === part) return true;
    const scheme = part.search(/[:/?#]/);
    return scheme >= 0 && spans.some(([s, e]) => s <= start && start + scheme < e);
  };
  if (!list) return passes(url, 0);
  for (const match of url.matchAll(/[^\s,;]+/g)) if (!passes(match[0], match.index)) return false;
  return true;
}

/** Schemes `safeUrl` keeps; any other (`javascript:`, `data:`, `vbscript:`…) would run or load content. */
const SAFE_SCHEMES: ReadonlySet<string> = new Set(['http', 'https', 'mailto', 'tel']);

/**
 * `url` when it is relative or its scheme is http(s), mailto or tel, else `'#'`: for `href`/`src`
 * values that come from users. Escaping cannot do this — `javascript:alert(1)` has nothing to escape.
 * The scheme is read as browsers read it, ignoring white space and control characters inside it.
 * @example html`<a href="${safeUrl(user.website)}">website</a>`
 */
export function safeUrl(url: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url.replace(/[\u0000-\u0020\u007f]/g, ''))?.[1];
  return scheme === undefined || SAFE_SCHEMES.has(scheme.toLowerCase()) ? url : '#';
}

/**
 * Marks a string as trusted markup. Never pass user input: it is not escaped.
 * @example unsafeRawHtml(markdownRenderer.render(trustedDoc))
 */
export function unsafeRawHtml(markup: string): SafeHtml {
  return safe(markup);
}
