/**
 * The auth endpoints under `/api/v1/auth` (PROTOCOL §4), as a Fastify plugin. Register it with
 * that prefix. Only JSON bodies are read (16 KiB at most; `__proto__` keys refused); every answer
 * is `Cache-Control: no-store`; errors have the shape of PROTOCOL §3.
 *
 * Before anything else, a POST from a browser whose `Origin` is not allowed is refused (403
 * `FORBIDDEN`): the refresh cookie is `SameSite=Strict`, but a sibling subdomain is same-site, and
 * it must not be able to rotate or clear the cookie. Then the rate limit of the endpoint applies
 * (before the body is even parsed, so malformed requests count too). Both come before the body is
 * read, whatever it holds, and close the connection when the body announced is not all in (`guard`).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LiveError } from '../core/errors.js';
import { sendError } from '../http/error-mapping.js';
import { useJsonBodies } from '../http/json-body.js';
import { requestInfo } from '../http/request-info.js';
import { closeIfBodyUnread, headParsed, JSON_MEDIA_TYPE } from '../http/unread-body.js';
import { errorResponse } from '../runtime/index.js';
import type { RefreshCookie } from './cookie.js';
import type { DeviceCookie } from './device.js';
import { originAllowed } from './cors.js';
import type { AuthLimiter, LimitedRoute } from './limits.js';
import type { PasswordChange } from './password-change.js';
import type { AccessGrant } from './repository.js';
import type { AuthService, IssuedTokens } from './service.js';

/** Largest auth request body. */
export const AUTH_BODY_LIMIT = 16_384;

export interface AuthRoutesOptions {
  service: AuthService;
  limiter: AuthLimiter;
  cookie: RefreshCookie;
  /** The device cookie of sign-ins (`device.ts`). */
  device: DeviceCookie;
  /** Origins whose browsers may call these endpoints (see `resolveApiOrigins`). */
  origins: ReadonlySet<string>;
  /** `POST /change-password` (`password-change.ts`); without it the route is not registered. */
  passwordChange?: PasswordChange;
}

/** `202` body of forgot-password, the same for every email. */
export const FORGOT_PASSWORD_ANSWER = Object.freeze({
  message: 'If an account exists for this email, a link to reset its password is on its way.',
});

/** Rate-limit headers of each auth request, sent with its answer. */
const limitHeaders = new WeakMap<FastifyRequest, Record<string, string>>();
const headersOf = (request: FastifyRequest): Record<string, string> => limitHeaders.get(request) ?? {};

function fail(reply: FastifyReply, request: FastifyRequest, error: LiveError, extra: Record<string, string> = {}): FastifyReply {
  const res = errorResponse(error, String(request.id), { ...headersOf(request), ...extra });
  return reply.code(res.status).headers(res.headers).send(res.body);
}

function tokenAnswer(tokens: IssuedTokens) {
  return { access_token: tokens.accessToken, token_type: 'Bearer', expires_in: tokens.expiresIn } as const;
}

/**
 * Refuses a refresh cookie and a service that disagree on the companion cookie (cookie.ts), which
 * `registerAuth` derives from one `secureCookies` but a hand-wired `authRoutes` gets separately:
 * `createRefreshCookie(true)` with a service created without `secureCookies: true` gave `Secure`
 * cookies and tokens bound to nothing, the login-CSRF defence off without a word; the reverse (a
 * service that binds, a cookie that sets no companion) refused every refresh.
 */
function checkCookieMatchesService(cookie: RefreshCookie, service: AuthService): void {
  const carries = cookie.bindingName !== null;
  if (carries === service.bindsRefreshTokens) return;
  throw new TypeError(
    carries
      ? 'authRoutes: the refresh cookie carries the companion (createRefreshCookie(true)), but the service does not bind refresh tokens to it (createAuthService without secureCookies: true): pass secureCookies: true to createAuthService, or createRefreshCookie(false)'
      : 'authRoutes: the service binds refresh tokens to the companion cookie (createAuthService with secureCookies: true), but the refresh cookie carries none (createRefreshCookie(false)): every refresh would be refused; use createRefreshCookie(true), or secureCookies: false',
  );
}

export async function authRoutes(app: FastifyInstance, options: AuthRoutesOptions): Promise<void> {
  const { service, limiter, cookie, device, origins, passwordChange } = options;
  checkCookieMatchesService(cookie, service);

  // A POST without a body (refresh, logout) reads nothing from it.
  useJsonBodies(app, { bodyLimit: AUTH_BODY_LIMIT, allowEmpty: true });
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  // And `Connection: close` after an answer that leaves part of a body on the wire (unread-body.ts),
  // decided as it goes out: here too, for an app without the livecomponents plugin's own onSend.
  app.addHook('onSend', async (request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    closeIfBodyUnread(request, reply);
  });

  /**
   * One step of `route`'s rate limit; false after answering 429. Its headers go with the answer. The
   * 429 waits for the read that brought the head to be parsed (a store in memory decides before it):
   * a small body all in then keeps the connection (unread-body.ts).
   */
  async function withinLimit(route: LimitedRoute, request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const decision = await limiter.check(route, requestInfo(request));
    limitHeaders.set(request, decision.headers);
    if (decision.allowed) return true;
    await headParsed(request);
    await fail(reply, request, decision.error);
    return false;
  }

  /**
   * `onRequest` hook: the origin check, then the endpoint's rate limit, both before the body is read
   * (a foreign origin's malformed, wrong-charset or oversize JSON is refused 403 here, never 400, 415
   * or 413 by the parser). Either refusal, and the parser's 415 for a body that is not JSON (answered
   * before it is read too), closes the connection when the body announced is not all in (the onSend
   * hook): Node would read the rest to its end on a kept-alive connection, past `AUTH_BODY_LIMIT` (a
   * 32 MiB post from a foreign origin was read whole). A small body all in keeps it.
   */
  const guard = (route: LimitedRoute | null) =>
    async function guardHook(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      if (request.method === 'POST' && !originAllowed(request.headers, origins)) {
        // Not in the read that brought the head: a small body that came with it is all in then (unread-body.ts).
        await headParsed(request);
        await fail(reply, request, new LiveError('FORBIDDEN', { message: 'This origin may not call the auth API.' }));
        return;
      }
      // Fastify's 415 follows, unread: it too waits for the read to be parsed.
      if (!JSON_MEDIA_TYPE.test(request.headers['content-type'] ?? '')) await headParsed(request);
      if (route !== null) await withinLimit(route, request, reply);
    };

  /** The 401 `INVALID_TOKEN` answer with `WWW-Authenticate` (RFC 6750 §3). */
  function invalidToken(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const challenge = request.headers.authorization === undefined ? 'Bearer realm="api"' : 'Bearer realm="api", error="invalid_token"';
    return fail(reply, request, new LiveError('INVALID_TOKEN'), { 'www-authenticate': challenge });
  }

  /** The bearer grant, or `null` after answering `invalidToken`. */
  async function bearer(request: FastifyRequest, reply: FastifyReply): Promise<AccessGrant | null> {
    const grant = await service.authenticate(request.headers.authorization);
    if (grant !== null) return grant;
    await invalidToken(request, reply);
    return null;
  }

  app.post('/register', { onRequest: guard('register'), bodyLimit: AUTH_BODY_LIMIT }, async (request, reply) => {
    const result = await service.register(request.body, requestInfo(request));
    if (result.type === 'error') return fail(reply, request, result.error);
    return reply.code(201).headers(headersOf(request)).send(result.user);
  });

  /**
   * A sign-in in a browser that holds a refresh cookie ends the sign-in that cookie names (ASVS 5.0
   * 7.2.4: a new session token on authentication, and the current one terminated), once the new one
   * is issued: overwriting the cookie alone left the old family live, rotatable by any copy of its
   * token, for up to its 30 days. The cookie-only sign-out's path (`logoutWithRefresh`): a rotated
   * token is a reuse there too. A refused sign-in ends nothing.
   */
  app.post('/login', { onRequest: guard('login'), bodyLimit: AUTH_BODY_LIMIT }, async (request, reply) => {
    const result = await service.login(request.body, requestInfo(request), device.read(request));
    if (result.type === 'error') return fail(reply, request, result.error);
    const previous = cookie.read(request);
    if (previous !== undefined) await service.logoutWithRefresh(previous, requestInfo(request));
    cookie.write(reply, result.tokens.refreshToken, result.tokens.refreshMaxAge, result.tokens.binding);
    if (result.device !== null) device.write(reply, result.device);
    return reply.code(200).headers(headersOf(request)).send(tokenAnswer(result.tokens));
  });

  /**
   * With `Secure` cookies the token rotates only with its companion cookie (cookie.ts): a token
   * planted alone by a sibling subdomain is refused like any invalid one. A refusal expires both
   * cookies (not a planted one: another domain and path), unless two refresh cookies came (`clear`).
   */
  app.post('/refresh-token', { onRequest: guard('refresh-token'), bodyLimit: AUTH_BODY_LIMIT }, async (request, reply) => {
    const result = await service.refresh(cookie.read(request), requestInfo(request), cookie.readBinding(request));
    if (result.type === 'error') {
      cookie.clear(reply);
      return fail(reply, request, result.error);
    }
    cookie.write(reply, result.tokens.refreshToken, result.tokens.refreshMaxAge, result.tokens.binding);
    return reply.code(200).headers(headersOf(request)).send(tokenAnswer(result.tokens));
  });

  /**
   * With a live bearer token: revokes its family (no rate limit, as PROTOCOL §4 has it). Without
   * one (expired after 15 idle minutes, or lost with the page), the refresh cookie, when the browser
   * sent one, names the family to revoke (`service.logoutWithRefresh`; beyond PROTOCOL): the origin
   * check above is the one /refresh-token has, and the cookie is `SameSite=Strict`. That path counts
   * against the `logout` limit, checked only once the bearer is known not to be live, since each
   * cookie costs lookups and a locked transaction. Without either: 401 `INVALID_TOKEN`. Every one of
   * these answers expires the cookie and its companion; a failure (503) or a 429 does not, so that a
   * retry can still end the sign-in.
   *
   * The cookie path does not ask for the companion (cookie.ts): ending a sign-in is no sign-in, a
   * planted token ends only its planter's own family, and whoever holds a token could end its family
   * at `/refresh-token` anyway (presenting it again once its owner has rotated it is a reuse).
   */
  app.post('/logout', { onRequest: guard(null), bodyLimit: AUTH_BODY_LIMIT }, async (request, reply) => {
    const grant = await service.authenticate(request.headers.authorization);
    const refreshToken = cookie.read(request);
    if (grant !== null) await service.logout(grant, requestInfo(request));
    else if (refreshToken) {
      if (!(await withinLimit('logout', request, reply))) return reply;
      await service.logoutWithRefresh(refreshToken, requestInfo(request));
    }
    cookie.clear(reply);
    return grant === null && !refreshToken ? invalidToken(request, reply) : reply.code(204).headers(headersOf(request)).send();
  });

  app.post('/logout-all', { onRequest: guard(null), bodyLimit: AUTH_BODY_LIMIT }, async (request, reply) => {
    const grant = await bearer(request, reply);
    if (grant === null) return reply;
    await service.logoutAll(grant, requestInfo(request));
    cookie.clear(reply);
    return reply.code(204).send();
  });

  /**
   * Beyond PROTOCOL (ASVS 5.0 6.2.2, 6.2.3): Bearer, `{current_password, new_password}` → 204. Every
   * sign-in of the user ends, this one too: the refresh cookie is expired, and the browser that made
   * the change is trusted afresh (`password-change.ts`). A wrong current password is 401
   * `INVALID_CREDENTIALS`, a refused new one 400 `VALIDATION_FAILED` on `new_password`.
   */
  if (passwordChange !== undefined) {
    app.post('/change-password', { onRequest: guard('change-password'), bodyLimit: AUTH_BODY_LIMIT }, async (request, reply) => {
      const grant = await bearer(request, reply);
      if (grant === null) return reply;
      const result = await passwordChange.change(grant, request.body, requestInfo(request));
      if (result.type === 'error') return fail(reply, request, result.error);
      cookie.clear(reply);
      if (result.device !== null) device.write(reply, result.device);
      return reply.code(204).headers(headersOf(request)).send();
    });
  }

  app.get('/me', async (request, reply) => {
    const grant = await bearer(request, reply);
    if (grant === null) return reply;
    return reply.code(200).send(service.publicUser(grant.user));
  });

  app.post('/forgot-password', { onRequest: guard('forgot-password'), bodyLimit: AUTH_BODY_LIMIT }, async (request, reply) => {
    const result = service.forgotPassword(request.body, requestInfo(request));
    if (result.type === 'error') return fail(reply, request, result.error);
    return reply.code(202).headers(headersOf(request)).send(FORGOT_PASSWORD_ANSWER);
  });

  app.post('/reset-password', { onRequest: guard('reset-password'), bodyLimit: AUTH_BODY_LIMIT }, async (request, reply) => {
    const result = await service.resetPassword(request.body, requestInfo(request));
    if (result.type === 'error') return fail(reply, request, result.error);
    cookie.clear(reply);
    // The browser that chose the new password is trusted for the account (service.ts resetPassword).
    if (result.device !== null) device.write(reply, result.device);
    return reply.code(204).headers(headersOf(request)).send();
  });
}
