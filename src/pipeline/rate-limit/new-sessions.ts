/**
 * The limit on new sessions per signed-out client (`newSessionLimit`): every page view without a
 * session stores one, with its components' state, for the session's lifetime (`SESSION_TTL`, 24 h by
 * default: ~600 B a view in SQLite and in Redis, docs/scaling.md), so a script sending cookie-less
 * GETs would fill the store. A limit on the actions' rate-limit stage, as a route of a pseudo
 * component (`~session`, route `create`, as `route-limiter.ts` builds them): it counts clients as the
 * action limits do (the IP as resolved under `TRUST_PROXY`, IPv6 by network), is atomic across
 * instances, skips allowlisted CIDRs, and logs one `excess_rate_limit_exceeded` per refusal. Its step
 * is taken only by a page view that has no session, before anything is written, and carries the new
 * session's write when it is given one: one store round trip for both, the write guarded by the step
 * (`setIfAllowed`), so a refused view stores nothing.
 */
import type { Clock } from '../../core/clock.js';
import { NEVER_ABORTED, type ComponentDefinition, type ResolvedAction } from '../../core/component.js';
import { LiveError } from '../../core/errors.js';
import { html } from '../../core/html.js';
import type { SecurityEventSink } from '../../ops/security-events.js';
import type { Session } from '../../session/types.js';
import type { Store, StoreOp, StoreOpResult } from '../../store/types.js';
import { rateLimitCount, rateLimitSeconds } from '../options.js';
import { createActionContext, ok, type RequestInfo } from '../types.js';
import { createRateLimitStage } from './index.js';
import type { LimitDecision } from './route-limiter.js';

/**
 * 300 a minute: a burst of 300 first visits, then 5 a second, per client. A session is started only
 * by a visit without a live cookie (a first visit, a private window, a session idle past its
 * lifetime), so even an office of 1,000 people behind one NAT arriving within ten minutes — about 100
 * new sessions a minute if none had one — stays well inside it, and so do carriers' NAT and test suites.
 * Yet one source stores at most 5 sessions a second (about 276 MB a day of 640-byte page views kept
 * 24 h) instead of as many as it can send.
 */
export const DEFAULT_NEW_SESSIONS = Object.freeze({ limit: 300, windowSeconds: 60 });

/** Loopback: the machine itself (health checks, tests, a proxy on the same host). */
const LOOPBACK = ['127.0.0.0/8', '::1'] as const;

/** The option as the runtime takes it (`SecurityOptions.newSessionLimit`). */
export type NewSessionLimitOption = false | { limit?: number; windowSeconds?: number; exemptLoopback?: boolean };

export interface NewSessionLimiterOptions {
  /** @default DEFAULT_NEW_SESSIONS, loopback exempt */
  limit?: NewSessionLimitOption;
  /** CIDRs never limited (`rateLimit.allowlist`); loopback is added unless `exemptLoopback` is false. */
  allowlist?: readonly string[];
  ipv6PrefixLength?: number;
  failOpen?: boolean;
  onFailOpen?: (error: unknown) => void;
  store: Store;
  events: SecurityEventSink;
  clock: Clock;
}

/** Always allowed, nothing to tell: the limit is off, or the client is exempt. */
const ADMITTED: LimitDecision = Object.freeze({ allowed: true, headers: Object.freeze({}) as Record<string, string> });

/** The write that stores a new session (`SessionManager.prepare`), to send with the step. */
export type SessionWrite = StoreOp & { op: 'set' };

/**
 * One step of the client's budget for a new session: allowed, or refused with the 429
 * `RATE_LIMIT_EXCEEDED` error to answer (its `Retry-After` and the `X-RateLimit-*` / `RateLimit`
 * fields in `error.headers`). `write`, when given, is stored exactly when the step is allowed: in the
 * step's own round trip (guarded by it), or after it in one of its own where the store cannot guard
 * it (a Redis Cluster, whose batches split by hash tag; `failOpen`, whose step keeps its own round
 * trip so that its failure can let the view through; a store that refuses the guarded batch with a
 * `TypeError` or does not confirm its write) or there is no step (the limit off, an exempt client).
 * Refused, nothing is written. Rejects only when the store fails (and not `failOpen`).
 */
export type NewSessionLimiter = (request: RequestInfo, write?: SessionWrite) => Promise<LimitDecision>;

/** The pseudo component's name and route: its counters' keys (`rl:~session:create`), kept across versions. */
const NAME = '~session';
const ROUTE = 'create';
const NO_SESSION: Session = Object.freeze({ id: '', key: '', userId: null, createdAt: 0 });
const PASS = () => Promise.resolve(ok({ html: '', state: {} }));
const COMPONENT_ID = `${NAME}:api`;
const BODY = Object.freeze({ componentId: COMPONENT_ID, action: ROUTE, params: Object.freeze({}), csrfToken: undefined, idempotencyKey: undefined });

export function createNewSessionLimiter(options: NewSessionLimiterOptions): NewSessionLimiter {
  const { store } = options;
  const limit = options.limit ?? {};
  const writeAlone = (write: SessionWrite | undefined): Promise<void> => (write === undefined ? Promise.resolve() : store.set(write.key, write.value, write.ttlMs));
  if (limit === false) return (_request, write) => writeAlone(write).then(() => ADMITTED);
  const allowlist = [...(options.allowlist ?? []), ...(limit.exemptLoopback === false ? [] : LOOPBACK)];
  const stage = createRateLimitStage({
    store,
    events: options.events,
    clock: options.clock,
    allowlist,
    ipv6PrefixLength: options.ipv6PrefixLength,
    failOpen: options.failOpen,
    onFailOpen: options.onFailOpen,
    defaults: { algorithm: 'gcra' },
  });
  // Checked here, at start-up: the stage would only check a policy at its first request.
  const action: ResolvedAction = Object.freeze({
    name: ROUTE,
    params: undefined,
    authorize: undefined,
    run: () => ({}),
    rateLimit: rateLimitCount('Rate limit', `${NAME}.${ROUTE}.limit`, limit.limit ?? DEFAULT_NEW_SESSIONS.limit),
    rateLimitWindow: rateLimitSeconds('Rate limit', `${NAME}.${ROUTE}.windowSeconds`, limit.windowSeconds ?? DEFAULT_NEW_SESSIONS.windowSeconds),
    rateLimitAlgorithm: 'gcra',
  });
  const component: ComponentDefinition = Object.freeze({ name: NAME, initialState: {}, publicState: [], actions: new Map([[ROUTE, action]]), render: () => html`` });
  const componentContext = Object.freeze({ user: null, componentId: COMPONENT_ID, instance: 'api', signal: NEVER_ABORTED });
  // The stage prepares no op with `failOpen` (its step keeps its own round trip); a cluster runs a
  // batch's hash tags on their own nodes, where the session's write could not see the step. Turned
  // off too by a guarded batch refused with a `TypeError` (see below).
  let guards = store.splitsBatchesByHashTag !== true;

  return async (request, write) => {
    const ctx = createActionContext({ request, body: BODY, session: NO_SESSION, user: null, component, action, componentContext });
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
        // forward `splitsBatchesByHashTag`, a store of the app's own that does not know the op. Every
        // first visit would answer 500: do as on a cluster instead (the step, then the write), now
        // and from now on.
        if (!(error instanceof TypeError)) throw error;
        guards = false;
      }
      if (results !== null) {
        ctx.prefetched = new Map([[stage, results[0] as StoreOpResult]]);
        written = results[1] === true;
      }
    }
    const outcome = await stage.run(ctx, PASS);
    if (outcome.type === 'ok') {
      // Admitted: the session must be stored before its cookie goes out. A store that did not
      // confirm the guarded write (one of the app's own, written before `setIfAllowed`, answering
      // it with anything but `true`) gets it on its own, as where there is no step.
      if (!written) await writeAlone(write);
      return { allowed: true, headers: ctx.headers };
    }
    // The page answers with the error alone (no reply headers were set for it): the budget fields go with it.
    const { error } = outcome;
    return { allowed: false, headers: ctx.headers, error: new LiveError(error.code, { fields: error.fields, headers: { ...ctx.headers, ...error.headers } }) };
  };
}
