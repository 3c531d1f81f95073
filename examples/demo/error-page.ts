/**
 * What a person in a browser sees when the reference app refuses or fails a page: an HTML page saying
 * what happened (for a 429, how long to wait), where the app answered PROTOCOL §3's JSON error — a
 * visitor past `NEW_SESSION_LIMIT` opening a page or posting the sign-in form read
 * `{"error":"Too many requests…","code":"RATE_LIMIT_EXCEEDED",…}` as text.
 *
 * The rule, and why: the error page is given to a request that
 * - is not for the API (`/api/…`: the action route, the auth API). Their JSON is PROTOCOL §3's and §4's
 *   contract, which their clients' scripts parse whatever `Accept` they send (a `fetch` may list
 *   `text/html`); both have their own error handlers, and their 404s and 405s (the not-found handler,
 *   the app's) stay JSON by this path rule; and
 * - prefers HTML to JSON by its `Accept` header (RFC 9110 §12.5.1): `text/html` (or XHTML) listed
 *   by name with a weight above the one JSON gets (from `application/json`, else `application/*`,
 *   else the any-type range). A browser's navigation lists `text/html` at 1 and any type at 0.8: the
 *   page. curl, monitoring probes and the tests that read the JSON send any type, nothing or
 *   `application/json`: the JSON, as before.
 * Route kind alone would change the answer those non-browser clients of the page routes get; `Accept`
 * alone would let a header change the API's contract. Both answers carry `Vary: Accept`.
 *
 * The page has the JSON answer's status and headers (`Retry-After`, the rate-limit fields, `Allow`)
 * because it *is* that answer: the framework's `sendError` and `notFoundHandler` build it as ever,
 * and only its body is rendered as HTML (the error's sentence, the wait, the request id). It is made
 * without a page view — no session is looked up, created or refreshed, no cookie set — since a view
 * is what a 429 past the new-session limit refused, and a store that is down fails it. It carries the
 * pages' headers (the strict Content-Security-Policy, no framing, nosniff) and `Cache-Control:
 * no-store`, links only the stylesheet and icon (files; nothing inline, no script), and says the
 * same for a HEAD (Fastify sends no body).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { html } from '../../src/index.js';
import type { ErrorBody } from '../../src/core/wire.js';
import { sendError } from '../../src/http/error-mapping.js';
import { routedPath } from '../../src/http/routed-path.js';
import { setPageHeaders } from '../../src/http/security-headers.js';
import { NAV, STYLE_LINKS } from './layout.js';

/** Paths whose answers are JSON whatever the client accepts: the action route and the auth API. */
const API_PREFIX = '/api/';

/**
 * Whether `request` is for the API: its path as the router reads it — percent-decoded (`/%61pi/…`
 * reaches the API's routes, and a 405 of one came from the not-found handler as the page), query
 * left off. A path that does not decode (the router refuses those before any handler) counts as the
 * API's: the JSON.
 */
function isApiPath(url: string): boolean {
  const path = routedPath(url);
  return path === null || path.startsWith(API_PREFIX);
}

/**
 * The longest `Accept` read: a browser's navigation sends well under this (Chromium's, the longest,
 * 135 characters). A longer one is no navigation's, and parsing a header of any length (16 KiB of
 * `;` or `,` cost 7–10 ms per refused request, where a 404 costs well under one) is work an attacker
 * chooses: the JSON, unread.
 */
const MAX_ACCEPT_LENGTH = 256;

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
 * Whether `accept` (an `Accept` header) prefers an HTML page to JSON: HTML listed by name with a
 * weight above JSON's. No header, the any-type range alone, or JSON listed as high: no.
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

/** A heading for each status the app answers; by class for any other. */
const HEADINGS: ReadonlyMap<number, string> = new Map([
  [400, 'This request could not be read'],
  [401, 'Sign-in needed'],
  [403, 'Refused'],
  [404, 'Page not found'],
  [405, 'Not allowed here'],
  [408, 'The request took too long'],
  [413, 'Too much data'],
  [414, 'The address is too long'],
  [415, 'This kind of data is not accepted here'],
  [429, 'Too many requests'],
  [431, 'The request headers are too large'],
  [500, 'Something went wrong'],
  [503, 'Temporarily unavailable'],
]);

const headingOf = (status: number): string => HEADINGS.get(status) ?? (status >= 500 ? 'Something went wrong' : 'This request was refused');

/** "Try again in 1 second." / "… in 42 seconds." */
const waitSentence = (seconds: number): string => `Try again in ${seconds} ${seconds === 1 ? 'second' : 'seconds'}.`;

/**
 * The error page for `body` (PROTOCOL §3's error body, as `sendError` made it) answered with `status`:
 * the sentence, the wait of a `retry_after`, and the request id to quote. Everything from the body
 * is escaped (`html`); none of it is request data.
 */
export function errorPage(status: number, body: ErrorBody): string {
  const heading = headingOf(status);
  const retry = typeof body.retry_after === 'number' ? html`<p data-retry-after="${String(body.retry_after)}">${waitSentence(body.retry_after)}</p>` : null;
  return `<!doctype html>
${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${heading} · LiveComponents</title>
${STYLE_LINKS}
</head>
<body>
<header><nav>
  <a class="brand" href="/">LiveComponents</a>
  ${NAV.map(([href, label]) => html`<a href="${href}">${label}</a>`)}
</nav></header>
<main>
  <h1>${heading}</h1>
  <section class="card" data-error-code="${body.code}">
    <p role="alert">${body.error}</p>
    ${retry}
    <p class="muted">Error ${String(status)} · <code>${body.code}</code> · request <code>${body.request_id}</code></p>
  </section>
  <p><a href="/">Back to the start page</a></p>
</main>
</body>
</html>`}`;
}

/** An error body of PROTOCOL §3, as `sendError` and the not-found handler send it. */
function isErrorBody(payload: unknown): payload is ErrorBody {
  const body = payload as Partial<ErrorBody> | null;
  return typeof body === 'object' && body !== null && typeof body.error === 'string' && typeof body.code === 'string' && typeof body.request_id === 'string';
}

/** The reply's `send` while an error answer is made; removed once it has sent. */
type SendShadow = Partial<Record<'send', unknown>>;

/**
 * `answer` (the framework's `sendError`, the not-found handler) on `reply`, whose error body is sent
 * as the error page when `request` wants it: the same status and headers, the pages' headers
 * (`pageHeaders`, as `pageHeadersOf` made them) and `no-store`; else the JSON as it is. Either way
 * `Vary: Accept`, unless the path is the API's (its answers never vary).
 */
export function answerError<T>(request: FastifyRequest, reply: FastifyReply, pageHeaders: Readonly<Record<string, string>>, answer: (reply: FastifyReply) => T): T {
  if (isApiPath(request.url)) return answer(reply);
  const vary = reply.getHeader('vary');
  reply.header('vary', vary === undefined ? 'Accept' : `${String(vary)}, Accept`);
  if (!prefersHtml(request.headers.accept)) return answer(reply);
  const shadow = reply as unknown as SendShadow;
  const send = reply.send;
  // Only the one answer is rewritten: the own property goes as soon as it is used, so anything sent
  // later on this reply (nothing should) goes out as it is.
  shadow.send = function sendPage(this: FastifyReply, payload?: unknown) {
    delete shadow.send;
    if (!isErrorBody(payload)) return send.call(this, payload);
    setPageHeaders(this, pageHeaders);
    return send.call(this.header('cache-control', 'no-store').type('text/html; charset=utf-8'), errorPage(this.statusCode, payload));
  };
  return answer(reply);
}

/**
 * The app's error handler: `sendError`'s answer, as the error page for a browser (`answerError`).
 * `pageHeaders`: the page headers the plugin was given, as `pageHeadersOf` makes them.
 */
export function errorHandlerWithPages(pageHeaders: Readonly<Record<string, string>>) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined =>
    answerError(request, reply, pageHeaders, (answering) => sendError(error, request, answering));
}

/** The app's not-found handler (`notFound`: the framework's `notFoundHandler(app)`), as the error page for a browser. */
export function notFoundHandlerWithPages(pageHeaders: Readonly<Record<string, string>>, notFound: (request: FastifyRequest, reply: FastifyReply) => FastifyReply) {
  return (request: FastifyRequest, reply: FastifyReply): FastifyReply => answerError(request, reply, pageHeaders, (answering) => notFound(request, answering));
}
