/**
 * What html-context.ts reads from a template, once per call site, for html.ts to render with: the
 * kind of place each value lands in, and the URL spans checked at render.
 */

/** Element text, RCDATA (`<textarea>`, `<title>`), raw text that decodes nothing harmful, comments: escaped. */
export const TEXT = 0;
/** A quoted attribute value: escaped; an html`…` fragment there is refused. */
export const VALUE = 1;
/** A quoted `style` attribute value: numbers, and strings matching `CSS_VALUE`. */
export const STYLE = 2;
/** Where an attribute name goes: nothing, fragments, or bare attribute names. */
export const NAME = 3;
/**
 * A value in a resource URL (`<script src>`…) whose value starts with a value: escaped, and at render
 * the text before it must settle the origin, or it must be a `trustedUrl()` that starts the value;
 * else `Plan.refusals[i]` is the TypeError message. Always inside a `Plan.urls` span.
 */
export const ORIGIN = 4;
/** A place escaping cannot make safe: `Plan.refusals[i]` is the TypeError message. */
export const REFUSED = 5;
/**
 * The whole quoted value (`="${x}"`) of an attribute whose name is interpolated (`${ATTR.params}="${x}"`):
 * the name is read from the output at render and the value checked as `dynamicValue` says.
 */
export const DYNAMIC = 6;
/**
 * Where an attribute name goes in a tag that loads a resource or may refresh (`<script ${…}>`,
 * `<meta ${…}>`): a fragment there is read again as attributes of that tag (`Plan.tags[i]`), so its
 * values meet that tag's rules.
 */
export const TAGGED = 7;
/**
 * Where an attribute name goes right after one, in a tag that is not `TAGGED` (`<a hr${…}>`,
 * `<a href ${…}>`): as `NAME`, and what it renders must not give that name a value (`=…`, or name
 * characters then `=`): the browser would read `hr${html`ef="${x}"`}` as an href the fragment did not check.
 */
export const AFTER_NAME = 8;

/** `Plan.urls.mode` bits: each part of the value is a URL (`srcset`…). */
export const URL_LIST = 1;

/**
 * `Plan.urls.inner`, by interpolation: a value in a URL list with text of its candidate before it
 * (`ping="/${x}"`, `srcset="/img/${x} 2x"`, `srcset="/a.png 2${x}"`), whose list separators are written
 * percent-encoded, so it cannot add a candidate (`'a //evil.example/p'`): `ping`'s white space
 * (`INNER_SPACE`), `srcset`'s white space and `,` (`INNER_COMMA`), SVG animation values' `;` (`INNER_SEMICOLON`).
 */
export const INNER_SPACE = 1;
export const INNER_COMMA = 2;
export const INNER_SEMICOLON = 3;

export interface Plan {
  /** One of the constants above, per interpolation. */
  readonly kinds: Uint8Array;
  readonly refusals: readonly (string | undefined)[];
  /** For a `DYNAMIC` or `TAGGED` value, the (lower-case) name of its tag, `''` in a fragment read as attributes of an unknown tag. */
  readonly tags: readonly (string | undefined)[];
  /**
   * URL attribute values checked at render (their scheme is not settled by the static text, or it is
   * `/` alone), by static string: the offset in `strings[j]` where such a value opens / closes (after
   * the interpolations it holds), else -1. `mode`: `URL_LIST` when each space-, comma- or
   * semicolon-separated part is a URL (`srcset`, `ping`, SVG animation values). `roots`, by
   * interpolation: where in `strings[i]` the URL (or list candidate) the value goes on starts, when
   * the template's text of it is a `/` alone (`rootAt`), so the value must not make `//host`; else -1.
   * `inner`, by interpolation: 0, or `INNER_SPACE`… for a list value inside a candidate. Null when there is none.
   */
  readonly urls: { readonly open: Int32Array; readonly close: Int32Array; readonly mode: Uint8Array; readonly roots: Int32Array; readonly inner: Uint8Array } | null;
  /** Whether the template was read as starting inside a tag (as attributes), not as text. */
  readonly inTag: boolean;
  /**
   * Whether it ends where its values were not read as the template it is put into reads what follows:
   * inside a tag, an attribute value, `<script>` or `<style>` (read as text), or an attribute value or
   * after the end of the tag it starts in (read as attributes). `html\`\${html\`<script \`}src="\${x}">\`` would load x, read as text there.
   */
  readonly open: boolean;
}

/**
 * `Plan.tags` of a fragment put where an attribute name goes in a `<meta>` whose attributes, as the
 * template writes them, hold no http-equiv (no interpolated name with a value either): with a name,
 * property or itemprop (`META_NAMED`), or without (`META_PLAIN`). Such a fragment's content takes a
 * value when the fragment's own text writes no http-equiv, and one of those names or the tag does
 * (`<meta ${html` property="og:title" content="${t}"`}>`). `'meta'`: the tag has, or may have, one.
 */
export const META_NAMED = 'meta name';
export const META_PLAIN = 'meta plain';
