/**
 * Dependency checks for the probes: a `HealthCheck` is a name and a function that resolves when the
 * dependency answers. Each run is bounded by a timeout, so a hung database makes readiness fail
 * quickly instead of hanging the probe (Kubernetes would then time the probe out with no detail).
 */
import { PostgresAdapter, sql, type QueryExecutorProvider } from 'kysely';
import { type Clock, systemClock } from '../../core/clock.js';
import { withDeadline } from '../../core/deadline.js';
import { messageOf } from '../../core/errors.js';
import { healthProbeOf } from '../../sql/database.js';
import { postgresReadOnlyReason } from '../../sql/read-only.js';
import type { Cluster, Redis } from 'ioredis';
import { isAclRefusal, readMemoryProblems } from '../../store/redis/eviction.js';
import type { Store } from '../../store/types.js';
import { InvalidOptionError } from './options-error.js';

export interface HealthCheck {
  /** Component name, the part of the `checks` key before the colon: `store`, `sql`, `redis`… */
  name: string;
  /** The part after the colon. @default 'responsiveness' */
  measurement?: string;
  /** The draft's `componentType` (`datastore`, `component`, `system`). @default omitted */
  componentType?: string;
  /**
   * Resolves when the dependency is healthy — with `{ warn }` when it works but is set up in a way
   * someone should fix (status `warn`, still ready); rejects (or throws) with the reason otherwise.
   */
  check(): Promise<void | HealthWarning>;
}

/** What a check resolves with when the dependency answers but something about it needs attention. */
export interface HealthWarning {
  warn: string;
}

export type HealthStatus = 'pass' | 'warn' | 'fail';

/** The outcome of one check run. */
export interface CheckResult {
  /** `name:measurement`. */
  key: string;
  componentType: string | undefined;
  status: HealthStatus;
  /** How long the check took (ms), up to the timeout. */
  durationMs: number;
  /** ISO 8601 time the reading was taken. */
  time: string;
  /** Why it failed or warned; shown only to callers holding the health token. */
  output: string | undefined;
}

/** A check with its key resolved and validated once, at start-up. */
export interface PreparedCheck {
  readonly key: string;
  readonly componentType: string | undefined;
  readonly check: () => Promise<void | HealthWarning>;
}

const PART_RE = /^[a-z][a-z0-9_.-]{0,62}$/;
const WHERE = 'registerHealth';

/** Validates names and refuses duplicate keys: two checks reporting under one key would hide one. */
export function prepareChecks(checks: readonly HealthCheck[]): PreparedCheck[] {
  if (!Array.isArray(checks)) throw new InvalidOptionError(WHERE, 'checks must be an array of HealthCheck');
  const seen = new Set<string>();
  return checks.map((c, i) => {
    if (typeof c?.check !== 'function') throw new InvalidOptionError(WHERE, `checks[${i}].check must be a function`);
    const measurement = c.measurement ?? 'responsiveness';
    for (const [field, value] of [['name', c.name], ['measurement', measurement]] as const) {
      if (typeof value !== 'string' || !PART_RE.test(value)) {
        throw new InvalidOptionError(WHERE, `checks[${i}].${field} must be lower-case letters, digits, "_", "." or "-" (got ${JSON.stringify(value)})`);
      }
    }
    const key = `${c.name}:${measurement}`;
    if (seen.has(key)) throw new InvalidOptionError(WHERE, `two checks report under "${key}"`);
    seen.add(key);
    return { key, componentType: c.componentType, check: () => c.check() };
  });
}

/** Thrown into a check's result when it did not settle in time. */
class CheckTimeoutError extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
    this.name = 'CheckTimeoutError';
  }
}

const checkTimeout = (ms: number) => new CheckTimeoutError(ms);

/**
 * Runs one check within `timeoutMs`. A pass slower than `warnMs` is `warn`: the dependency answers,
 * but slowly enough that someone should look. Never rejects.
 */
export async function runCheck(c: PreparedCheck, timeoutMs: number, warnMs: number, clock: Clock = systemClock): Promise<CheckResult> {
  const started = performance.now();
  let output: string | undefined;
  let failed = false;
  let warning: string | undefined;
  try {
    // Called by the deadline, after its timer is armed: a check that computes before it awaits is
    // timed from its start. A synchronous throw rejects like any other failure; `Promise.resolve`
    // takes a check of the app's own (plain JavaScript) that returns no promise. An answer read late
    // (the event loop held: a GC pause, a CPU spike, another check's synchronous part) is kept, and
    // reads `warn` below: only a check still unanswered when its timer runs fails. Failing it turned
    // /health/ready 503 on a loaded pod whose dependencies all answered, and blamed the check that
    // happened to be waiting, even one that had answered at once.
    const result = await withDeadline(() => Promise.resolve(c.check()), timeoutMs, checkTimeout, undefined, 'keep');
    if (typeof result === 'object' && result !== null && typeof result.warn === 'string') warning = result.warn;
  } catch (error) {
    failed = true;
    output = messageOf(error);
  }
  const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
  const slow = !failed && durationMs > warnMs;
  if (slow) output = `answered in ${durationMs} ms, over the ${warnMs} ms warning threshold`;
  if (!failed && warning !== undefined) output = slow ? `${warning}; ${output}` : warning;
  const status: HealthStatus = failed ? 'fail' : slow || warning !== undefined ? 'warn' : 'pass';
  return { key: c.key, componentType: c.componentType, status, durationMs, time: new Date(clock.now()).toISOString(), output };
}

/** The worst of several statuses (`fail` > `warn` > `pass`); `pass` for none. */
export function worstStatus(statuses: Iterable<HealthStatus>): HealthStatus {
  let worst: HealthStatus = 'pass';
  for (const s of statuses) {
    if (s === 'fail') return 'fail';
    if (s === 'warn') worst = 'warn';
  }
  return worst;
}

/** The runtime's store (memory, SQLite or Redis) through its own `health()`. */
export function storeHealthCheck(store: Pick<Store, 'health'>, name = 'store'): HealthCheck {
  return { name, componentType: 'datastore', check: () => store.health() };
}

/**
 * A Kysely database (SQLite or PostgreSQL) answering `select 1` — on PostgreSQL, answering that it
 * takes writes: a hot standby (after a failover the URL may still name the old primary) or
 * `default_transaction_read_only` answers `select 1` while every sign-in, refresh and logout answers 503.
 * A database from `createDatabase` is asked on a connection of its own (`healthProbeOf`), so requests
 * holding the app's pool (waiting on a lock) do not read as PostgreSQL not answering.
 * @example registerHealth(app, { state, checks: [storeHealthCheck(store), sqlHealthCheck(db)] })
 */
export function sqlHealthCheck(db: QueryExecutorProvider, name = 'sql'): HealthCheck {
  const target = healthProbeOf(db);
  return {
    name,
    componentType: 'datastore',
    check: async () => {
      if (!(target.getExecutor().adapter instanceof PostgresAdapter)) {
        await sql`select 1`.execute(target);
        return;
      }
      const readOnly = await postgresReadOnlyReason(target);
      if (readOnly !== undefined) {
        throw new Error(`PostgreSQL is read-only (${readOnly}): sign-in, refresh and logout answer 503 until DATABASE_URL reaches a primary that takes writes`);
      }
    },
  };
}

/** A Redis client answering `PING` (ioredis `Redis` or anything with the same `ping`). */
export function redisHealthCheck(client: { ping(): Promise<unknown> }, name = 'redis'): HealthCheck {
  return {
    name,
    componentType: 'datastore',
    check: async () => {
      await client.ping();
    },
  };
}

/**
 * Whether Redis may evict the store's keys (`maxmemory-policy` other than `noeviction` under a
 * `maxmemory`), and whether it is at 95 % of `maxmemory` or past it — both from one `INFO memory`
 * per node. Either is `warn`: the app may forget idempotency records and rate-limit counters, or
 * (full, `noeviction`) every page and action answers 503 while the instance stays ready. Even a full
 * Redis is no `fail`: that would flip `/health/ready`, and a Redis every instance shares would take
 * all of them out of the balancer at once, for a condition no instance can mend (docs/operations.md).
 * Nor does it `fail` for a node it cannot ask (the store check reports a Redis that does not answer;
 * an ACL user without `+info` is named) — unless the read outlasts the probe's timeout, as every check does.
 * @example registerHealth(app, { state, checks: [storeHealthCheck(store), redisEvictionCheck(redisClientOf(store)!)] })
 */
export function redisEvictionCheck(client: Redis | Cluster, name = 'redis'): HealthCheck {
  return {
    name,
    measurement: 'eviction-policy',
    componentType: 'datastore',
    check: async () => {
      let problems: string | null;
      try {
        problems = await readMemoryProblems(client);
      } catch (error) {
        problems = `could not read the eviction policy (${messageOf(error)})${isAclRefusal(error) ? ': grant the ACL user +info' : ''}`;
      }
      return problems === null ? undefined : { warn: problems };
    },
  };
}
