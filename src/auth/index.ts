/**
 * The auth module (PROTOCOL §4, docs/auth.md): `registerAuth(app, options)` puts the JSON API
 * under `/api/v1/auth`, CORS on `/api/*`, the scheduled token clean-up, and returns the service and
 * the browser sign-in helpers. `createAccounts` gives the runtime its `resolveUser`.
 *
 * @example
 * const accounts = createAccounts({ db });
 * const runtime = await createLiveComponents({ components, resolveUser: accounts.resolveUser, ... });
 * await app.register(livecomponents, { runtime });
 * const auth = await registerAuth(app, { db, store: runtime.store, events: runtime.events, mail,
 *   resetUrl: 'https://app.example.com/reset-password', appOrigin: 'https://app.example.com' });
 */
import cookie from '@fastify/cookie';
import type { FastifyInstance } from 'fastify';
import { checkTimerDelay, MAX_TIMER_TEXT } from '../core/deadline.js';
import { startTokenCleanup, DAY_MS, type TokenCleanup } from './cleanup.js';
import { AUTH_PREFIX, createRefreshCookie } from './cookie.js';
import { registerApiCors, resolveApiOrigins } from './cors.js';
import { createDeviceCookie } from './device.js';
import { createAuthLimiter, type AuthLimiter } from './limits.js';
import { authRoutes } from './routes.js';
import { createAuthService, type AuthService, type AuthServiceOptions } from './service.js';
import { createWebSignIn, type WebSignIn } from './web.js';

export interface RegisterAuthOptions extends AuthServiceOptions {
  /** The app's own origin (`APP_URL`), always allowed. */
  appOrigin: string;
  /** Further exact origins allowed to call `/api/*` with credentials. @default [] */
  allowedOrigins?: readonly string[];
  /** Mark the refresh cookie `Secure` (production). @default false */
  secureCookies?: boolean;
  /** Register `@fastify/cors` for `/api/*`. @default true */
  cors?: boolean;
  /** As for actions: CIDRs never limited, and fail-open when the store is down. */
  rateLimit?: { allowlist?: readonly string[]; ipv6PrefixLength?: number; failOpen?: boolean; onFailOpen?: (error: unknown) => void };
  /** Between token clean-ups, ms (`0`: no timer). @default 86_400_000 */
  cleanupIntervalMs?: number;
  onCleanupError?: (error: unknown) => void;
  /**
   * How long closing the app waits for reset requests and password-changed notices still being
   * worked on (the service's background tasks: `AuthService.idle`; a relay that hangs
   * would otherwise outlast the shutdown grace period); what is left then is abandoned with a
   * warning, and the mail transport is closed. Whole ms from 0 (no wait) to 2^31 − 1 (a timer's
   * limit). @default 5000
   */
  closeWaitMs?: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** What `registerAuth` set up on this app. */
    livecomponentsAuth: Auth;
  }
}

export interface Auth {
  readonly service: AuthService;
  readonly limiter: AuthLimiter;
  /** Browser sign-in helpers; `null` when the LiveComponents plugin is not registered on `app`. */
  readonly web: WebSignIn | null;
  readonly cleanup: TokenCleanup;
  /** The exact origins allowed on `/api/*`. */
  readonly origins: ReadonlySet<string>;
}

export async function registerAuth(app: FastifyInstance, options: RegisterAuthOptions): Promise<Auth> {
  const closeWaitMs = closeWaitOf(options.closeWaitMs ?? 5_000);
  const origins = resolveApiOrigins(options.appOrigin, options.allowedOrigins ?? []);
  const serviceOptions = { ...options, ipv6PrefixLength: options.rateLimit?.ipv6PrefixLength ?? options.ipv6PrefixLength };
  const service = createAuthService(serviceOptions);
  const limiter = createAuthLimiter({ store: options.store, events: options.events, clock: options.clock, limits: options.limits, ...options.rateLimit });
  const cleanup = startTokenCleanup({
    db: options.db,
    store: options.store,
    clock: options.clock,
    intervalMs: options.cleanupIntervalMs ?? DAY_MS,
    onError: options.onCleanupError,
  });
  app.addHook('onClose', async () => {
    await cleanup.stop();
    const abandoned = await service.idle(closeWaitMs);
    if (abandoned > 0) app.log.warn({ abandoned }, `auth: ${abandoned} background task(s) (password reset requests, password-changed notices) abandoned at shutdown (their mail may not go out)`);
    await options.mail.close?.();
  });

  if (!app.hasRequestDecorator('cookies')) await app.register(cookie);
  if (options.cors ?? true) await registerApiCors(app, { origins, events: options.events });
  const secure = options.secureCookies ?? false;
  const device = createDeviceCookie(secure);
  await app.register(authRoutes, { prefix: AUTH_PREFIX, service, limiter, origins, cookie: createRefreshCookie(secure), device, passwordChange: service.passwordChange });

  const web = app.hasDecorator('livecomponents')
    ? createWebSignIn({ runtime: app.livecomponents.runtime, cookie: app.livecomponents.cookie, service, limiter, device })
    : null;
  const auth: Auth = { service, limiter, web, cleanup, origins };
  app.decorate('livecomponentsAuth', auth);
  return auth;
}

/**
 * `closeWaitMs` when a timer can wait that long: Node fires a longer timer after 1 ms, so
 * `2 ** 31` abandoned every reset request still running at shutdown instead of waiting for it.
 */
function closeWaitOf(ms: number): number {
  return checkTimerDelay(ms, { zero: true, integer: true }, () => new TypeError(`Auth: closeWaitMs must be a whole number of ms from 0 to ${MAX_TIMER_TEXT}`));
}

export { createAccounts, type Accounts } from './accounts.js';
export { cleanupTokensCommand, startTokenCleanup, type CleanupCounts, type TokenCleanup, type TokenCleanupOptions } from './cleanup.js';
export { AUTH_PREFIX, REFRESH_COOKIE, createRefreshCookie, type RefreshCookie } from './cookie.js';
export { createDeviceCookie, DEVICE_TRUST_DAYS, type DeviceCookie } from './device.js';
export { CorsConfigError, registerApiCors, resolveApiOrigins, type ApiCorsOptions } from './cors.js';
export { normaliseEmail } from './email.js';
export { AUTH_LIMITS, LOGIN_PER_ACCOUNT, LOGIN_PER_DEVICE, createAuthLimiter, type AuthLimiter, type AuthLimitOverrides, type LimitedRoute, type RouteLimit } from './limits.js';
export {
  capturedMailTransport,
  logMailTransport,
  mailTransportFor,
  smtpMailTransport,
  unconfiguredMailTransport,
  type MailMessage,
  type MailTransport,
  type SmtpOptions,
} from './mail.js';
export { PASSWORD_BREACHED, PASSWORD_COMMON, PASSWORD_HAS_EMAIL, passwordRefusal, type PasswordRejectedHook } from './password-policy.js';
export { checkPassword, createPasswordHasher, needsRehash, OWASP_ARGON2ID, type PasswordHasher, type PasswordParams } from './password.js';
export { createPasswordChange, passwordChangedMail, type PasswordChange, type PasswordChangedNotice, type PasswordChangeResult } from './password-change.js';
export { authRoutes, FORGOT_PASSWORD_ANSWER, type AuthRoutesOptions } from './routes.js';
export { createAuthService, type AuthService, type AuthServiceOptions, type IssuedTokens, type PublicUser } from './service.js';
export { createWebSignIn, type ChangePasswordForm, type SignInForm, type WebResult, type WebSignIn } from './web.js';
