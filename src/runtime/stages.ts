/**
 * The ordered list of stages, in one place (PROTOCOL §3):
 * CSRF → rate limit → idempotency → validation → (instance lock, state load) → authorization → action → state stored.
 * The prefetch stage sits after the CSRF check: it sends the session read and the reads/claims the
 * later stages prepared in one round trip, and their writes in one more after the action. In strict
 * CSRF mode the token's single use (`csrf-spend`) is the first of those later stages.
 * The state stage sits before `authorize` because rules may look at the state; it stores the new
 * state only after the action and the render succeeded. The instance lock sits just before it: the
 * state is read (or read again) while this request holds the instance.
 */
import type { Clock } from '../core/clock.js';
import type { SecurityEventSink } from '../ops/security-events.js';
import { createAuthorizeStage } from '../pipeline/authorize/index.js';
import { createCsrfStages, type CsrfOrigins, type CsrfService, type CsrfStages } from '../pipeline/csrf/index.js';
import { createIdempotencyStage, DEFAULT_CLAIM_TTL_MS } from '../pipeline/idempotency/index.js';
import { createInstanceLockStage, DEFAULT_INSTANCE_LOCK_TTL_MS } from '../pipeline/instance-lock/index.js';
import { timerMs } from '../pipeline/options.js';
import { createRateLimitStage, type RateLimitStage } from '../pipeline/rate-limit/index.js';
import { createStateStage } from '../pipeline/state/index.js';
import type { StateRepository } from '../pipeline/state/repository.js';
import type { Stage } from '../pipeline/types.js';
import { createPrefetchStage } from '../pipeline/prefetch/index.js';
import { createValidateStage } from '../pipeline/validate/index.js';
import type { SessionManager } from '../session/index.js';
import type { Store } from '../store/types.js';

export interface SecurityOptions {
  /** The app's own origin, from configuration (never from the `Host` header), e.g. `https://app.example.com`. */
  appOrigin: string;
  /** Further origins allowed to call actions (exact match). @default [] */
  allowedOrigins?: readonly string[];
  rateLimit?: {
    /** @default 60 */
    limit?: number;
    /** @default 60 */
    windowSeconds?: number;
    /** @default 'gcra' */
    algorithm?: 'gcra' | 'sliding-window';
    /** CIDRs (IPv4 or IPv6) never limited. @default [] */
    allowlist?: readonly string[];
    /** Signed-out IPv6 clients count by their network of this many bits (32–128). @default 56 */
    ipv6PrefixLength?: number;
    /** Admit requests when the store is down (logged) instead of failing closed. @default false */
    failOpen?: boolean;
    onFailOpen?: (error: unknown) => void;
  };
  /**
   * New sessions a signed-out client (its IP; IPv6 by network, as for `rateLimit`) may start, per
   * window: every page view without a session stores one, with its components' state, for the
   * session's lifetime, so a flood of cookie-less page views (a crawler, an attacker) would fill the
   * store. Past it a page view without a session answers 429 `RATE_LIMIT_EXCEEDED` with
   * `Retry-After`, storing nothing and setting no cookie (`NEW_SESSION_LIMIT` in the reference app). Loopback clients (the machine itself,
   * tests; a proxy whose clients are all loopback means `TRUST_PROXY` is missing) are exempt unless
   * `exemptLoopback` is false; `rateLimit.allowlist` applies too. `false` turns the limit off.
   * @default { limit: 300, windowSeconds: 60 } (a burst of 300, then five a second)
   */
  newSessionLimit?: false | { limit?: number; windowSeconds?: number; exemptLoopback?: boolean };
  /**
   * Actions on one component instance run one at a time across processes (src/pipeline/instance-lock).
   * `false` turns the lock off (two store ops less per action): only for an app that is the one
   * process using its store — then actions are already ordered in-process. With several processes
   * (Redis, Node's cluster module or PM2 on one SQLite file) their overlapping actions lose updates.
   * @default on
   */
  instanceLock?:
    | false
    | {
        /** How long a lock lasts if its holder dies, ms, at most 2^31 − 1 (a timer's limit); keep it above the slowest action. @default 10_000 */
        ttlMs?: number;
        /** Longest wait for a lock another process holds, ms; then 503. @default ttlMs + 1000 */
        maxWaitMs?: number;
      };
  /**
   * Longest time an async action may run, in ms; then its request answers 500 `INTERNAL_ERROR`, the
   * component instance is free again, and an idempotency key it had stays claimed until
   * `idempotency.lockTtlMs` (src/pipeline/execute). It may not exceed `instanceLock.ttlMs` nor
   * `idempotency.lockTtlMs`: those locks must outlive a running action. For slow actions raise them too.
   * Like them, at most 2^31 − 1 ms (about 24.8 days, the longest a timer can wait).
   * @default the shorter of `instanceLock.ttlMs` and `idempotency.lockTtlMs` (10_000)
   */
  actionTimeoutMs?: number;
  idempotency?: {
    /** @default 3600 */
    defaultTtlSeconds?: number;
    /** How long an in-flight claim blocks its key if the process dies, ms, at most 2^31 − 1. @default 30_000 */
    lockTtlMs?: number;
  };
}

/**
 * The action time limit (`actionTimeoutMs`, by default the shorter lock's TTL). Refused at
 * start-up when it exceeds a lock that must outlive the action: the instance lock (another process
 * would run an action on the instance while this one still ran: a lost update) or the idempotency
 * claim (a retry would run the action a second time). The limit is a timer's delay, and so are the
 * lock TTLs it defaults to: each at most `MAX_TIMER_MS` (a longer timer fires after 1 ms, timing
 * out every async action at once).
 */
export function actionTimeoutOf(options: SecurityOptions): number {
  const lock = options.instanceLock === false ? undefined : timerMs('Runtime', 'instanceLock.ttlMs', options.instanceLock?.ttlMs ?? DEFAULT_INSTANCE_LOCK_TTL_MS);
  const claim = timerMs('Runtime', 'idempotency.lockTtlMs', options.idempotency?.lockTtlMs ?? DEFAULT_CLAIM_TTL_MS);
  // Unset, it is the shorter of the two locks (with the defaults: the instance lock's 10 s).
  const timeoutMs = timerMs('Runtime', 'actionTimeoutMs', options.actionTimeoutMs ?? Math.min(lock ?? claim, claim));
  for (const [name, ttl] of [['instanceLock.ttlMs', lock], ['idempotency.lockTtlMs', claim]] as const) {
    if (ttl !== undefined && timeoutMs > ttl) {
      throw new TypeError(`Runtime: actionTimeoutMs (${timeoutMs}) must not exceed ${name} (${ttl}): that lock must outlive a running action`);
    }
  }
  return timeoutMs;
}

/** The origins the CSRF stage trusts, from `appOrigin` and `allowedOrigins`: one reading for the stage and `runtime.trustedOrigins`. */
export function csrfOriginsOf(options: SecurityOptions): CsrfOrigins {
  return { appOrigin: options.appOrigin, allowed: options.allowedOrigins ?? [] };
}

export function buildStages(
  options: SecurityOptions & {
    store: Store;
    csrf: CsrfService;
    events: SecurityEventSink;
    clock: Clock;
    states: StateRepository;
    sessions: SessionManager;
    /** Told about failed flushes, take-backs and release retries that gave up; must not throw. */
    onBackgroundError: (error: unknown) => void;
    /** Aborted when the runtime closes: stops the background release retries. */
    signal: AbortSignal;
  },
): { stages: Stage[]; csrfScreen: CsrfStages['screen']; rateLimit: RateLimitStage } {
  const { store, events, clock, sessions } = options;
  const rl = options.rateLimit ?? {};
  // Strict CSRF mode's `spend` uses the token up in the first batch (before the rate-limit step).
  const csrf = createCsrfStages({ csrf: options.csrf, origins: csrfOriginsOf(options), events });
  const stateStage = createStateStage({ states: options.states, events });
  const lock = options.instanceLock ?? {};
  // Also handed to the runtime: the headers of refusals before its step (`headersBeforeStep`).
  const rateLimit = createRateLimitStage({
    store,
    clock,
    events,
    defaults: { limit: rl.limit ?? 60, windowSeconds: rl.windowSeconds ?? 60, algorithm: rl.algorithm ?? 'gcra' },
    allowlist: rl.allowlist ? [...rl.allowlist] : [],
    ipv6PrefixLength: rl.ipv6PrefixLength,
    failOpen: rl.failOpen ?? false,
    onFailOpen: rl.onFailOpen,
  });
  const storeStages: Stage[] = [
    ...(csrf.spend === null ? [] : [csrf.spend]),
    rateLimit,
    createIdempotencyStage({
      store,
      clock,
      lockTtlMs: options.idempotency?.lockTtlMs,
      defaultTtlSeconds: options.idempotency?.defaultTtlSeconds,
    }),
    createValidateStage(),
    ...(lock === false ? [] : [createInstanceLockStage({ store, stateStage, ttlMs: lock.ttlMs, maxWaitMs: lock.maxWaitMs })]),
    stateStage,
    createAuthorizeStage({ events }),
  ];
  // The CSRF check needs no store; from strict mode's spend and the rate limiter on, the ops travel in one batch.
  const prefetch = createPrefetchStage({ store, sessions, events, later: storeStages, onFlushError: options.onBackgroundError, signal: options.signal });
  return { stages: [csrf.check, prefetch, ...storeStages], csrfScreen: csrf.screen, rateLimit };
}
