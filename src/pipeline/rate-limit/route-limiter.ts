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
import type { RateLimitAlgorithm, StoreOp, StoreOpResult } from '../../store/types.js';
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

/** A write to store exactly when a step admits (`RouteLimiter.check`): a new session's, say. */
export type GuardedWrite = StoreOp & { op: 'set' };

export interface RouteLimiter<R extends string> {
  /**
   * One rate-limit step for `route` by the client of `request`; rejects only when the store fails.
   * `write`, when given, is stored exactly when the step admits, before this resolves: in the step's
   * own round trip, guarded by it (`setIfAllowed`), or after it in one of its own where the store
   * cannot guard it (a Redis Cluster, whose batches split by hash tag; `failOpen`, whose step keeps its
   * own round trip so that its failure can let the request through; a store that refuses the guarded
   * batch with a `TypeError` or does not confirm its write) or where there is no step (an exempt
   * client). Refused, nothing is written.
   */
  check(route: R, request: RequestInfo, write?: GuardedWrite): Promise<LimitDecision>;
}

const NO_SESSION: Session = Object.freeze({ id: '', key: '', userId: null, createdAt: 0 });
const PASS = () => Promise.resolve(ok({ html: '', state: {} }));

export function createRouteLimiter<R extends string>(options: RouteLimiterOptions<R>): RouteLimiter<R> {
  const { name, routes, algorithm, ...stageOptions } = options;
  const { store } = stageOptions;
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
  // Whether a write can ride in the step's batch: the stage prepares no op with `failOpen`; a cluster
  // runs a batch's hash tags on their own nodes, where the write could not see the step. Turned off
  // too by a guarded batch refused with a `TypeError` (see below).
  let guards = store.splitsBatchesByHashTag !== true;

  return {
    async check(route, request, write) {
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
      // `null`: an allowlisted or loopback client, which takes no step.
      const prepared = write !== undefined && guards ? (stage.prepare?.(ctx) ?? null) : null;
      let written = false;
      if (prepared !== null && write !== undefined) {
        let results: StoreOpResult[] | null = null;
        try {
          results = await store.batch([prepared.op, { op: 'setIfAllowed', key: write.key, value: write.value, ttlMs: write.ttlMs }]);
        } catch (error) {
          // A store that cannot run this batch refuses it with a `TypeError` before running any of it
          // (every store checks its ops first): a Redis Cluster store behind a wrapper that does not
          // forward `splitsBatchesByHashTag`, a store of the app's own that does not know the op.
          // Every such request would answer 500: do as on a cluster instead (the step, then the
          // write), now and from now on.
          if (!(error instanceof TypeError)) throw error;
          guards = false;
        }
        if (results !== null) {
          ctx.prefetched = new Map([[stage, results[0] as StoreOpResult]]);
          written = results[1] === true;
        }
      }
      const outcome = await stage.run(ctx, PASS);
      if (outcome.type !== 'ok') return { allowed: false, headers: ctx.headers, error: outcome.error };
      // Admitted: stored before the caller goes on. A store that did not confirm the guarded write
      // (one of the app's own, written before `setIfAllowed`, answering it with anything but `true`)
      // gets it on its own, as where there is no step.
      if (write !== undefined && !written) await store.set(write.key, write.value, write.ttlMs);
      return { allowed: true, headers: ctx.headers };
    },
  };
}
