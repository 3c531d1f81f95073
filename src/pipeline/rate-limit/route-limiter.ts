/**
 * Rate limits for requests that are not component actions — the auth endpoints, new sessions —
 * enforced by the actions' rate-limit stage itself: same store step, same client (the signed-out
 * client's IP as resolved under `TRUST_PROXY`, IPv6 by network), same headers, same 429 answer and
 * `excess_rate_limit_exceeded` event. Each route is an action of a pseudo component whose name
 * starts with `~`, which no real component can take, so its counters never mix with an app's.
 */
import { html } from '../../core/html.js';
import { NEVER_ABORTED, type ComponentDefinition, type ResolvedAction } from '../../core/component.js';
import type { LiveError } from '../../core/errors.js';
import type { Session } from '../../session/types.js';
import type { RateLimitAlgorithm } from '../../store/types.js';
import { createActionContext, ok, type RequestInfo } from '../types.js';
import { rateLimitCount, rateLimitSeconds } from '../options.js';
import { createRateLimitStage, type RateLimitStageOptions } from './index.js';

export interface RouteLimit {
  limit: number;
  windowSeconds: number;
}

/** The stage's options (store, events, clock, allowlist, IPv6 networks, fail-open), with routes instead of defaults. */
export interface RouteLimiterOptions<R extends string> extends Omit<RateLimitStageOptions, 'defaults'> {
  /** The pseudo component's name: `~` and a word (`~auth`). */
  name: `~${string}`;
  routes: Readonly<Record<R, RouteLimit>>;
  algorithm: RateLimitAlgorithm;
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
  const { name, routes, algorithm, ...stageOptions } = options;
  const stage = createRateLimitStage({ ...stageOptions, defaults: { algorithm } });
  const actions = new Map<string, ResolvedAction>();
  for (const route of Object.keys(routes) as R[]) {
    // Checked here, at start-up: the stage would only check a policy at its first request.
    const limit = rateLimitCount('Rate limit', `${name}.${route}.limit`, routes[route].limit);
    const windowSeconds = rateLimitSeconds('Rate limit', `${name}.${route}.windowSeconds`, routes[route].windowSeconds);
    actions.set(
      route,
      Object.freeze({
        name: route,
        params: undefined,
        authorize: undefined,
        run: () => ({}),
        rateLimit: limit,
        rateLimitWindow: windowSeconds,
        rateLimitAlgorithm: algorithm,
      }),
    );
  }
  const component: ComponentDefinition = Object.freeze({ name, initialState: {}, publicState: [], actions, render: () => html`` });
  const componentContext = Object.freeze({ user: null, componentId: `${name}:api`, instance: 'api', signal: NEVER_ABORTED });

  return {
    async check(route, request) {
      const action = actions.get(route);
      if (action === undefined) throw new TypeError(`No rate limit for route "${route}" of ${name}`);
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
