/**
 * The limit on new sessions per signed-out client (`newSessionLimit`, see stages.ts): a route
 * limiter (`~session`, route `create`) on the actions' rate-limit stage, so it counts clients as the
 * action limits do, is atomic across instances, and logs `excess_rate_limit_exceeded`.
 */
import type { Clock } from '../core/clock.js';
import type { SecurityEventSink } from '../ops/security-events.js';
import { createRouteLimiter } from '../pipeline/rate-limit/route-limiter.js';
import type { RequestInfo } from '../pipeline/types.js';
import type { Store } from '../store/types.js';
import type { SecurityOptions } from './stages.js';

/**
 * 300 a minute: a burst of 300 first visits, then 5 a second. Generous on purpose — an office or a
 * carrier's NAT puts many first visits behind one address, and a test suite opens many sessions — yet
 * one source can store at most 5 sessions a second instead of as many as it can send.
 */
export const DEFAULT_NEW_SESSIONS = Object.freeze({ limit: 300, windowSeconds: 60 });

/** Loopback: the machine itself (health checks, tests, a proxy on the same host). */
const LOOPBACK = ['127.0.0.0/8', '::1'] as const;

/** Whether the client of `request` may start a new session now (one step of its budget when yes). */
export type NewSessionGate = (request: RequestInfo) => Promise<boolean>;

export function createNewSessionGate(options: SecurityOptions & { store: Store; events: SecurityEventSink; clock: Clock }): NewSessionGate {
  const limit = options.newSessionLimit ?? {};
  if (limit === false) return () => Promise.resolve(true);
  const allowlist = [...(options.rateLimit?.allowlist ?? []), ...(limit.exemptLoopback === false ? [] : LOOPBACK)];
  const limiter = createRouteLimiter({
    name: '~session',
    routes: { create: { limit: limit.limit ?? DEFAULT_NEW_SESSIONS.limit, windowSeconds: limit.windowSeconds ?? DEFAULT_NEW_SESSIONS.windowSeconds } },
    algorithm: 'gcra',
    store: options.store,
    events: options.events,
    clock: options.clock,
    allowlist,
    ipv6PrefixLength: options.rateLimit?.ipv6PrefixLength,
    failOpen: options.rateLimit?.failOpen,
    onFailOpen: options.rateLimit?.onFailOpen,
  });
  return async (request) => (await limiter.check('create', request)).allowed;
}
