/**
 * Rendering pages that hold components: the session (created on first visit), the CSRF meta tag,
 * the token for the page's HTML forms, the component roots and the runtime's script tag (PROTOCOL §2).
 */
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LiveError, isLiveError } from '../core/errors.js';
import { html, trustedUrl, unsafeRawHtml, type SafeHtml } from '../core/html.js';
import { CSRF_META_NAME, CSRF_SINGLE_USE_ATTR, ROUTES } from '../core/wire.js';
import type { LiveRuntime } from '../runtime/index.js';
import type { Session } from '../session/types.js';
import type { User } from '../core/component.js';
import { requestInfo } from './request-info.js';
import type { SessionCookie } from './session-cookie.js';

/**
 * Why a page view stores nothing (`PageView.unstoredReason`): a `HEAD` without a session. Past
 * `newSessionLimit` there is no view: `view()` rejects with 429 `RATE_LIMIT_EXCEEDED`.
 */
export type UnstoredReason = 'head';

export interface PageView {
  /** The visitor's session; an unstored one (no cookie) when `stored` is false. */
  readonly session: Session;
  /**
   * `false` when this visitor has no session and the request is a `HEAD`: the page renders, components
   * in their initial state, but nothing is stored and no cookie is set. (A GET without a session from a
   * client past `newSessionLimit` gets no view: `view()` rejects with 429 `RATE_LIMIT_EXCEEDED`.)
   */
  readonly stored: boolean;
  /** Why nothing is stored, when `stored` is false: `'head'` (a HEAD answer has no body). `null` when stored. */
  readonly unstoredReason: UnstoredReason | null;
  /** The session's signed-in user (the app's `resolveUser`), or `null`: for a nav, a greeting. */
  readonly user: User | null;
  /**
   * A freshly masked CSRF token for this page's meta tag, which the browser runtime sends with
   * actions (empty when `stored` is false: no session to bind it to). Not for your HTML forms: in
   * strict CSRF mode the runtime spends it on the first action, so use `formToken()` there.
   */
  readonly csrfToken: string;
  /**
   * The CSRF token for this page's HTML forms (`<input type="hidden" name="_csrf_token">`), checked
   * by your form handler with `runtime.csrf.verify`. Default mode: `csrfToken`, no store call.
   * Strict mode (`per-action`): a single-use token of its own, issued on the first call and the same
   * for every form of the page, so the runtime's actions never spend it — a posted form leaves the
   * page, and the next page brings new tokens. A page view thus holds at most two of the session's
   * `maxOutstanding` tokens however many forms it has. A form that stays on the page when posted
   * (sent by a script, `target="_blank"`) spends it for the page's other forms: give that one a
   * component action instead. Empty when `stored` is false.
   */
  formToken(): Promise<string>;
  /**
   * Mounts the instance in this session (first visit) or finds it, and renders it. Once per instance
   * in a page view: a second `mount` of the same id (after the first, or together with it) rejects.
   */
  mount(componentId: string, initialState?: Record<string, unknown>): Promise<SafeHtml>;
  /**
   * `<meta name="csrf-token">` and the runtime's `<script>` tag, for a layout of your own. In strict
   * CSRF mode the meta tag has `data-lc-single-use`: the runtime then sends actions one at a time.
   * `nonce`: the script tag's `nonce` attribute, for a Content-Security-Policy with a per-request
   * nonce (`script-src 'nonce-…' 'strict-dynamic'`). @default `reply.cspNonce.script` when
   * `@fastify/helmet` (`enableCSPNonces: true`) set one on this reply, else none
   * @example view.head({ nonce: reply.locals.nonce })
   */
  head(options?: ScriptOptions): SafeHtml;
  /**
   * A whole HTML document around `body`. Its body opens with a `<noscript>` notice (a
   * `<p data-lc-noscript>`, no inline style: style it through that attribute) saying the page needs
   * JavaScript: without the runtime, `data-lc-action` buttons and forms do nothing.
   */
  document(page: { title: string; body: SafeHtml; head?: SafeHtml; lang?: string } & ScriptOptions): string;
}

/** How the runtime's `<script>` tag is written (`PageView.head`, `PageView.document`). */
export interface ScriptOptions {
  /** The `nonce` attribute of the script tag. @default the reply's `cspNonce.script` (`@fastify/helmet`), if any */
  nonce?: string | undefined;
}

/**
 * The page view of `request` (`app.livecomponents.view`). What fails in it, or later in its `mount`
 * and `formToken`, reaches the app's route as `pageFailure` makes it. A GET without a session from a
 * client that started `newSessionLimit` sessions lately rejects with 429 `RATE_LIMIT_EXCEEDED`
 * (`Retry-After`, rate-limit fields), having stored nothing and set no cookie.
 */
export function createPageView(runtime: LiveRuntime, cookie: SessionCookie, request: FastifyRequest, reply: FastifyReply): Promise<PageView> {
  return safely(() => openPageView(runtime, cookie, request, reply));
}

async function openPageView(runtime: LiveRuntime, cookie: SessionCookie, request: FastifyRequest, reply: FastifyReply): Promise<PageView> {
  const nonce = helmetNonceOf(reply);
  let session = await runtime.sessions.load(cookie.read(request));
  if (session === null) {
    // A HEAD answer has no body, so no token or component to use a session for (uptime monitors
    // probe with HEAD every few seconds): render, store nothing, take no budget.
    if (request.method === 'HEAD') {
      // Its page lacks the token and cookie a GET's would have, so its length is not the one GET
      // would send, and a HEAD may announce only that one (RFC 9110 §8.6): none is sent.
      (reply as LengthWithheldReply)[LENGTH_WITHHELD] = true;
      return unstoredView(runtime, runtime.sessions.ephemeral(), 'head', nonce, mountedIdsOf(request));
    }
    // One new session per request, however many views it opens (a layout helper's beside the
    // route's): each used to store its own and set its cookie over the last, so the page's token came
    // from a session the browser no longer had (every action 403), and the visit took two steps.
    let created = CREATED_SESSIONS.get(request);
    if (created === undefined) CREATED_SESSIONS.set(request, (created = newSession(runtime, cookie, request, reply)));
    session = await created;
  }
  const current = session;
  const info = requestInfo(request);
  const [csrfToken, user] = await Promise.all([runtime.csrf.issue(current), runtime.userOf(current)]);
  // `no-store` is every page's default, but an app may override `cache-control` (`pageHeaders`); a
  // signed-in page keeps `no-store` whatever it says: Back after signing out on a shared computer
  // would otherwise show the profile to the next person.
  if (user !== null) reply.header('cache-control', 'no-store');
  let formToken: Promise<string> | undefined;
  return view(runtime, nonce, mountedIdsOf(request), {
    session: current,
    unstoredReason: null,
    user,
    csrfToken,
    // Strict mode: a slot of its own, so the runtime's first action does not use up the forms' token.
    // Issued on demand: a page without forms takes no second slot.
    formToken: () => (formToken ??= runtime.csrf.rotation === 'per-action' ? runtime.csrf.issue(current) : Promise.resolve(csrfToken)),
    mount: async (componentId, initialState) => unsafeRawHtml(await runtime.mount(current, componentId, initialState, user, info)),
  });
}

/**
 * The session a cookie-less GET stores, with its cookie. Every GET without a session stores one, with
 * its components' state, for the session's lifetime: a client that started too many lately is refused
 * (429) before anything is written, rather than served a page that would break PROTOCOL §2 (no
 * cookie, no token) and that crawlers would index. The limit's step and the session's write are one
 * round trip (`runtime.startSession`: the write guarded by the step), and the cookie is set only once
 * it is stored; the components' mounts take the view's second, as on every page view.
 */
async function newSession(runtime: LiveRuntime, cookie: SessionCookie, request: FastifyRequest, reply: FastifyReply): Promise<Session> {
  const started = await runtime.startSession(requestInfo(request));
  if (started.session === null) throw started.error;
  cookie.write(reply, started.session);
  return started.session;
}

/** The session `newSession` is storing or stored for a request, which every view of it shares (refused: the same 429). */
const CREATED_SESSIONS = new WeakMap<FastifyRequest, Promise<Session>>();

/** A page view with nothing stored (a HEAD): initial states, no token (no per-action CSRF nonce written either). */
function unstoredView(runtime: LiveRuntime, session: Session, reason: UnstoredReason, nonce: string | undefined, mounted: Set<string>): PageView {
  return view(runtime, nonce, mounted, {
    session,
    unstoredReason: reason,
    user: null,
    csrfToken: '',
    formToken: () => Promise.resolve(''),
    mount: (componentId, initialState) => Promise.resolve(unsafeRawHtml(runtime.renderInitial(componentId, initialState))),
  });
}

/** Marks a reply whose `Content-Length` must not be sent (see `headPayloadOf`). */
const LENGTH_WITHHELD = Symbol('livecomponents.lengthWithheld');
type LengthWithheldReply = FastifyReply & { [LENGTH_WITHHELD]?: true };

/**
 * The payload to send for `reply` (the plugin's onSend hook): an empty stream for a HEAD whose page
 * view stored nothing, since Fastify's HEAD handler announces the length of a string payload and
 * none of a stream; else `payload` as it is.
 */
export function headPayloadOf(reply: FastifyReply, payload: unknown): unknown {
  return (reply as LengthWithheldReply)[LENGTH_WITHHELD] === true ? Readable.from([]) : payload;
}

/**
 * What a visitor without JavaScript reads: the buttons do nothing, and a form the browser posts
 * itself lands on an error (no route takes a POST to a page).
 */
const NOSCRIPT = html`<noscript><p data-lc-noscript>This page needs JavaScript. Without it, its buttons do nothing and its forms answer with an error.</p></noscript>`;

/**
 * The script nonce `@fastify/helmet` made for this reply (`enableCSPNonces: true` decorates the
 * reply with `cspNonce: { script, style }` and puts them in its policy), or `undefined`.
 */
function helmetNonceOf(reply: FastifyReply): string | undefined {
  const script = (reply as { cspNonce?: { script?: unknown } | null }).cspNonce?.script;
  return typeof script === 'string' && script !== '' ? script : undefined;
}

/**
 * The ids mounted (or being mounted) for `request`'s page, by every view of it: a layout helper that
 * opens a view of its own beside the route's would otherwise put a second root of one instance on
 * the page. Kept with the request, so it goes with it.
 */
const MOUNTED_IDS = new WeakMap<FastifyRequest, Set<string>>();

function mountedIdsOf(request: FastifyRequest): Set<string> {
  let ids = MOUNTED_IDS.get(request);
  if (ids === undefined) MOUNTED_IDS.set(request, (ids = new Set()));
  return ids;
}

/** `mounted`: the ids the request's page holds (`mountedIdsOf`), shared by its views. */
function view(
  runtime: LiveRuntime,
  defaultNonce: string | undefined,
  mounted: Set<string>,
  parts: Pick<PageView, 'session' | 'unstoredReason' | 'user' | 'csrfToken' | 'formToken' | 'mount'>,
): PageView {
  const { csrfToken } = parts;
  // Single-use tokens: concurrent actions must not share one, and a retry must not resend a used one.
  const singleUse = runtime.csrf.rotation === 'per-action';
  // The runtime's own script, which a nonce-based policy refuses without its nonce ('strict-dynamic'
  // then lets the modules it imports load). The value is escaped as any attribute value. Each tag is
  // one template with its attributes written out: an attribute fragment put in a <meta> or <script>
  // is rendered again as that tag's attributes, twice the work for the same text.
  const head = (options?: ScriptOptions): SafeHtml => {
    const nonce = options?.nonce ?? defaultNonce;
    const meta = singleUse
      ? html`<meta name="${CSRF_META_NAME}" content="${csrfToken}" ${CSRF_SINGLE_USE_ATTR}>`
      : html`<meta name="${CSRF_META_NAME}" content="${csrfToken}">`;
    const script = nonce === undefined
      ? html`<script type="module" src="${trustedUrl(ROUTES.clientScript)}"></script>`
      : html`<script type="module" src="${trustedUrl(ROUTES.clientScript)}" nonce="${nonce}"></script>`;
    return html`${meta}
${script}`;
  };
  // Each instance is one root on the page.
  const mountOnce = async (componentId: string, initialState?: Record<string, unknown>): Promise<SafeHtml> => {
    // Checked and recorded before the first await, so mounts started together are refused as well.
    if (mounted.has(componentId)) throw new TypeError(twiceMessage(componentId));
    mounted.add(componentId);
    try {
      return await parts.mount(componentId, initialState);
    } catch (error) {
      // Nothing of it reached the page: a route that catches the failure may mount it again.
      mounted.delete(componentId);
      throw error;
    }
  };
  return {
    ...parts,
    mount: (componentId, initialState) => safely(() => mountOnce(componentId, initialState)),
    formToken: () => safely(parts.formToken),
    stored: parts.unstoredReason === null,
    head,
    document: (page) => `<!doctype html>
${html`<html lang="${page.lang ?? 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${page.title}</title>
${head(page)}
${page.head}
</head>
<body>
${NOSCRIPT}
${page.body}
</body>
</html>`}`,
  };
}

/**
 * A second root of one instance on a page goes wrong without a word: both copies have its id, and the
 * browser runtime, which finds a component by its id, updates and marks busy only one of them, while
 * a click in the second acts (or is dropped while the first is busy). So it is refused, as a bug.
 */
function twiceMessage(componentId: string): string {
  return (
    `view.mount(${JSON.stringify(componentId)}) was called twice for one page (by the page views of one request): an instance is one root on a page ` +
    '(the browser runtime finds it by its id, so only one of the copies would update). To show a second one, mount another instance id (with its own state)'
  );
}

/** Runs `work`, rejecting with `pageFailure` of what it threw. */
async function safely<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw pageFailure(error);
  }
}

/**
 * A page view's failure as the app's route receives it. Fastify's default error handler sends an
 * error's `message` as it is, and a component's render exception, or a store's (which names its host
 * and port), must not reach the visitor (PROTOCOL §3) even in an app that never set our error
 * handler. So a server error becomes a `LiveError` of its code (a render bug: 500 `INTERNAL_ERROR`; a
 * store down: 503 `SERVICE_UNAVAILABLE`) whose message is the registry's generic one, with the
 * original as `cause`, which the log keeps. An error made to be shown to the client passes as it is.
 */
function pageFailure(error: unknown): LiveError {
  if (isLiveError(error) && error.expose) return error;
  if (!isLiveError(error)) return new LiveError('INTERNAL_ERROR', { cause: error });
  return new LiveError(error.code, { cause: error, fields: error.fields, headers: error.headers });
}
