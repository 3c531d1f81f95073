/**
 * Rate limits for requests that are not component actions — the auth endpoints, new sessions —
 * enforced by the actions' rate-limit stage itself: same store step, same client (the signed-out
 * client's IP as resolved under `TRUST_PROXY`, IPv6 by network), same headers, same 429 answer and
 * `excess_rate_limit_exceeded` event. Each route is an action of a pseudo component whose name
 * starts with `~`, which no real component can take, so its counters never mix with an app's.
 */
import { html } from '../../core/html.js';
import { NEVER_ABORTED, type ComponentDefinition, type ResolvedAction } from '../../core/component.js';
import type { Clock } from '../../core/clock.js';
import type { LiveError } from '../../core/errors.js';
import type { SecurityEventSink } from '../../ops/security-events.js';
import type { Session } from '../../session/types.js';
import type { RateLimitAlgorithm, Store } from '../../store/types.js';
import { createActionContext, ok, type RequestInfo } from '../types.js';
import { positiveInteger } from '../options.js';
import { createRateLimitStage } from './index.js';

export interface RouteLimit {
  limit: number;
  windowSeconds: number;
}

export interface RouteLimiterOptions<R extends string> {
  /** The pseudo component's name: `~` and a word (`~auth`). */
  name: `~${string}`;
  routes: Readonly<Record<R, RouteLimit>>;
  algorithm: RateLimitAlgorithm;
  store: Store;
  events: SecurityEventSink;
  clock?: Clock;
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

export interface RouteLimiter<R extends string> {
  /** One rate-limit step for `route` by the client of `request`; rejects only when the store fails. */
  check(route: R, request: RequestInfo): Promise<LimitDecision>;
}

const NO_SESSION: Session = Object.freeze({ id: '', key: '', userId: null, createdAt: 0 });
const PASS = () => Promise.resolve(ok({ html: '', state: {} }));

export function createRouteLimiter<R extends string>(options: RouteLimiterOptions<R>): RouteLimiter<R> {
  const stage = createRateLimitStage({
    store: options.store,
    events: options.events,
    clock: options.clock,
    defaults: { algorithm: options.algorithm },
    allowlist: options.allowlist ? [...options.allowlist] : [],
    ipv6PrefixLength: options.ipv6PrefixLength,
    failOpen: options.failOpen ?? false,
    onFailOpen: options.onFailOpen,
  });
  const actions = new Map<string, ResolvedAction>();
  for (const route of Object.keys(options.routes) as R[]) {
    // Checked here, at start-up: the stage would only check a policy at its first request.
    const limit = positiveInteger('Rate limit', `${options.name}.${route}.limit`, options.routes[route].limit);
    const windowSeconds = positiveInteger('Rate limit', `${options.name}.${route}.windowSeconds`, options.routes[route].windowSeconds);
    actions.set(
      route,
      Object.freeze({
        name: route,
        params: undefined,
        authorize: undefined,
        run: () => ({}),
        rateLimit: limit,
        rateLimitWindow: windowSeconds,
        rateLimitAlgorithm: options.algorithm,
      }),
    );
  }
  const component: ComponentDefinition = Object.freeze({ name: options.name, initialState: {}, publicState: [], actions, render: () => html`` });
  const componentContext = Object.freeze({ user: null, componentId: `${options.name}:api`, instance: 'api', signal: NEVER_ABORTED });

  return {
    async check(route, request) {
      const action = actions.get(route);
      if (action === undefined) throw new TypeError(`No rate limit for route "${route}" of ${options.name}`);
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
