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

/** A value the template accepts: text and numbers are escaped; `null`, `undefined` and `false` render nothing. */
export type HtmlValue = SafeHtml | string | number | bigint | boolean | null | undefined | readonly HtmlValue[];

function renderValue(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (isSafeHtml(value)) return value.value;
  if (Array.isArray(value)) return (value as readonly HtmlValue[]).map(renderValue).join('');
  return escapeHtml(String(value));
}

/**
 * @example
 * html`<p class="greeting">Hello, ${user.name}!</p>` // user.name is escaped
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) {
    out += renderValue(values[i]) + (strings[i + 1] ?? '');
  }
  return safe(out);
}

/**
 * Marks a string as trusted markup. Never pass user input: it is not escaped.
 * @example unsafeRawHtml(markdownRenderer.render(trustedDoc))
 */
export function unsafeRawHtml(markup: string): SafeHtml {
  return safe(markup);
}
