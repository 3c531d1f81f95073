/**
 * HTML forms that post to a route of the app (sign-in, sign-out, any form outside a component):
 * `verifyForm` gives the session of a same-origin post whose CSRF token verifies, `switchUser`
 * signs a session in or out. The plugin's `app.livecomponents.verifyForm` / `switchUser` and the
 * auth module's `/login` and `/logout` (src/auth/web.ts) are both these two functions.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LiveRuntime } from '../runtime/index.js';
import type { Session } from '../session/types.js';
import { formSourceRefused } from './form-source.js';
import { requestInfo } from './request-info.js';
import type { SessionCookie } from './session-cookie.js';

export interface FormSessions {
  /**
   * The session of a form post whose source is this app and whose CSRF token verifies, else `null`
   * (answer 403 then). Checks, in order: `Sec-Fetch-Site` and `Origin` against the origins the
   * action route trusts (`runtime.trustedOrigins`), the session cookie against the store, the token
   * with `runtime.csrf.verify` (in strict mode this spends it: use `view.formToken()` in forms).
   * Each refusal logs one security event: `session_use_after_expire` for a same-origin post whose
   * session has expired or was signed out elsewhere (an old tab), `malicious_csrf` for the rest.
   * `token` is the form's `_csrf_token` field as parsed: anything but a string is refused.
   * Its source check runs after the route's body parser: give the route `refuseForeignForms`
   * (form-source.ts) as its `onRequest` hook, so a foreign post is refused as CSRF whatever its body
   * (an oversize, `text/plain` or malformed one got the parser's 413, 415 or 400 and no event).
   */
  verifyForm(request: FastifyRequest, token: unknown): Promise<Session | null>;
  /**
   * Signs `session` in as `userId` (a string) or out (`null`): a new session id (the old one and
   * every CSRF token of it stop working, since the CSRF secret derives from the id), stored, and set
   * as the cookie on `reply`. Returns the new session. The components' state does not carry over:
   * it is sealed to the old id, and the new one starts every component afresh. A page view opened
   * later in the same request (`view()`) is the new session's: the signed-in user's page, or the
   * signed-out one, with no other session made (`switchedSessionCookie`).
   */
  switchUser(reply: FastifyReply, session: Session, userId: string | null): Promise<Session>;
}

/**
 * The session each request switched to (`switchUser`), by request: its id, the value of the cookie
 * `switchUser` set. Kept with the request, so it goes with it. Module-wide, since the plugin's
 * `switchUser` and the auth module's (src/auth/web.ts) are two `createFormSessions` of one runtime.
 */
const SWITCHED = new WeakMap<FastifyRequest, string>();

/**
 * `cookie`, but reading, for a request that has switched its session (`switchUser`), the session it
 * switched to: the cookie its reply sets, which the browser holds from then on. The page view reads
 * the session cookie with it (the plugin's `view()`): a route that signed a user in or out and then
 * rendered a page in the same request read the old cookie, whose session `switchUser` had just
 * ended, found none, and stored a new anonymous one whose `Set-Cookie` replaced the switched one —
 * the user was signed out again (and the page spent a step of `newSessionLimit`). Any other request
 * reads its `Cookie` header as ever.
 */
export function switchedSessionCookie(cookie: SessionCookie): SessionCookie {
  return { ...cookie, read: (request) => SWITCHED.get(request) ?? cookie.read(request) };
}

/** Event descriptions: which check failed, never request data or token text (the source's: form-source.ts). */
const REFUSED: Readonly<Record<'session' | 'token', string>> = {
  session: 'Form post refused: no session',
  token: 'Form post refused: CSRF token missing, invalid or from another session',
};

export function createFormSessions(runtime: LiveRuntime, cookie: SessionCookie): FormSessions {
  const { sessions, csrf, events } = runtime;

  function refuse(request: FastifyRequest, reason: keyof typeof REFUSED): null {
    events.emit({ event: 'malicious_csrf', level: 'WARN', description: REFUSED[reason], request: requestInfo(request) });
    return null;
  }

  return {
    async verifyForm(request, token) {
      // A foreign source is refused before any store round trip (logged there). A route with
      // `refuseForeignForms` refused it before its body was read: the handler does not run then.
      if (formSourceRefused(runtime, request)) return null;
      const cookieValue = cookie.read(request);
      const session = await sessions.load(cookieValue);
      if (session === null) {
        if (sessions.fromCookie(cookieValue) === null) return refuse(request, 'session');
        // A form left open past its session's lifetime (or signed out elsewhere): a user back at an
        // old tab, as on the action route — not an attack, and not for the CSRF alert.
        events.emit({ event: 'session_use_after_expire', level: 'INFO', description: 'Form post for an unknown or expired session', request: requestInfo(request) });
        return null;
      }
      if (typeof token !== 'string' || token === '' || !(await csrf.verify(session, token))) return refuse(request, 'token');
      return session;
    },

    async switchUser(reply, session, userId) {
      const next = await sessions.regenerate(session, userId);
      cookie.write(reply, next);
      // A page view later in this request finds this session, not the old cookie's (ended).
      SWITCHED.set(reply.request, next.id);
      return next;
    },
  };
}
