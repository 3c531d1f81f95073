/**
 * Browser sign-in and sign-out for pages with components (the reference app's `/login` and
 * `/logout` forms). A sign-in checks, in order: the session and its CSRF token (the page's token,
 * verified by the framework's CSRF service, plus the `Origin` header), the `login` rate limit
 * shared with the JSON endpoint, the input, the password (the same path as the API, with the same
 * answer for an unknown email). Then it records the sign-in, regenerates the session id — which
 * also rotates the CSRF secret, derived from it — and sets the new cookie. Sign-out revokes the
 * sign-in and regenerates the session as an anonymous one.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { User } from '../core/component.js';
import { LiveError } from '../core/errors.js';
import { requestInfo } from '../http/request-info.js';
import type { SessionCookie } from '../http/session-cookie.js';
import { checkSource } from '../pipeline/csrf/origins.js';
import type { RequestInfo } from '../pipeline/types.js';
import type { LiveRuntime } from '../runtime/index.js';
import type { Session } from '../session/types.js';
import { readCredentials } from './input.js';
import type { AuthLimiter } from './limits.js';
import type { AuthService } from './service.js';

export interface WebSignInOptions {
  runtime: LiveRuntime;
  /** The session cookie of the plugin (`app.livecomponents.cookie`). */
  cookie: SessionCookie;
  service: AuthService;
  limiter: AuthLimiter;
  /** The app's own origin: the only one whose pages may post these forms. */
  appOrigin: string;
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
}

export function createWebSignIn(options: WebSignInOptions): WebSignIn {
  const { runtime, cookie, service, limiter } = options;
  const trusted: ReadonlySet<string> = new Set([new URL(options.appOrigin).origin]);
  const refused = (error: LiveError, headers: Record<string, string> = {}): WebResult => ({ type: 'error', error, headers });

  /** The request's session when the form's CSRF token is valid for it and the source is this app. */
  async function verifiedSession(request: FastifyRequest, token: unknown): Promise<Session | null> {
    const cookieValue = cookie.read(request);
    const session = await runtime.sessions.load(cookieValue);
    const sameSite = checkSource(request.headers, trusted) === null;
    const ok = session !== null && sameSite && typeof token === 'string' && (await runtime.csrf.verify(session, token));
    if (ok) return session;
    if (session === null && sameSite && runtime.sessions.fromCookie(cookieValue) !== null) {
      // A form left open past its session's lifetime (or signed out elsewhere): a user back at an old
      // tab, as on the action route — not an attack, and not for the CSRF alert.
      runtime.events.emit({ event: 'session_use_after_expire', level: 'INFO', description: 'Sign-in form for an unknown or expired session', request: requestInfo(request) });
      return null;
    }
    runtime.events.emit({
      event: 'malicious_csrf',
      level: 'WARN',
      description: `Sign-in form refused: ${session === null ? 'no session' : 'bad CSRF token or foreign origin'}`,
      request: requestInfo(request),
    });
    return null;
  }

  /** `info`: the sign-in's request, for the `session_logout` of a sign-in it replaces. */
  async function switchSession(reply: FastifyReply, old: Session, userId: string | null, info: RequestInfo): Promise<Session> {
    if (old.userId !== null) await service.endWebSession(old.userId, info);
    const session = await runtime.sessions.regenerate(old, userId);
    cookie.write(reply, session);
    return session;
  }

  return {
    async signIn(request, reply, form) {
      const session = await verifiedSession(request, form._csrf_token);
      if (session === null) return refused(new LiveError('CSRF_TOKEN_INVALID'));
      const info = requestInfo(request);
      const limit = await limiter.check('login', info);
      if (!limit.allowed) return refused(limit.error, limit.headers);
      const input = readCredentials(form);
      if (!input.ok) return refused(input.error, limit.headers);
      const user = await service.verifyCredentials(input.value.email, input.value.password, info);
      if (user === null) return refused(new LiveError('INVALID_CREDENTIALS'), limit.headers);
      const started = await service.startWebSession(user, info);
      if (started.type === 'error') return refused(started.error, limit.headers);
      const next = await switchSession(reply, session, started.sessionUserId, info);
      return { type: 'ok', session: next, user: { id: user.id, email: user.email, name: user.name } };
    },

    async signOut(request, reply, form) {
      const session = await verifiedSession(request, form._csrf_token);
      if (session === null) return refused(new LiveError('CSRF_TOKEN_INVALID'));
      // Signed out already: nothing to end, and no new session either — regenerating here minted a
      // session (and orphaned its component states) per request, past the new-session limit.
      if (session.userId === null) return { type: 'ok', session, user: null };
      await service.endWebSession(session.userId, requestInfo(request));
      const next = await runtime.sessions.regenerate(session, null);
      cookie.write(reply, next);
      return { type: 'ok', session: next, user: null };
    },
  };
}
