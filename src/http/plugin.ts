/**
 * The Fastify plugin: `POST /api/livecomponents/action`, `GET /livecomponents/client.js`,
 * `app.livecomponents.view(request, reply)` for pages with components, and `verifyForm` /
 * `switchUser` for the app's own form routes (sign-in, sign-out).
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { HEADERS, ROUTES } from '../core/wire.js';
import type { LiveRuntime } from '../runtime/index.js';
import { InvalidOptionError } from '../ops/health/options-error.js';
import type { Session } from '../session/types.js';
import { serializeActionBody } from './action-json.js';
import { registerClientAsset } from './client-asset.js';
import { isClientAbort, logFailure, sendError } from './error-mapping.js';
import { createFormSessions, switchedSessionCookie } from './forms.js';
import { useJsonBodies } from './json-body.js';
import { createPageView, headPayloadOf, type PageView } from './page.js';
import { requestInfo } from './request-info.js';
import { ACTION_HEADERS, pageHeadersOf, setPageHeaders } from './security-headers.js';
import { createSessionCookie, type SessionCookie } from './session-cookie.js';
import { afterHeadParsed, bodyUnread, closeIfBodyUnread, JSON_MEDIA_TYPE } from './unread-body.js';

/** Largest action body accepted by default (PROTOCOL §3: 413 beyond); the plugin's `actionBodyLimit`. */
export const ACTION_BODY_LIMIT = 1_048_576;

/** The action route's bodies all come through its JSON parser, which checked their depth and values. */
const BODY_SCANNED = { bodyScanned: true } as const;

export interface LiveComponentsPluginOptions {
  runtime: LiveRuntime;
  /**
   * Mark cookies `Secure` (and name the session cookie `__Host-lc_session`). Turn on behind HTTPS.
   * @default false
   */
  secureCookies?: boolean;
  /** Path of the browser runtime bundle. @default the package's dist/client/livecomponents.js */
  clientBundlePath?: string;
  /**
   * Changes to the headers of pages served through `view()` (security-headers.ts): a string sets a
   * header, `false` drops one. For example a fuller policy:
   * `{ 'content-security-policy': "default-src 'self'; frame-ancestors 'none'" }`. A header already set
   * on the reply for this request wins (a nonce policy), but for a shared-cacheable `cache-control`;
   * `cache-control` itself must say `private` or `no-store` (else a TypeError at registration).
   * @default DEFAULT_PAGE_HEADERS (no framing by other origins, nosniff, `Cache-Control: no-store`)
   */
  pageHeaders?: Readonly<Record<string, string | false>>;
  /**
   * Largest action body accepted, in bytes: a larger one answers 413 `PAYLOAD_TOO_LARGE` without
   * being read further. A positive integer. Whatever the size, a body holding more than
   * `MAX_BODY_VALUES` (10,000) values or nested deeper than `MAX_BODY_DEPTH` (32) answers 400
   * `INVALID_REQUEST` before it is parsed. Lower it when no action takes large params (a form's
   * fields: a few KiB); raising it past 1 MiB leaves PROTOCOL §3, and `createServerOptions`' server-wide
   * `bodyLimit` does not apply to this route.
   * @default ACTION_BODY_LIMIT (1 MiB, PROTOCOL §3)
   */
  actionBodyLimit?: number;
}

export interface LiveComponentsDecorator {
  readonly runtime: LiveRuntime;
  readonly cookie: SessionCookie;
  /** Session, CSRF token and component mounting for one page. */
  view(request: FastifyRequest, reply: FastifyReply): Promise<PageView>;
  /**
   * The session of a form post (a route of the app, not a component action) whose source is this app
   * and whose `_csrf_token` field verifies, else `null`: answer 403 then. Checks `Sec-Fetch-Site` and
   * `Origin` against `runtime.trustedOrigins` (the action route's origins), the session against the
   * store, then the token (`runtime.csrf.verify`; strict mode spends it, so put `view.formToken()` in
   * forms). A refusal logs one security event: `session_use_after_expire` for a same-origin post of
   * an expired or signed-out session (an old tab), `malicious_csrf` for everything else. Its source
   * check runs after the route's body parser: give the route `onRequest:
   * refuseForeignForms(app.livecomponents.runtime, answer)`, so a foreign post is refused as CSRF
   * before its body is read, whatever the body.
   * @example
   * const session = await app.livecomponents.verifyForm(request, request.body._csrf_token);
   * if (session === null) return reply.code(403).send('Refused');
   */
  verifyForm(request: FastifyRequest, token: unknown): Promise<Session | null>;
  /**
   * Signs `session` in as `userId`, or out with `null`: regenerates the session id (the old id and its
   * CSRF tokens stop working), stores the new session, sets its cookie on `reply` and returns it. Call
   * it with the session `verifyForm` returned, after checking the user's credentials. The components'
   * state does not carry over: it is sealed to the old id, and every component starts afresh in the
   * new session; keep what must survive a sign-in in your own tables, keyed by user. A `view()` later
   * in the same request is the new session's (the signed-in page, or the signed-out one).
   * @example
   * await app.livecomponents.switchUser(reply, session, user.id);
   * return reply.code(303).header('location', '/').send();
   */
  switchUser(reply: FastifyReply, session: Session, userId: string | null): Promise<Session>;
}

declare module 'fastify' {
  interface FastifyInstance {
    livecomponents: LiveComponentsDecorator;
  }
}

const plugin: FastifyPluginAsync<LiveComponentsPluginOptions> = async (app, options) => {
  refusePrefix(app, options);
  const { runtime } = options;
  const bodyLimit = actionBodyLimitOf(options.actionBodyLimit);
  const sessionCookie = createSessionCookie(options.secureCookies ?? false);
  const pageHeaders = pageHeadersOf(options.pageHeaders);
  const forms = createFormSessions(runtime, sessionCookie);
  // Page views read the session a `switchUser` of the same request switched to, if any (forms.ts).
  const pageCookie = switchedSessionCookie(sessionCookie);
  // No @fastify/cookie: the session cookie is read and written by session-cookie.ts alone, so an
  // app may register its own before or after ours, configured as it likes.

  app.decorate('livecomponents', {
    runtime,
    cookie: sessionCookie,
    view: (request: FastifyRequest, reply: FastifyReply) => createPageView(runtime, pageCookie, request, setPageHeaders(reply, pageHeaders)),
    verifyForm: forms.verifyForm,
    switchUser: forms.switchUser,
  } satisfies LiveComponentsDecorator);

  // A callback hook, not an async one: no promise per response on the hot path. Every answer of the
  // app passes here, so here an answer given before its body was read (a refusal in a hook, Fastify's
  // 415, the not-found handler's 404/405: Fastify reads no body for those) closes the connection when
  // the body is not all in, or Node would read the rest to its end (unread-body.ts). Decided once the
  // read that brought the head is parsed: most such answers are given inside it, where a small body
  // that came with the head is not parsed yet, and closed a connection for nothing. After a body was
  // read: one property read.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header(HEADERS.requestId, request.id);
    const body = headPayloadOf(reply, payload);
    if (!bodyUnread(request.raw)) return done(null, body);
    afterHeadParsed(request, () => {
      closeIfBodyUnread(request, reply);
      done(null, body);
    });
  });

  // No onClose hook closing the runtime: the app made it and may share it with another Fastify
  // instance (tests, a dev server rebuilt on reload), whose release retries must go on. Whoever made
  // the runtime closes it, before the store it uses (examples/demo/app.ts).

  registerClientAsset(app, options.clientBundlePath);
  await app.register(actionRoute, { runtime, sessionCookie, bodyLimit });
};

/**
 * PROTOCOL §2–§3 fix the runtime's paths (`/livecomponents/client.js`, `/api/livecomponents/action`),
 * and the page's `<script>` and the browser runtime use them as they are. Registered under a prefix,
 * the routes would move while the page still names the fixed ones (404: the buttons do nothing); and
 * `prefix` on the plugin's own registration is ignored (`fastify-plugin`). So either is refused.
 */
function refusePrefix(app: FastifyInstance, options: LiveComponentsPluginOptions): void {
  const given = (options as { prefix?: unknown }).prefix;
  // `'/'` is no prefix either: Fastify joins `/` and `/api/…` to the fixed path.
  const none = (prefix: unknown): boolean => prefix === undefined || prefix === '' || prefix === '/';
  if (none(app.prefix) && none(given)) return;
  const where = none(app.prefix) ? `with { prefix: ${JSON.stringify(given)} }` : `inside a plugin with the prefix ${JSON.stringify(app.prefix)}`;
  throw new InvalidOptionError(
    'livecomponents',
    `registered ${where}: its routes are fixed at ${ROUTES.action} and ${ROUTES.clientScript}, and pages name those. Register it on the root instance (or a context without a prefix), next to your prefixed routes`,
  );
}

/** `actionBodyLimit`, checked at start-up: a bad value fails registration (or `createTestHarness`, `where`) rather than every request. */
export function actionBodyLimitOf(value: number | undefined, where = 'livecomponents'): number {
  if (value === undefined) return ACTION_BODY_LIMIT;
  if (!(Number.isSafeInteger(value) && value > 0)) throw new TypeError(`${where}: actionBodyLimit must be a positive integer (bytes), got ${String(value)}`);
  return value;
}

/** The action route lives in its own context: only JSON is parsed there, errors map to our codes. */
async function actionRoute(app: FastifyInstance, opts: { runtime: LiveRuntime; sessionCookie: SessionCookie; bodyLimit: number }): Promise<void> {
  const { runtime, sessionCookie, bodyLimit } = opts;
  useJsonBodies(app, { bodyLimit });
  // A JSON body the parser refuses (malformed 400, another charset 415, over `bodyLimit` 413) from a
  // source the CSRF stage refuses (`Sec-Fetch-Site: cross-site`, an untrusted `Origin`) is answered as
  // that stage would: 403 and its one `malicious_csrf` (PROTOCOL §3: CSRF first), not the parser's
  // status with at most CORS's `malicious_cors`. The error path only: nothing added to an action.
  app.setErrorHandler((error, request, reply) => {
    reply.headers(ACTION_HEADERS);
    const refused = isClientError(error) && !isClientAbort(error, request) ? runtime.refuseForeignSource(requestInfo(request)) : null;
    if (refused === null) return sendError(error, request, reply);
    return reply.code(refused.status).send(refused.body);
  });
  // JSON.stringify's text; the HTML the idempotency record just encoded is not escaped twice.
  app.setReplySerializer(serializeActionBody);

  // A body that is not JSON, from a source the CSRF stage refuses: what a browser posts cross-site
  // without asking (a form, `text/plain`, no body), as no page of the app does. Refused as CSRF before
  // the parser reads it — 403 and its `malicious_csrf` — where the parser answered 415. A JSON body
  // goes on: the pipeline's CSRF stage refuses it with the action's rate-limit fields (PROTOCOL §3:
  // on every action response), and a JSON body that is no action is refused so by `handleAction`.
  //
  // Either answer (this 403, or the 415 of the parser lookup for the app's own origin) goes before the
  // body is read: the plugin's onSend closes the connection after it when the body announced is not all in.
  const onRequest = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void => {
    if (JSON_MEDIA_TYPE.test(request.headers['content-type'] ?? '')) return done();
    const refused = runtime.refuseForeignSource(requestInfo(request));
    if (refused === null) return done();
    reply.code(refused.status).headers(ACTION_HEADERS).send(refused.body);
  };
  app.post(ROUTES.action, { bodyLimit, onRequest }, async (request, reply) => {
    // Only parsed here: the pipeline verifies the session in its first store round trip.
    const session = runtime.sessions.fromCookie(sessionCookie.read(request));
    const res = await runtime.handleAction(requestInfo(request), request.body, session, BODY_SCANNED);
    if (res.failure !== undefined) logFailure(request, res.failure, (res.body as { code: string }).code);
    return reply.code(res.status).headers(ACTION_HEADERS).headers(res.headers).send(res.body);
  });
}

/** A 4xx the body parser or Fastify raised before the handler ran (400, 413, 415): the request's fault. */
function isClientError(error: unknown): boolean {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500;
}

export const livecomponents = fp(plugin, { fastify: '5.x', name: 'livecomponents' });
