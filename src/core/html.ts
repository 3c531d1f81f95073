/**
 * The `html` tagged template: every interpolated value is escaped unless it is already `SafeHtml`.
 * The only way to put raw markup in is `unsafeRawHtml()`, named so it is easy to grep for in review.
 */

const SAFE = Symbol('livecomponents.safeHtml');

export interface SafeHtml {
  readonly [SAFE]: true;
  readonly value: string;
  toString(): string;
}

function safe(value: string): SafeHtml {
  return { [SAFE]: true, value, toString: () => value };
}

export function isSafeHtml(value: unknown): value is SafeHtml {
  return typeof value === 'object' && value !== null && (value as { [SAFE]?: unknown })[SAFE] === true;
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
 * nothing. Any other object, a function or a symbol throws a TypeError.
 */
export type HtmlValue = SafeHtml | string | number | bigint | boolean | null | undefined | readonly HtmlValue[];

function renderValue(value: HtmlValue, strings: TemplateStringsArray, i: number): string {
  if (value === null || value === undefined || value === false) return '';
  if (isSafeHtml(value)) return value.value;
  if (Array.isArray(value)) return (value as readonly HtmlValue[]).map((item) => renderValue(item, strings, i)).join('');
  const type = typeof value;
  // String() would put `[object Object]`, a function's source or `[object Promise]` on the page.
  if (type === 'object' || type === 'function' || type === 'symbol') throw new TypeError(notRenderable(value, strings, i));
  return escapeHtml(String(value));
}

function notRenderable(value: unknown, strings: TemplateStringsArray, i: number): string {
  const name = typeof value === 'object' ? (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name : undefined;
  const what = typeof value !== 'object' ? `a ${typeof value}` : typeof name === 'string' && name !== '' && name !== 'Object' ? `a ${name}` : 'an object';
  const hint = name === 'Promise' ? ' (await it before rendering: render is synchronous)' : typeof value === 'function' ? ' (call it?)' : '';
  const before = (strings[i] ?? '').slice(-40);
  return `html: cannot render ${what}${hint} in \`…${before}\${…}\`: interpolate strings, numbers, booleans, null/undefined, arrays, or html\`…\` fragments (for an object, pick its fields)`;
}

/**
 * @example
 * html`<p class="greeting">Hello, ${user.name}!</p>` // user.name is escaped
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  // Called as html(text) or html([text]) it would pass text through unescaped, as trusted markup.
  if (!Array.isArray(strings) || !Array.isArray((strings as TemplateStringsArray).raw)) {
    throw new TypeError('html is a template tag: write html`…${value}…`; trusted markup goes through unsafeRawHtml()');
  }
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) {
    out += renderValue(values[i], strings, i) + (strings[i + 1] ?? '');
  }
  return safe(out);
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
