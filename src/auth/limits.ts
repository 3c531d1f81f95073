/**
 * The auth endpoints' limits (PROTOCOL §4), enforced like component actions' by a route limiter
 * (`src/pipeline/rate-limit/route-limiter.ts`) of the pseudo component `~auth`. The browser sign-in
 * form (`/login`) counts against the same `login` budget as the JSON endpoint.
 *
 * The algorithm is the exact sliding window: never more than the limit in any trailing minute.
 */
import type { Clock } from '../core/clock.js';
import type { SecurityEventSink } from '../ops/security-events.js';
import { createRouteLimiter, type RouteLimit, type RouteLimiter } from '../pipeline/rate-limit/route-limiter.js';
import type { Store } from '../store/types.js';

export type { LimitDecision, RouteLimit } from '../pipeline/rate-limit/route-limiter.js';

export type LimitedRoute = 'register' | 'login' | 'refresh-token' | 'forgot-password' | 'reset-password';

/** PROTOCOL §4. */
export const AUTH_LIMITS: Readonly<Record<LimitedRoute, RouteLimit>> = Object.freeze({
  register: { limit: 5, windowSeconds: 60 },
  login: { limit: 5, windowSeconds: 60 },
  'refresh-token': { limit: 10, windowSeconds: 60 },
  'forgot-password': { limit: 3, windowSeconds: 60 },
  'reset-password': { limit: 5, windowSeconds: 60 },
});

export interface AuthLimiterOptions {
  store: Store;
  events: SecurityEventSink;
  clock?: Clock;
  /** Override some limits (tests, or a stricter deployment). @default AUTH_LIMITS */
  limits?: Partial<Record<LimitedRoute, RouteLimit>>;
  /** CIDRs never limited, as for actions. @default [] */
  allowlist?: readonly string[];
  /** IPv6 clients count by their network of this many bits, as for actions. @default 56 */
  ipv6PrefixLength?: number;
  /** Admit requests when the store is down, as for actions. @default false */
  failOpen?: boolean;
  onFailOpen?: (error: unknown) => void;
}

export type AuthLimiter = RouteLimiter<LimitedRoute>;

export const AUTH_PSEUDO_COMPONENT = '~auth';

export function createAuthLimiter(options: AuthLimiterOptions): AuthLimiter {
  const routes = { ...AUTH_LIMITS };
  for (const route of Object.keys(AUTH_LIMITS) as LimitedRoute[]) routes[route] = options.limits?.[route] ?? AUTH_LIMITS[route];
  return createRouteLimiter({ ...options, name: AUTH_PSEUDO_COMPONENT, routes, algorithm: 'sliding-window' });
}
