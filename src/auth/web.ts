/**
 * Browser sign-in and sign-out for pages with components (the reference app's `/login` and
 * `/logout` forms). A sign-in checks, in order: the session and its CSRF token (the page's token,
 * verified by the framework's CSRF service, plus the `Origin` header), the `login` rate limit
 * shared with the JSON endpoint, the input, the password (the same path as the API, with the same
 * answer for an unknown email). Then it records the sign-in, regenerates the session id — which
 * also rotates the CSRF secret, derived from it — and sets the new cookie. Sign-out revokes the
 * sign-in and regenerates the session as an anonymous one; a session signed out already (by another
 * tab) is left as it is, with or without a valid token: nothing changes. The form checks and the
 * session switch are the plugin's own (src/http/forms.ts, `app.livecomponents.verifyForm` / `switchUser`);
 * the routes' `onRequest` hook, `refuseForeignForms`, refuses a foreign source before the body is read.
 *
 * A signed-in browser changes its password (`changePassword`, the reference app's `/change-password`
 * form; the JSON route needs a Bearer token, which a browser session has not): the form's token, the
 * same two budgets as the API route (`change-password` per client, `PASSWORD_CHANGE_PER_ACCOUNT` per
 * user), then `password-change.ts` (every sign-in of the user revoked, this one too). The browser that
 * proved the current password keeps going: a fresh sign-in under the new hash, in a new session id.
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { User } from '../core/component.js';
import { LiveError } from '../core/errors.js';
import { refuseForeignForms, type ForeignFormAnswer } from '../http/form-source.js';
import { createFormSessions } from '../http/forms.js';
import { checkSource } from '../pipeline/csrf/origins.js';
import { requestInfo } from '../http/request-info.js';
import type { SessionCookie } from '../http/session-cookie.js';
import type { RequestInfo } from '../pipeline/types.js';
import type { LiveRuntime } from '../runtime/index.js';
import type { Session } from '../session/types.js';
import type { DeviceCookie } from './device.js';
import { readCredentials } from './input.js';
import type { AuthLimiter } from './limits.js';
import type { AuthService } from './service.js';

export interface WebSignInOptions {
  runtime: LiveRuntime;
  /** The session cookie of the plugin (`app.livecomponents.cookie`). */
  cookie: SessionCookie;
  service: AuthService;
  limiter: AuthLimiter;
  /** The device cookie of sign-ins (`device.ts`), shared with the JSON endpoint. */
  device: DeviceCookie;
}

/** The form fields of a password change. */
export interface ChangePasswordForm {
  current_password?: unknown;
  new_password?: unknown;
  _csrf_token?: unknown;
}

/** The form fields of a sign-in. */
export interface SignInForm {
  email?: unknown;
  password?: unknown;
  _csrf_token?: unknown;
}

export type WebResult =
  | { readonly type: 'ok'; readonly session: Session; readonly user: User | null }
  | { readonly type: 'error'; readonly error: LiveError; readonly headers: Record<string, string> };

export interface WebSignIn {
  signIn(request: FastifyRequest, reply: FastifyReply, form: SignInForm): Promise<WebResult>;
  signOut(request: FastifyRequest, reply: FastifyReply, form: { _csrf_token?: unknown }): Promise<WebResult>;
  /**
   * Changes the password of the session's signed-in user (401 `UNAUTHENTICATED` when none). On
   * success every sign-in of the user has ended, and the session continues as a fresh sign-in under
   * the new password, with a new session id (and CSRF secret); the browser is trusted afresh.
   */
  changePassword(request: FastifyRequest, reply: FastifyReply, form: ChangePasswordForm): Promise<WebResult>;
  /**
   * The `onRequest` hook of the sign-in and sign-out routes (`refuseForeignForms` on this sign-in's
   * runtime): a post from a source `signIn` / `signOut` refuse as CSRF is refused before its body is
   * read, whatever it holds, with `answer` — the route's answer to their `CSRF_TOKEN_INVALID` — and
   * one `malicious_csrf`. Without it, an oversize, `text/plain` or malformed cross-site post got the
   * body parser's 413, 415 or 400 and no event (login CSRF: the sign-in form planting a session).
   * @example app.post('/login', { onRequest: web.refuseForeignForms(answerRefusedSignIn) }, …)
   */
  refuseForeignForms(answer: ForeignFormAnswer): onRequestHookHandler;
}

export function createWebSignIn(options: WebSignInOptions): WebSignIn {
  const { runtime, cookie, service, limiter, device } = options;
  const { verifyForm, switchUser } = createFormSessions(runtime, cookie);
  const refused = (error: LiveError, headers: Record<string, string> = {}): WebResult => ({ type: 'error', error, headers });

  /**
   * The cookie's session when it is signed out already and the post comes from this app, else `null`.
   * Another tab signed out (the cookie now names a new anonymous session, which this page's token,
   * of the old one, does not verify against) or out and in again: signing out a session that is not
   * signed in changes nothing, so it needs no token, and refusing it told a signed-out user that
   * the security token was invalid, logged as an attack. Anything else goes through `verifyForm`: a
   * foreign source (refused, `malicious_csrf`, even with an anonymous cookie), and a signed-in
   * session, whose sign-out still needs its token (a forged one is refused and logged).
   */
  async function signedOutAlready(request: FastifyRequest): Promise<Session | null> {
    if (checkSource(request.headers, runtime.trustedOrigins) !== null) return null;
    const session = await runtime.sessions.load(cookie.read(request));
    return session !== null && session.userId === null ? session : null;
  }

  /** `info`: the sign-in's request, for the `session_logout` of a sign-in it replaces. */
  async function switchSession(reply: FastifyReply, old: Session, userId: string | null, info: RequestInfo): Promise<Session> {
    if (old.userId !== null) await service.endWebSession(old.userId, info);
    return switchUser(reply, old, userId);
  }

  return {
    refuseForeignForms: (answer) => refuseForeignForms(runtime, answer),

    async signIn(request, reply, form) {
      const session = await verifyForm(request, form._csrf_token);
      if (session === null) return refused(new LiveError('CSRF_TOKEN_INVALID'));
      const info = requestInfo(request);
      const limit = await limiter.check('login', info);
      if (!limit.allowed) return refused(limit.error, limit.headers);
      const input = readCredentials(form);
      if (!input.ok) return refused(input.error, limit.headers);
      const verified = await service.verifyCredentials(input.value.email, input.value.password, info, device.read(request));
      if (verified.type === 'error') return refused(verified.error, { ...limit.headers, ...verified.error.headers });
      const { user } = verified;
      const started = await service.startWebSession(user, info);
      if (started.type === 'error') return refused(started.error, limit.headers);
      const next = await switchSession(reply, session, started.sessionUserId, info);
      // Only now, the sign-in recorded: a refused one (a reset committed meanwhile) trusts no browser.
      const trusted = await service.rememberDevice(input.value.email, verified.trustedDevice);
      if (trusted !== null) device.write(reply, trusted);
      return { type: 'ok', session: next, user: { id: user.id, email: user.email, name: user.name } };
    },

    async changePassword(request, reply, form) {
      const session = await verifyForm(request, form._csrf_token);
      if (session === null) return refused(new LiveError('CSRF_TOKEN_INVALID'));
      const user = session.userId === null ? null : await service.webSessionUser(session.userId);
      if (user === null) return refused(new LiveError('UNAUTHENTICATED'));
      const info = requestInfo(request);
      const limit = await limiter.check('change-password', info);
      if (!limit.allowed) return refused(limit.error, limit.headers);
      const body = { current_password: form.current_password, new_password: form.new_password };
      const changed = await service.passwordChange.changeFor(user, body, info);
      if (changed.type === 'error') return refused(changed.error, { ...limit.headers, ...changed.error.headers });
      // Every sign-in of the user ended with the change, this browser's too (`changePassword` in the
      // repository); it just proved the current password, so it signs in afresh under the new hash. A
      // refusal here (another change or a reset committed meanwhile) leaves it signed out.
      const started = await service.startWebSession(changed.user, info);
      const next = await switchUser(reply, session, started.type === 'ok' ? started.sessionUserId : null);
      if (changed.device !== null) device.write(reply, changed.device);
      const { id, email, name } = changed.user;
      return { type: 'ok', session: next, user: started.type === 'ok' ? { id, email, name } : null };
    },

    async signOut(request, reply, form) {
      // Signed out already: nothing to end, and no new session either — regenerating here minted a
      // session (and orphaned its component states) per request, past the new-session limit.
      const anonymous = await signedOutAlready(request);
      if (anonymous !== null) return { type: 'ok', session: anonymous, user: null };
      const session = await verifyForm(request, form._csrf_token);
      if (session === null) return refused(new LiveError('CSRF_TOKEN_INVALID'));
      // Signed out by another request since (a tab signing out at the same time).
      if (session.userId === null) return { type: 'ok', session, user: null };
      const next = await switchSession(reply, session, null, requestInfo(request));
      return { type: 'ok', session: next, user: null };
    },
  };
}
