/**
 * Error pages for browsers: an app's error and not-found answers (PROTOCOL §3's JSON: a 429, a 404, a
 * 405, a 500…) shown as an HTML page to a person who opened a page, where the JSON would be read as
 * text. Opt-in, wired in one place (`useErrorPages(app, options)`); the app gives its look (`render`),
 * the framework the rest:
 * - which requests get the page: not the API's (`apiPrefixes`, `/api/` by default: the action route
 *   and the auth API, whose JSON is the contract their scripts parse whatever `Accept` they send),
 *   and only one whose `Accept` prefers HTML (error-pages-accept.ts). Path alone would change the
 *   answer curl and probes of page routes get; `Accept` alone would let a header change the API's
 *   contract. Outside the API both answers carry `Vary: Accept`, merged into the one already set.
 * - the page *is* the JSON answer: `sendError` and `notFoundHandler` build it as ever (status,
 *   `Retry-After`, the rate-limit fields, `Allow`), and only its body is rendered as HTML. It is made
 *   without a page view — no session looked up or created, no cookie — since a view is what a 429
 *   past the new-session limit refused, and a store that is down fails it. It carries the pages'
 *   headers (the app's `pageHeaders`: its CSP, no framing, nosniff) and `Cache-Control: no-store`.
 * - the default page has no inline script or style (any CSP allows it) and escapes what it shows.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import vary from 'vary';
import { AUTH_PREFIX } from '../auth/cookie.js';
import { html, isSafeHtml, type SafeHtml } from '../core/html.js';
import { isThenable } from '../core/thenable.js';
import { ROUTES, type ErrorBody } from '../core/wire.js';
import { InvalidOptionError } from '../ops/health/options-error.js';
import { prefersHtml } from './error-pages-accept.js';
import { logFailure, sendError } from './error-mapping.js';
import { notFoundHandler } from './not-found.js';
import { routedPath } from './routed-path.js';
import { pageHeadersOf, setPageHeaders } from './security-headers.js';

export { prefersHtml } from './error-pages-accept.js';

/**
 * The page for an error answer: a whole HTML document, as a string or the `SafeHtml` of an `html`
 * template. Escape everything taken from `body` (`html`). Synchronous: the answer is being sent.
 */
export type ErrorPageRender = (status: number, body: ErrorBody) => string | SafeHtml;

export interface ErrorPagesOptions {
  /**
   * Renders the page of an error answer with `status` and PROTOCOL §3's `body` (`error`, `code`,
   * `request_id`, `retry_after` of a 429…). It runs with no session: show nothing of the user's. A
   * render that throws, or returns anything but a string or `SafeHtml` (a promise: it must not be
   * `async`), gets the JSON answer instead, logged at `error` as a 500's cause is: on standard output
   * when the app's Fastify logger is off.
   * @default defaultErrorPage
   * @example render: (status, body) => `<!doctype html>${html`<title>${errorHeading(status)}</title><p>${body.error}</p>`}`
   */
  render?: ErrorPageRender;
  /**
   * Path prefixes whose answers stay JSON whatever the client accepts, as the router reads the path
   * (percent-decoded, query left off). Each begins and ends with `/`. The framework's own API
   * (`/api/livecomponents/`, `/api/v1/auth/`) stays JSON whatever is given.
   * @default ['/api/']
   */
  apiPrefixes?: readonly string[];
  /**
   * The page headers, as given to the plugin's `pageHeaders` (give the same value): the page gets
   * them, as `view()` pages do, and `Cache-Control: no-store`.
   * @default DEFAULT_PAGE_HEADERS
   */
  pageHeaders?: Readonly<Record<string, string | false>>;
}

/** The handlers `useErrorPages` installs, for an app that installs them itself (or in a child context). */
export interface ErrorPageHandlers {
  errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined;
  notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply;
}

const WHERE = 'errorPages';

/**
 * Adds `Accept` to a reply's `Vary`: case-insensitive, once, `*` kept (the `vary` package's `append`,
 * on Fastify's headers, which `vary(res)` would not see before the reply is sent). A `Vary` already
 * naming it is left as it was set (several lines stay several).
 */
function varyOnAccept(reply: FastifyReply): void {
  const current = reply.getHeader('vary');
  const set = Array.isArray(current) ? current.join(', ') : current === undefined ? '' : String(current);
  const merged = vary.append(set, 'Accept');
  if (merged !== set) reply.header('vary', merged);
}

/**
 * The app's error and not-found handlers with error pages: `sendError`'s and `notFoundHandler(app)`'s
 * answers, as the page for a browser. Options are checked here, once.
 * @throws {InvalidOptionError} (`LC_INVALID_OPTION`) for a bad `apiPrefixes` or `render`; a TypeError for bad `pageHeaders`
 */
export function errorPageHandlers(app: FastifyInstance, options: ErrorPagesOptions = {}): ErrorPageHandlers {
  const answering = answeringOf(options);
  const notFound = notFoundHandler(app);
  return {
    errorHandler: (error, request, reply) => answerError(answering, request, reply, (r) => sendError(error, request, r)),
    notFoundHandler: (request, reply) => answerError(answering, request, reply, (r) => notFound(request, r)),
  };
}

/**
 * Installs `errorPageHandlers` as `app`'s error and not-found handlers. Call it first, right after
 * `Fastify(…)`, before any route or plugin: a route takes the error handler its plugin had when the
 * plugin finished loading (as for `livecomponentsErrorHandler`). The rule is the order, whatever the
 * timing: a route that exists at the call refuses it, even one added in the same turn; every route
 * added after gets the pages, those of a plugin registered before without `await` too (a plugin adds
 * its routes when it loads, after this synchronous call).
 * @throws {InvalidOptionError} (`LC_INVALID_OPTION`) when `app` already has routes, or for a bad option
 * @example
 * const app = Fastify(serverOptions());
 * useErrorPages(app, { pageHeaders: PAGE_HEADERS, render: (status, body) => myLayout(errorHeading(status), body) });
 * await app.register(livecomponents, { runtime, pageHeaders: PAGE_HEADERS });
 */
export function useErrorPages(app: FastifyInstance, options: ErrorPagesOptions = {}): void {
  refuseAfterRoutes(app);
  const handlers = errorPageHandlers(app, options);
  app.setNotFoundHandler(handlers.notFoundHandler);
  app.setErrorHandler(handlers.errorHandler);
}

/** `printRoutes()` of an app without routes (find-my-way's printout of an empty tree). */
const NO_ROUTES = '(empty tree)';

/**
 * Refuses an `app` that already has routes. Fastify fixes a route's error handler once the plugin
 * that added it has loaded (`await app.register(…)`), so such a route, the plugin's client script
 * among them, went on answering its errors in Fastify's own shape (its `message`, no code, no page)
 * while every other route got the pages: an order the docs called wrong, and nothing told. Any route
 * counts, even one not yet fixed (added in this same turn): it stays right only until an `await`
 * comes between it and this call. The check reads the router's printout once, at start-up.
 */
function refuseAfterRoutes(app: FastifyInstance): void {
  if (app.printRoutes() === NO_ROUTES) return;
  throw new InvalidOptionError(
    WHERE,
    'useErrorPages must be called before any route is added (right after Fastify(…), before registering plugins): a route keeps the error handler it had when its plugin loaded, and would answer its errors in Fastify’s own shape. In a plugin of your own, install errorPageHandlers(app) with setErrorHandler and setNotFoundHandler instead',
  );
}

/** What one answer needs, resolved from the options at start-up. */
interface Answering {
  render: ErrorPageRender;
  apiPrefixes: readonly string[];
  pageHeaders: Readonly<Record<string, string>>;
}

/**
 * The framework's own API, always JSON whatever `apiPrefixes` says: PROTOCOL fixes its paths (the
 * action route, the auth API), and its clients parse the JSON of its 404s and 405s (the not-found
 * handler's, at the root). An app giving `['/rest/']` for its own API made them pages.
 */
const FRAMEWORK_API_PREFIXES: readonly string[] = [ROUTES.action.slice(0, ROUTES.action.lastIndexOf('/') + 1), `${AUTH_PREFIX}/`];

function answeringOf(options: ErrorPagesOptions): Answering {
  const render = options.render ?? defaultErrorPage;
  if (typeof render !== 'function') throw new InvalidOptionError(WHERE, 'render must be a function (status, body) => HTML');
  const apiPrefixes = options.apiPrefixes ?? ['/api/'];
  if (!Array.isArray(apiPrefixes)) throw new InvalidOptionError(WHERE, 'apiPrefixes must be an array of path prefixes');
  for (const prefix of apiPrefixes as unknown[]) {
    // A prefix without its closing '/' would take other paths too ('/api' takes '/apiary'); one with
    // '%', '?' or '#' could never match a decoded path.
    if (typeof prefix !== 'string' || !/^\/(?:[^%?#]*\/)?$/.test(prefix)) {
      throw new InvalidOptionError(WHERE, `apiPrefixes: ${JSON.stringify(prefix)} is no path prefix (it must begin and end with "/", and hold no "%", "?" or "#")`);
    }
  }
  return { render, apiPrefixes: Object.freeze([...FRAMEWORK_API_PREFIXES, ...apiPrefixes]), pageHeaders: pageHeadersOf(options.pageHeaders) };
}

/**
 * Whether `url` is for the API: its path as the router reads it (`/%61pi/…` reaches the API's routes).
 * A path that does not decode (the router refuses those before any handler) counts as the API's.
 */
function isApiPath(url: string, prefixes: readonly string[]): boolean {
  const path = routedPath(url);
  return path === null || prefixes.some((prefix) => path.startsWith(prefix));
}

/** An error body of PROTOCOL §3, as `sendError` and the not-found handler send it. */
function isErrorBody(payload: unknown): payload is ErrorBody {
  const body = payload as Partial<ErrorBody> | null;
  return typeof body === 'object' && body !== null && typeof body.error === 'string' && typeof body.code === 'string' && typeof body.request_id === 'string';
}

/** The reply's `send` while an error answer is made; removed once it has sent. */
type SendShadow = Partial<Record<'send', unknown>>;

/**
 * `answer` on `reply`, whose error body goes out as the page when the request wants it: the same
 * status and headers, the page headers and `no-store`; else the JSON as it is. Either way `Vary:
 * Accept`, unless the path is the API's (its answers never vary).
 */
function answerError<T>(answering: Answering, request: FastifyRequest, reply: FastifyReply, answer: (reply: FastifyReply) => T): T {
  if (isApiPath(request.url, answering.apiPrefixes)) return answer(reply);
  varyOnAccept(reply);
  if (!prefersHtml(request.headers.accept)) return answer(reply);
  const shadow = reply as unknown as SendShadow;
  const send = reply.send;
  // Only the one answer is rewritten: the own property goes once used, or once the answer returned
  // without sending (a client abort), so nothing else sent on this reply is touched.
  shadow.send = function sendPage(this: FastifyReply, payload?: unknown) {
    delete shadow.send;
    if (!isErrorBody(payload)) return send.call(this, payload);
    const page = pageOf(answering.render, this.statusCode, payload, request);
    if (page === null) return send.call(this, payload);
    setPageHeaders(this, answering.pageHeaders);
    return send.call(this.header('cache-control', 'no-store').type('text/html; charset=utf-8'), page);
  };
  try {
    return answer(reply);
  } finally {
    if (Object.hasOwn(shadow, 'send')) delete shadow.send;
  }
}

/**
 * The page `render` makes of an error answer, or `null` (logged) when it throws or returns no page:
 * the JSON answer goes then, with its status. Sent as it was, anything but text (a `SafeHtml` is
 * its text) was Fastify's own 500 (`FST_ERR_REP_INVALID_PAYLOAD_TYPE`, its error shape, not
 * PROTOCOL §3's) in place of the 404 or 429, and `undefined` an empty page.
 */
function pageOf(render: ErrorPageRender, status: number, body: ErrorBody, request: FastifyRequest): string | null {
  let page: unknown;
  try {
    page = render(status, body);
  } catch (err) {
    renderFailed(request, body, new Error('errorPages: render threw; the JSON answer is sent instead', { cause: err }));
    return null;
  }
  if (typeof page === 'string') return page;
  if (isSafeHtml(page)) return page.value;
  renderFailed(request, body, new TypeError(`errorPages: render returned ${whatIs(page)}, not a page (a string or SafeHtml); the JSON answer is sent instead`));
  // Its page comes after the answer went. A rejection of it is logged too, not left unhandled.
  if (isThenable(page)) page.then(undefined, (err: unknown) => renderFailed(request, body, new Error('errorPages: render rejected', { cause: err })));
  return null;
}

/** What a render returned, for the log: "a promise (an async render)", "a number", "null"… */
function whatIs(value: unknown): string {
  if (isThenable(value)) return 'a promise (an async render)';
  if (value === null || value === undefined) return String(value);
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Logs a render that gave no page as the cause of a 500 is logged (`logFailure`, at `error`, with
 * the answer's code): on the request's logger, or on standard output when the app's Fastify logger
 * is off (its default). On `request.log` alone such a bug was silent there, every browser quietly
 * getting the JSON.
 */
function renderFailed(request: FastifyRequest, body: ErrorBody, error: Error): void {
  logFailure(request, error, body.code, 'error page failed');
}

/** A heading for each status the framework answers; by class for any other. */
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

/** A short heading for an error page of `status` ("Too many requests"), for a `render` of the app's. */
export function errorHeading(status: number): string {
  return HEADINGS.get(status) ?? (status >= 500 ? 'Something went wrong' : 'This request was refused');
}

/** "Try again in 1 second." / "… in 42 seconds.": the wait of a 429's or 503's `retry_after`. */
export function retrySentence(seconds: number): string {
  return `Try again in ${seconds} ${seconds === 1 ? 'second' : 'seconds'}.`;
}

/**
 * The framework's page: the heading, the error's sentence, the wait of a `retry_after`, the status,
 * code and request id to quote, a link to `/`. Everything from `body` is escaped; nothing inline (no
 * script, no style), so the strictest policy shows it as it is.
 */
export function defaultErrorPage(status: number, body: ErrorBody): string {
  const heading = errorHeading(status);
  const retry = typeof body.retry_after === 'number' ? html`<p data-retry-after="${body.retry_after}">${retrySentence(body.retry_after)}</p>` : null;
  return `<!doctype html>
${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${heading}</title>
</head>
<body>
<main>
<h1>${heading}</h1>
<p role="alert" data-error-code="${body.code}">${body.error}</p>
${retry}
<p>Error ${status} · <code>${body.code}</code> · request <code>${body.request_id}</code></p>
<p><a href="/">Back to the start page</a></p>
</main>
</body>
</html>`}`;
}
