/**
 * The auth service's options, resolved once: lifetimes in milliseconds, the password hasher, the
 * repository. Everything that varies (clock, randomness, store, mail, events) comes in here.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { systemClock, wholeMsClock, type Clock } from '../core/clock.js';
import type { SecurityEventSink } from '../ops/security-events.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { MAX_LIFETIME_MINUTES, MAX_LIFETIME_TEXT, rateLimitCount, rateLimitSeconds, timerMs } from '../pipeline/options.js';
import { createClientIp } from '../pipeline/rate-limit/client-ip.js';
import type { Store } from '../store/types.js';
import type { MailTransport } from './mail.js';
import { LOGIN_PER_ACCOUNT, LOGIN_PER_DEVICE, type AuthLimitOverrides, type RouteLimit } from './limits.js';
import { createPasswordHasher, OWASP_ARGON2ID, type PasswordHasher, type PasswordParams } from './password.js';
import type { PasswordRejectedHook } from './password-policy.js';
import { createAuthRepository, type AuthRepository } from './repository.js';

const MINUTE = 60_000;

export interface AuthServiceOptions {
  /** A migrated database from `createDatabase` (users and tokens). */
  db: Kysely<DatabaseSchema>;
  /** Where the failed-sign-in counters live (the app's `Store`). */
  store: Store;
  events: SecurityEventSink;
  /** How password-reset mail leaves (see `mail.ts`). */
  mail: MailTransport;
  /**
   * The page that completes a reset; the link is `<resetUrl>#token=<token>` (the fragment never
   * reaches a server log or a `Referer`).
   * @example 'https://app.example.com/reset-password'
   */
  resetUrl: string;
  /** @default systemClock */
  clock?: Clock;
  /** @default crypto.randomBytes */
  random?: (size: number) => Buffer;
  /** argon2id parameters. @default OWASP_ARGON2ID (m=19456 KiB, t=2, p=1) */
  password?: PasswordParams;
  /** A hasher of your own (instrumented in tests); wins over `password`. @default createPasswordHasher(password) */
  hasher?: PasswordHasher;
  /** `SANCTUM_ACCESS_TOKEN_EXPIRATION`. Every lifetime here is whole minutes, at most 52,596,000 (100 years). @default 15 */
  accessTokenMinutes?: number;
  /** `SANCTUM_REFRESH_TOKEN_EXPIRATION`: lifetime of each refresh token. @default 10080 (7 days) */
  refreshTokenMinutes?: number;
  /** Absolute lifetime of a refresh family (one sign-in), however often it rotates. @default 43200 (30 days) */
  refreshFamilyMinutes?: number;
  /** Lifetime of a password-reset token. @default 60 */
  resetTokenMinutes?: number;
  /**
   * Override endpoint limits. @default AUTH_LIMITS (PROTOCOL §4, and the cookie-only logout), per
   * client; and `'login-account'`: sign-in attempts on one account, whatever the clients.
   * @default { ...AUTH_LIMITS, 'login-account': LOGIN_PER_ACCOUNT } (100 an hour)
   */
  limits?: AuthLimitOverrides;
  /** Absolute lifetime of a browser sign-in (`/login`), however active. @default refreshTokenMinutes */
  webSessionMinutes?: number;
  /**
   * `authn_login_fail_max` is logged when one account has this many failed sign-ins in a row
   * within `windowSeconds` (the account is not locked: the per-client limit applies anyway).
   * @default { failures: 5, windowSeconds: 900 }
   */
  loginFailMax?: { failures: number; windowSeconds: number };
  /**
   * Most reset mails one account gets within `windowSeconds`: `perClient` for the requests of one
   * client (address, IPv6 by /56), `perAccount` whoever asks. The per-client limit of
   * `/forgot-password` alone (3 a minute) let several addresses flood one mailbox and pile up live
   * reset tokens; an account-wide limit alone would let anyone stop an account's resets with a few
   * requests, so the account-wide one is looser: stopping the owner's reset takes `perAccount /
   * perClient` addresses every window. Past either, the request is still answered 202 as always, no
   * mail goes out, and `excess_rate_limit_exceeded` is logged.
   * @default { perClient: 3, perAccount: 20, windowSeconds: 3600 }
   */
  resetMailMax?: { perClient: number; perAccount: number; windowSeconds: number };
  /** How many leading bits of an IPv6 address make one client (as the rate limits count them). @default 56 */
  ipv6PrefixLength?: number;
  /** Told about a failure of background work (reset mail, password-changed notice), or a notice dropped at `maxBackgroundTasks`. @default console.error */
  onBackgroundError?: (error: unknown) => void;
  /**
   * Most reset requests (lookup, token, mail) and password-changed notices (after a reset or a
   * change) worked on in the background at once. A relay that hangs holds each for up to its
   * timeouts; past the cap a reset request is still answered 202 as always, but its mail is dropped
   * and `excess_rate_limit_exceeded` is logged; a notice is dropped and reported to
   * `onBackgroundError` (the new password stands).
   * @default 100
   */
  maxBackgroundTasks?: number;
  /**
   * Asked about each new password (registration, reset) that passed the built-in checks (length,
   * common passwords, the account's email): `true` refuses it (400 `VALIDATION_FAILED` on
   * `password`). Meant for a breached-password service, such as Have I Been Pwned's k-anonymity
   * range API (send the first 5 hex digits of the password's SHA-1, look for the rest in the answer).
   * It gets the password NFKC-normalised, as it is hashed. Fails open: when it throws, answers
   * anything but a boolean or takes longer than `passwordCheckTimeoutMs`, the password is accepted
   * and `onPasswordCheckError` is told (see docs/auth.md, Password policy).
   */
  isPasswordRejected?: PasswordRejectedHook;
  /** How long `isPasswordRejected` may take, ms, at most 2^31 − 1 (a timer's limit). @default 2000 */
  passwordCheckTimeoutMs?: number;
  /** Told when `isPasswordRejected` failed or was late (the password was accepted). @default console.warn */
  onPasswordCheckError?: (error: unknown) => void;
  /**
   * The refresh cookie is `Secure` (production; `registerAuth` passes its own `secureCookies`).
   * Every sign-in and rotation then binds its refresh token to a companion cookie
   * (`__Host-lc_refresh_binding_token`, cookie.ts), and a token rotates only in a request that
   * carries its companion; a token issued without one (over plain HTTP) does not rotate at all.
   * Without it, no companion is issued or asked for (a `__Host-` cookie needs `Secure`).
   * @default false
   */
  secureCookies?: boolean;
}

export interface AuthSettings {
  readonly repo: AuthRepository;
  readonly store: Store;
  readonly events: SecurityEventSink;
  readonly mail: MailTransport;
  readonly resetUrl: string;
  readonly clock: Clock;
  readonly random: (size: number) => Buffer;
  readonly hasher: PasswordHasher;
  readonly accessTtlMs: number;
  readonly refreshTtlMs: number;
  readonly familyTtlMs: number;
  readonly resetTtlMs: number;
  readonly webSessionTtlMs: number;
  readonly failMax: { readonly failures: number; readonly windowMs: number };
  /** Sign-in attempts on one account without a trusted device within `windowSeconds` (`LOGIN_PER_ACCOUNT`). */
  readonly loginPerAccount: RouteLimit;
  /** Sign-in attempts on one account from one trusted device within `windowSeconds` (`LOGIN_PER_DEVICE`). */
  readonly loginPerDevice: RouteLimit;
  readonly resetMailMax: { readonly perClient: number; readonly perAccount: number; readonly windowMs: number };
  /** The client a reset request counts against (`resetMailMax.perClient`). */
  readonly clientOf: (ip: string) => string;
  readonly onBackgroundError: (error: unknown) => void;
  readonly maxBackgroundTasks: number;
  readonly isPasswordRejected: PasswordRejectedHook | null;
  readonly passwordCheckTimeoutMs: number;
  readonly onPasswordCheckError: (error: unknown) => void;
  /** Bind refresh tokens to their companion cookie (`secureCookies`). */
  readonly bindRefreshTokens: boolean;
}

export function resolveSettings(options: AuthServiceOptions): AuthSettings {
  // Bounded: a token's end (now + lifetime, ms) is a PostgreSQL bigint and the refresh cookie's
  // Max-Age (s) a safe integer only so far; past it every sign-in, or every reset mail, failed.
  const minutes = (name: string, value: number): number => {
    if (!Number.isInteger(value) || value < 1 || value > MAX_LIFETIME_MINUTES) {
      throw new TypeError(`Auth: ${name} must be a positive whole number of minutes, at most ${MAX_LIFETIME_TEXT}`);
    }
    return value * MINUTE;
  };
  const accessTtlMs = minutes('accessTokenMinutes', options.accessTokenMinutes ?? 15);
  const refreshTtlMs = minutes('refreshTokenMinutes', options.refreshTokenMinutes ?? 10_080);
  const familyTtlMs = minutes('refreshFamilyMinutes', options.refreshFamilyMinutes ?? 43_200);
  if (refreshTtlMs < accessTtlMs) throw new TypeError('Auth: the refresh token must live at least as long as the access token');
  // One decision for the cookies and the binding: registerAuth's cookies take any truthy value as
  // Secure, this took only `true`, so `'true'` (an environment string) made Secure cookies whose
  // tokens were bound to no companion, the login-CSRF defence silently off.
  if (options.secureCookies !== undefined && typeof options.secureCookies !== 'boolean') {
    throw new TypeError(`Auth: secureCookies must be true or false, got ${typeof options.secureCookies}`);
  }
  // The counters below are rate-limit policies in the store, which refuses a limit or window past
  // what the action rate limits accept: checked the same way here, or every sign-in answered 500.
  const failMax = options.loginFailMax ?? { failures: 5, windowSeconds: 900 };
  rateLimitCount('Auth', 'loginFailMax.failures', failMax.failures);
  rateLimitSeconds('Auth', 'loginFailMax.windowSeconds', failMax.windowSeconds);
  const loginPerAccount = signInLimit(options, 'login-account', LOGIN_PER_ACCOUNT);
  const loginPerDevice = signInLimit(options, 'login-device', LOGIN_PER_DEVICE);
  const resetMailMax = options.resetMailMax ?? { perClient: 3, perAccount: 20, windowSeconds: 3600 };
  rateLimitCount('Auth', 'resetMailMax.perClient', resetMailMax.perClient);
  rateLimitCount('Auth', 'resetMailMax.perAccount', resetMailMax.perAccount);
  rateLimitSeconds('Auth', 'resetMailMax.windowSeconds', resetMailMax.windowSeconds);
  const maxBackgroundTasks = options.maxBackgroundTasks ?? 100;
  if (!Number.isInteger(maxBackgroundTasks) || maxBackgroundTasks < 1) throw new TypeError('Auth: maxBackgroundTasks must be a positive whole number');
  // A timer's delay: a longer one fires after 1 ms, and the hook, always late, would fail open.
  const passwordCheckTimeoutMs = timerMs('Auth', 'passwordCheckTimeoutMs', options.passwordCheckTimeoutMs ?? 2_000);
  const resetUrl = new URL(options.resetUrl);
  if (resetUrl.protocol !== 'https:' && resetUrl.protocol !== 'http:') throw new TypeError('Auth: resetUrl must be an http(s) URL');
  return {
    repo: createAuthRepository(options.db),
    store: options.store,
    events: options.events,
    mail: options.mail,
    resetUrl: `${resetUrl.origin}${resetUrl.pathname}`,
    clock: wholeMsClock(options.clock ?? systemClock),
    random: options.random ?? randomBytes,
    hasher: options.hasher ?? createPasswordHasher(options.password ?? OWASP_ARGON2ID),
    accessTtlMs,
    refreshTtlMs,
    familyTtlMs: Math.max(familyTtlMs, refreshTtlMs),
    resetTtlMs: minutes('resetTokenMinutes', options.resetTokenMinutes ?? 60),
    webSessionTtlMs: minutes('webSessionMinutes', options.webSessionMinutes ?? options.refreshTokenMinutes ?? 10_080),
    failMax: { failures: failMax.failures, windowMs: failMax.windowSeconds * 1000 },
    loginPerAccount,
    loginPerDevice,
    resetMailMax: { perClient: resetMailMax.perClient, perAccount: resetMailMax.perAccount, windowMs: resetMailMax.windowSeconds * 1000 },
    clientOf: createClientIp(options.ipv6PrefixLength),
    onBackgroundError: options.onBackgroundError ?? ((error) => console.error('auth background task failed', error)),
    maxBackgroundTasks,
    isPasswordRejected: options.isPasswordRejected ?? null,
    passwordCheckTimeoutMs,
    onPasswordCheckError:
      options.onPasswordCheckError ?? ((error) => console.warn('auth: isPasswordRejected failed or was late; the password was accepted without it', error)),
    bindRefreshTokens: options.secureCookies === true,
  };
}

/**
 * A per-account or per-device sign-in limit, its override checked as `createRouteLimiter` checks
 * the per-client ones (copied: the caller's object may change).
 */
function signInLimit(options: AuthServiceOptions, name: 'login-account' | 'login-device', fallback: RouteLimit): RouteLimit {
  const { limit, windowSeconds } = options.limits?.[name] ?? fallback;
  return { limit: rateLimitCount('Auth', `limits['${name}'].limit`, limit), windowSeconds: rateLimitSeconds('Auth', `limits['${name}'].windowSeconds`, windowSeconds) };
}
