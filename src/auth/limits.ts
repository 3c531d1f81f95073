/**
 * The auth endpoints' limits (PROTOCOL §4), enforced by the same rate-limit stage as component
 * actions (`src/pipeline/rate-limit`): same store step, same client (the IP as resolved under
 * `TRUST_PROXY`), same headers, same 429 answer and `excess_rate_limit_exceeded` event. Each
 * endpoint is an action of a pseudo component `~auth`, a name no real component can take (`~` is
 * not allowed in component names), so its counters never mix with an app's. The browser sign-in
 * form (`/login`) counts against the same `login` budget as the JSON endpoint.
 *
 * The algorithm is the exact sliding window: never more than the limit in any trailing minute.
 */
import { html } from '../core/html.js';
import { NEVER_ABORTED, type ComponentDefinition, type ResolvedAction } from '../core/component.js';
import type { Clock } from '../core/clock.js';
import type { LiveError } from '../core/errors.js';
import type { SecurityEventSink } from '../ops/security-events.js';
import { createRateLimitStage } from '../pipeline/rate-limit/index.js';
import { createActionContext, ok, type RequestInfo } from '../pipeline/types.js';
import type { Session } from '../session/types.js';
import type { Store } from '../store/types.js';

export type LimitedRoute = 'register' | 'login' | 'refresh-token' | 'forgot-password' | 'reset-password';

export interface RouteLimit {
  limit: number;
  windowSeconds: number;
}

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

export type LimitDecision =
  | { readonly allowed: true; readonly headers: Record<string, string> }
  | { readonly allowed: false; readonly headers: Record<string, string>; readonly error: LiveError };

export interface AuthLimiter {
  /** One rate-limit step for `route` by the client of `request`; rejects only when the store fails. */
  check(route: LimitedRoute, request: RequestInfo): Promise<LimitDecision>;
}

export const AUTH_PSEUDO_COMPONENT = '~auth';

const NO_SESSION: Session = Object.freeze({ id: '', key: '', userId: null, createdAt: 0 });
const PASS = () => Promise.resolve(ok({ html: '', state: {} }));

export function createAuthLimiter(options: AuthLimiterOptions): AuthLimiter {
  const stage = createRateLimitStage({
    store: options.store,
    events: options.events,
    clock: options.clock,
    defaults: { algorithm: 'sliding-window' },
    allowlist: options.allowlist ? [...options.allowlist] : [],
    ipv6PrefixLength: options.ipv6PrefixLength,
    failOpen: options.failOpen ?? false,
    onFailOpen: options.onFailOpen,
  });
  const actions = new Map<string, ResolvedAction>();
  for (const route of Object.keys(AUTH_LIMITS) as LimitedRoute[]) {
    const { limit, windowSeconds } = options.limits?.[route] ?? AUTH_LIMITS[route];
    actions.set(
      route,
      Object.freeze({
        name: route,
        params: undefined,
        authorize: undefined,
        run: () => ({}),
        rateLimit: limit,
        rateLimitWindow: windowSeconds,
        rateLimitAlgorithm: 'sliding-window',
      }),
    );
  }
  const component: ComponentDefinition = Object.freeze({
    name: AUTH_PSEUDO_COMPONENT,
    initialState: {},
    publicState: [],
    actions,
    render: () => html``,
  });
  const componentContext = Object.freeze({ user: null, componentId: `${AUTH_PSEUDO_COMPONENT}:api`, instance: 'api', signal: NEVER_ABORTED });

  return {
    async check(route, request) {
      const action = actions.get(route);
      if (action === undefined) throw new TypeError(`No rate limit for auth route "${route}"`);
      const ctx = createActionContext({
        request,
        body: { componentId: componentContext.componentId, action: route, params: {}, csrfToken: undefined, idempotencyKey: undefined },
        session: NO_SESSION,
        user: null,
        component,
        action,
        componentContext,
      });
      const outcome = await stage.run(ctx, PASS);
      return outcome.type === 'ok' ? { allowed: true, headers: ctx.headers } : { allowed: false, headers: ctx.headers, error: outcome.error };
    },
  };
}
