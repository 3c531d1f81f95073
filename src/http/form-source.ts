/**
 * The CSRF source check of a form route, before its body is read. `verifyForm` refuses a post whose
 * source is foreign (`Sec-Fetch-Site: cross-site`, an `Origin` that is not trusted) — but only once
 * the route's body parser has read the body and let it through: a cross-site post of an oversize
 * form got the parser's 413, `text/plain` or multipart its 415 (the body read to its end on a kept-
 * alive connection), a form that is not UTF-8 its 400, and none of them a `malicious_csrf`. Only a
 * well-formed form met the CSRF refusal. `refuseForeignForms` is the route's `onRequest` hook that
 * runs the same check first (PROTOCOL §3: CSRF first), as the action route does for its bodies:
 * whatever the body, a foreign source gets the route's CSRF refusal and one `malicious_csrf`, and
 * the connection closes after the answer when the body announced is not all in (unread-body.ts).
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { LiveError } from '../core/errors.js';
import { isThenable } from '../core/thenable.js';
import { untrustedOriginAdvice } from '../pipeline/csrf/index.js';
import { checkSource, type SourceRefusal } from '../pipeline/csrf/origins.js';
import type { LiveRuntime } from '../runtime/index.js';
import { logFailure, sendError } from './error-mapping.js';
import { requestInfo } from './request-info.js';
import { afterHeadParsed, closeIfBodyUnread } from './unread-body.js';

/**
 * Descriptions of a form post refused for its source: which check failed, never request data. The
 * `origin` one is followed by the trusted origins and what to do (`untrustedOriginAdvice`).
 */
export const FOREIGN_FORM_REFUSED: Readonly<Record<Exclude<SourceRefusal, null>, string>> = {
  'cross-site': 'Form post refused: Sec-Fetch-Site is cross-site',
  origin: 'Form post refused: Origin header is not a trusted origin',
};

/**
 * Whether the source of a form post is refused (`checkSource` against `runtime.trustedOrigins`, the
 * action route's origins); when it is, its one `malicious_csrf` has been logged. `verifyForm`'s first
 * step and `refuseForeignForms`' check: one event, one description, whichever refuses.
 */
export function formSourceRefused(runtime: LiveRuntime, request: FastifyRequest): boolean {
  const source = checkSource(request.headers, runtime.trustedOrigins);
  if (source === null) return false;
  const description = source === 'origin' ? `${FOREIGN_FORM_REFUSED.origin}${untrustedOriginAdvice(runtime.trustedOrigins)}` : FOREIGN_FORM_REFUSED[source];
  runtime.events.emit({ event: 'malicious_csrf', level: 'WARN', description, request: requestInfo(request) });
  return true;
}

/**
 * The route's answer to a form post `verifyForm` would refuse for its source, given before the body is
 * read (`request.body` is `undefined`). It must answer — `reply.send(…)` (or `reply.redirect(…)`) —
 * before it returns, or before the promise it returns settles (an `async` answer). `error` is the
 * `CSRF_TOKEN_INVALID` (403) the route's own refusal would show.
 */
export type ForeignFormAnswer = (request: FastifyRequest, reply: FastifyReply, error: LiveError) => unknown;

/** The default answer: the JSON error body of PROTOCOL §3, 403 `CSRF_TOKEN_INVALID`. */
const answerJson: ForeignFormAnswer = (request, reply, error) => sendError(error, request, reply);

/**
 * An `onRequest` hook for a form route of the app (a route that calls `verifyForm`): a post from a
 * source `verifyForm` refuses — `Sec-Fetch-Site: cross-site`, or an `Origin` that is not one of
 * `runtime.trustedOrigins` (`Origin: null` with `Sec-Fetch-Site: same-origin` passes, as there) — is
 * refused here, before its body is read, whatever the body holds (oversize, `text/plain`, multipart,
 * malformed, none): one `malicious_csrf` with `verifyForm`'s description, then `answer`, with
 * `Connection: close` when the body announced is not all in (Node would otherwise read the rest to its
 * end; a small body that came with the head keeps the connection for the client's next request). Give it
 * the answer the route gives when `verifyForm` returns `null`, so a refusal looks the same whichever
 * refused it. Any other source goes on to the parser and the route unchanged, and `verifyForm` still
 * checks its session and token. A GET, HEAD or OPTIONS always goes on (a route that serves the form
 * and takes its post may have the hook on both methods). An `answer` that does not send — returns
 * nothing or the unsent reply, synchronously or as an `async` one — or that throws or rejects before
 * sending goes to the route's error handler (a 500): the request is never left hanging, and never
 * goes on to the parser or the handler.
 * @example
 * const { runtime } = app.livecomponents;
 * app.post('/contact', { onRequest: refuseForeignForms(runtime, (request, reply) => reply.code(403).type('text/html').send(REFUSED_PAGE)) }, async (request, reply) => {
 *   const session = await app.livecomponents.verifyForm(request, request.body._csrf_token);
 *   if (session === null) return reply.code(403).type('text/html').send(REFUSED_PAGE);
 *   …
 * });
 * @param answer default: 403 `CSRF_TOKEN_INVALID` as JSON (PROTOCOL §3's error shape)
 */
export function refuseForeignForms(runtime: LiveRuntime, answer: ForeignFormAnswer = answerJson): onRequestHookHandler {
  // A callback hook: `done` is called only for a source that goes on, or with the error of an answer
  // that failed or did not send. A refused request never reaches the parser or the handler.
  return function refuseForeignForm(request, reply, done) {
    // A GET, HEAD or OPTIONS is no form post (a route serving the form and taking its post has the
    // hook on both): a link from another site is a top-level navigation, not CSRF.
    if (SAFE_METHODS.has(request.method) || !formSourceRefused(runtime, request)) return done();
    // Answered once the read that brought the head is parsed: a small form that came with it is all
    // in then, and the connection stays open for the client's next request (unread-body.ts).
    afterHeadParsed(request, () => {
      closeIfBodyUnread(request, reply);
      runAnswer(answer, request, reply, done);
    });
  };
}

/** The parts of a reply `runAnswer` shadows while the answer runs (own properties over the prototype's). */
type WatchedReply = Partial<Record<'send' | 'then', unknown>>;

/**
 * Runs `answer` and makes sure the request ends: an answer that sent (or started to: an app's async
 * `onSend` hook may still hold the response) stands; one that did not — it returned nothing, or the
 * reply without `.send()`, synchronously or as a promise — is `UNSENT`, and one that threw or rejected
 * before sending is its error, both for the route's error handler (a 500). A failure after the answer
 * started to send is logged: the response is under way.
 *
 * Two things are watched while the answer runs, as own properties of the reply, put back as they were
 * (none, as a rule) when it has settled: `send` (which `redirect` and the view plugins call too), since `reply.sent` is true only
 * once the response has ended; and `then`, shadowed, because a Fastify reply is a thenable that
 * settles once its response is written — an `async` answer returning the reply unsent
 * (`async (request, reply) => reply.code(303)`) adopted it and never settled, and the request hung
 * until a timeout. With `then` shadowed, its promise settles with the reply, which has not sent.
 */
function runAnswer(answer: ForeignFormAnswer, request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void {
  const watched = reply as unknown as WatchedReply;
  // What was there is put back, not deleted: an answer may run another such hook first (hooks
  // composed), whose own `send` and `then` go over these and must not take them away when it settles.
  const found = { send: Object.getOwnPropertyDescriptor(watched, 'send'), then: Object.getOwnPropertyDescriptor(watched, 'then') };
  let sending = false;
  const send = reply.send;
  watched.send = function sendWatched(this: FastifyReply, payload?: unknown) {
    // Counted once it returns: a `send` that throws wrote nothing (an invalid payload type, say, in an
    // app without an `onSend` hook), and the answer's failure goes to the error handler.
    const sent = send.call(this, payload);
    sending = true;
    return sent;
  };
  Object.defineProperty(watched, 'then', { value: undefined, configurable: true, writable: true });
  const settle = (failed: boolean, error?: unknown): void => {
    restore(watched, 'send', found.send);
    restore(watched, 'then', found.then);
    const started = sending || reply.sent || reply.raw.headersSent;
    if (started) {
      // As a 500's cause is logged: on request.log, or on standard output when the app's logger is
      // off (Fastify's default), where request.log.error alone said nothing.
      if (failed) logFailure(request, error, 'CSRF_TOKEN_INVALID', 'refuseForeignForms: the answer to a refused form post failed after it started to send');
      return;
    }
    done(failed ? asError(error) : new Error(UNSENT));
  };
  let answered: unknown;
  try {
    answered = answer(request, reply, new LiveError('CSRF_TOKEN_INVALID'));
  } catch (error) {
    return settle(true, error);
  }
  if (!isThenable(answered)) return settle(false);
  Promise.resolve(answered).then(
    () => settle(false),
    (error: unknown) => settle(true, error),
  );
}

/** Puts `key` of `target` back as it was: the own property found, or none. */
function restore(target: WatchedReply, key: keyof WatchedReply, descriptor: PropertyDescriptor | undefined): void {
  if (descriptor === undefined) delete target[key];
  else Object.defineProperty(target, key, descriptor);
}

/** Methods that never carry a form post: passed on whatever their source. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

const UNSENT = 'refuseForeignForms: the answer to a refused form post did not send a reply';

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(`refuseForeignForms: the answer to a refused form post failed with ${String(error)}`));
