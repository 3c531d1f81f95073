/**
 * Whether a request's `Accept` asks for an HTML page rather than JSON (RFC 9110 §12.5.1), for the
 * error pages (error-pages.ts). A browser's navigation lists `text/html` at 1 and any type at 0.8:
 * the page. curl, monitoring probes, `fetch` and tests that read the JSON send any type, nothing or
 * `application/json`: the JSON, as PROTOCOL §3 has it.
 */

/**
 * The longest `Accept` read: a browser's navigation sends well under this (Chromium's, the longest,
 * 135 characters). A longer one is no navigation's, and parsing a header of any length (16 KiB of
 * `;` or `,` cost 7–10 ms per refused request, where a 404 costs well under one) is work an attacker
 * chooses: the JSON, unread.
 */
export const MAX_ACCEPT_LENGTH = 256;

/** Media types of an HTML page. */
const HTML_TYPES: ReadonlySet<string> = new Set(['text/html', 'application/xhtml+xml']);

/** How closely a media range names JSON (the most specific one that matches gives JSON's weight), or -1. */
const JSON_RANGES: ReadonlyMap<string, number> = new Map([
  ['application/json', 2],
  ['application/*', 1],
  ['*/*', 0],
]);

/** The weight of a media range's parameters (`q=0.8`); 1 without one, 0 for one that is not a weight. */
function weightOf(params: readonly string[]): number {
  for (const param of params) {
    const [name, value] = param.split('=');
    if (name?.trim().toLowerCase() !== 'q') continue;
    const text = value?.trim() ?? '';
    return /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(text) ? Number(text) : 0;
  }
  return 1;
}

/**
 * Whether `accept` (an `Accept` header) prefers an HTML page to JSON: HTML (`text/html`,
 * `application/xhtml+xml`) listed by name with a weight above JSON's (from `application/json`, else
 * `application/*`, else `*\/*`). No header, one over `MAX_ACCEPT_LENGTH`, the any-type range alone,
 * `text/*`, HTML at `q=0` or JSON listed as high: no. A malformed weight counts as 0.
 * @example prefersHtml('text/html,*\/*;q=0.8') // true
 * @example prefersHtml('application/json, text/html') // false
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (accept === undefined || accept.length > MAX_ACCEPT_LENGTH) return false;
  let htmlWeight = 0;
  let jsonWeight = 0;
  let jsonSpecificity = -1;
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.split(';');
    const type = range.trim().toLowerCase();
    const specificity = JSON_RANGES.get(type) ?? -1;
    const isHtml = HTML_TYPES.has(type);
    if (!isHtml && specificity < 0) continue;
    const weight = weightOf(params);
    if (isHtml) htmlWeight = Math.max(htmlWeight, weight);
    if (specificity > jsonSpecificity) [jsonSpecificity, jsonWeight] = [specificity, weight];
    else if (specificity === jsonSpecificity && specificity >= 0) jsonWeight = Math.max(jsonWeight, weight);
  }
  return htmlWeight > jsonWeight;
}
