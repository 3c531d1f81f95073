/**
 * The limit on new sessions per signed-out client (`newSessionLimit`): every page view without a
 * session stores one, with its components' state, for the session's lifetime (`SESSION_TTL`, 24 h by
 * default: ~600 B a view in SQLite and in Redis, docs/scaling.md), so a script sending cookie-less
 * GETs would fill the store. A route limiter on the actions' rate-limit stage (`~session`,
 * route `create`, route-limiter.ts): it counts clients as the
 * action limits do (the IP as resolved under `TRUST_PROXY`, IPv6 by network), is atomic across
 * instances, skips allowlisted CIDRs, and logs one `excess_rate_limit_exceeded` per refusal. Its step
 * is taken only by a page view that has no session, before anything is written, and carries the new
 * session's write when it is given one: one store round trip for both, the write guarded by the step
 * (`setIfAllowed`), so a refused view stores nothing.
 */
import type { Clock } from '../../core/clock.js';
import { LiveError } from '../../core/errors.js';
import type { SecurityEventSink } from '../../ops/security-events.js';
import type { Store } from '../../store/types.js';
import type { RequestInfo } from '../types.js';
import { createRouteLimiter, type GuardedWrite, type LimitDecision } from './route-limiter.js';

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
export type SessionWrite = GuardedWrite;

/**
 * One step of the client's budget for a new session: allowed, or refused with the 429
 * `RATE_LIMIT_EXCEEDED` error to answer (its `Retry-After` and the `X-RateLimit-*` / `RateLimit`
 * fields in `error.headers`). `write`, when given, is stored exactly when the step is allowed, in the
 * step's own round trip where the store can guard it (`RouteLimiter.check`), and alone when the limit
 * is off. Refused, nothing is written. Rejects only when the store fails (and not `failOpen`).
 */
export type NewSessionLimiter = (request: RequestInfo, write?: SessionWrite) => Promise<LimitDecision>;

export function createNewSessionLimiter(options: NewSessionLimiterOptions): NewSessionLimiter {
  const { store } = options;
  const limit = options.limit ?? {};
  if (limit === false) return (_request, write) => (write === undefined ? Promise.resolve() : store.set(write.key, write.value, write.ttlMs)).then(() => ADMITTED);
  const limiter = createRouteLimiter({
    // The pseudo component's name and route: its counters' keys (`rl:~session:create`), kept across versions.
    name: '~session',
    routes: { create: { limit: limit.limit ?? DEFAULT_NEW_SESSIONS.limit, windowSeconds: limit.windowSeconds ?? DEFAULT_NEW_SESSIONS.windowSeconds } },
    algorithm: 'gcra',
    store,
    events: options.events,
    clock: options.clock,
    allowlist: [...(options.allowlist ?? []), ...(limit.exemptLoopback === false ? [] : LOOPBACK)],
    ipv6PrefixLength: options.ipv6PrefixLength,
    failOpen: options.failOpen,
    onFailOpen: options.onFailOpen,
  });
  return async (request, write) => {
    const decision = await limiter.check('create', request, write);
    if (decision.allowed) return decision;
    // The page answers with the error alone (no reply headers were set for it): the budget fields go with it.
    const { error } = decision;
    return { ...decision, error: new LiveError(error.code, { fields: error.fields, headers: { ...decision.headers, ...error.headers } }) };
  };
}
