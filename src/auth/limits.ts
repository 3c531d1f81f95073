/**
 * The auth endpoints' limits (PROTOCOL §4), enforced like component actions' by a route limiter
 * (`src/pipeline/rate-limit/route-limiter.ts`) of the pseudo component `~auth`. The browser sign-in
 * form (`/login`) counts against the same `login` budget as the JSON endpoint.
 *
 * The algorithm is the exact sliding window: never more than the limit in any trailing minute.
 */
import type { RateLimitStageOptions } from '../pipeline/rate-limit/index.js';
import { createRouteLimiter, type RouteLimit, type RouteLimiter } from '../pipeline/rate-limit/route-limiter.js';

export type { LimitDecision, RouteLimit } from '../pipeline/rate-limit/route-limiter.js';

export type LimitedRoute = 'register' | 'login' | 'refresh-token' | 'logout' | 'forgot-password' | 'reset-password' | 'change-password';

/**
 * PROTOCOL §4, plus `logout`: only its sign-out by the refresh cookie alone (beyond PROTOCOL) is
 * counted, because every token-shaped cookie costs lookups and, for a known one, a locked
 * transaction; a sign-out with a live bearer token stays unlimited, as PROTOCOL has it.
 */
export const AUTH_LIMITS: Readonly<Record<LimitedRoute, RouteLimit>> = Object.freeze({
  register: { limit: 5, windowSeconds: 60 },
  login: { limit: 5, windowSeconds: 60 },
  'refresh-token': { limit: 10, windowSeconds: 60 },
  logout: { limit: 10, windowSeconds: 60 },
  'forgot-password': { limit: 3, windowSeconds: 60 },
  'reset-password': { limit: 5, windowSeconds: 60 },
  // Beyond PROTOCOL: each attempt checks a current password (argon2), like a sign-in.
  'change-password': { limit: 5, windowSeconds: 60 },
});

/**
 * Sign-in attempts on one account (one normalised email, with an account or not), whatever the
 * clients: the per-client `login` limit alone let 30 addresses make 150 guesses a minute at one
 * account. NIST SP 800-63B (5.2.2): at most 100 consecutive failed attempts on one account. An
 * attempt counts when it is made (so concurrent ones cannot overshoot), successes too (clearing the
 * count on a success would tell which addresses have an account in use). 100 is high on purpose: whoever spends 100 attempts locks the owner out until the window
 * frees (docs/auth.md, Limits). Override with `limits: { 'login-account': … }`.
 */
export const LOGIN_PER_ACCOUNT: Readonly<RouteLimit> = Object.freeze({ limit: 100, windowSeconds: 3600 });

/**
 * Sign-in attempts on one account from one browser that signed in to it before (a device cookie,
 * `device.ts`), counted instead of `LOGIN_PER_ACCOUNT`: the owner's browser keeps signing in while
 * others have spent the shared budget. Low, since it is one browser: a stolen device cookie buys 20
 * guesses an hour. Override with `limits: { 'login-device': … }`.
 */
export const LOGIN_PER_DEVICE: Readonly<RouteLimit> = Object.freeze({ limit: 20, windowSeconds: 3600 });

/**
 * Password changes one signed-in user may try (`/change-password`), whatever the clients: each
 * checks a current password, so a stolen access token would otherwise buy a guess per request for
 * as long as it lives and rotates. Its own budget, not `LOGIN_PER_ACCOUNT`: guesses at the public
 * sign-in must not stop the owner from changing a password.
 */
export const PASSWORD_CHANGE_PER_ACCOUNT: Readonly<RouteLimit> = Object.freeze({ limit: 10, windowSeconds: 3600 });

/** Overrides of `AUTH_LIMITS` (per client), `LOGIN_PER_ACCOUNT` (`'login-account'`) and `LOGIN_PER_DEVICE` (`'login-device'`). */
export type AuthLimitOverrides = Partial<Record<LimitedRoute | 'login-account' | 'login-device', RouteLimit>>;

/** The stage's options (store, events, clock, allowlist, IPv6 networks, fail-open), as for actions. */
export interface AuthLimiterOptions extends Omit<RateLimitStageOptions, 'defaults'> {
  /** Override some limits (tests, or a stricter deployment). @default AUTH_LIMITS */
  limits?: AuthLimitOverrides;
}

export type AuthLimiter = RouteLimiter<LimitedRoute>;

export const AUTH_PSEUDO_COMPONENT = '~auth';

export function createAuthLimiter(options: AuthLimiterOptions): AuthLimiter {
  const { limits = {}, ...stageOptions } = options;
  const routes = { ...AUTH_LIMITS };
  for (const route of Object.keys(AUTH_LIMITS) as LimitedRoute[]) routes[route] = limits[route] ?? AUTH_LIMITS[route];
  return createRouteLimiter({ ...stageOptions, name: AUTH_PSEUDO_COMPONENT, routes, algorithm: 'sliding-window' });
}
