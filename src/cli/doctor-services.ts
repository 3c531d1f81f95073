/**
 * `livecomponents doctor --connect`: the checklist items that only the services themselves can
 * answer, asked of the Redis and the database the environment names — read-only: nothing is
 * written to them, and an SQLite file that does not exist yet is not created (opening an existing
 * one may create its `-wal`/`-shm` companions, as any reader of a WAL database does; the folder of
 * one not made yet is tried with a probe file, created and removed at once: doctor-files.ts).
 *
 * - `redis-server`: Redis answers, is no lone node of a Redis Cluster (`INFO`; a cluster
 *   takes the seed nodes comma-separated) and no Redis Sentinel (`redis_mode:sentinel`), takes the store's writes (two through its batch script, as every
 *   action sends: a PEXPIRE of a key that does not exist, which changes nothing — a replica answers
 *   READONLY, an ACL user barred from scripts NOPERM; the second goes by EVALSHA, as ioredis sends a
 *   script once the socket has it), cannot evict our keys (`maxmemory-policy`),
 *   is below 95 % of `maxmemory` (past it a `noeviction` Redis refuses writes: every action answers
 *   503, while readiness stays green), and how it persists. An ACL user refused `INFO` or `TIME`
 *   (NOPERM) is named with what cannot be checked, not reported as a Redis that did not answer.
 *   Without `REDIS_URL`, where sessions and state go instead: with PostgreSQL, the embedded SQLite
 *   file, given the `database` checks below (start-up migrates it and opens the store on it too).
 * - `database`: the SQL database answers; migrations still pending (start-up applies them), and a
 *   failure when one of them would meet a table or index of its name made by another tool (other
 *   columns), or when an applied one differs from this release's (checksum, or a column its tables lack),
 *   or when one of their tables has a column of its own NOT NULL without a default (every insert fails);
 *   in an SQLite file that holds the key-value store, a failure when the store's statements do not
 *   compile against its `lc_kv` table (start-up stops on that);
 *   on PostgreSQL, a failure when the server-side timeouts are not in force (a pooler dropped them),
 *   and when it takes no writes (a hot standby, `default_transaction_read_only`).
 * - `clock`: this machine's clock against Redis's and PostgreSQL's. Token lifetimes (access,
 *   refresh, reset) and idempotency replays are read on each instance's clock, so instances whose
 *   clocks drift apart disagree on them (rate limits on Redis run on Redis's clock).
 *
 * This file runs them and judges the clocks; the checks themselves: Redis in doctor-redis.ts,
 * PostgreSQL in doctor-postgres.ts, an SQLite file (DATABASE_URL's or the embedded one) in
 * doctor-sqlite.ts, the schema both engines share in doctor-schema.ts.
 */
import { passed, checked, type CheckResult } from './doctor-check.js';
import type { AppConfig } from '../ops/config.js';
import { commandTimeoutOf } from '../store/redis/index.js';
import { DEFAULT_DATABASE_URL, describeDatabaseUrl, parseDatabaseUrl } from '../sql/url.js';
import { CLOCK_SERVICES, describeSkew, type ClockSkew } from '../ops/clock-skew/index.js';
import { checkRedis } from './doctor-redis.js';
import { checkPostgres } from './doctor-postgres.js';
import { checkSqlite } from './doctor-sqlite.js';

export const SERVICE_CHECK_NAMES = ['redis-server', 'database', 'clock'] as const;
export type ServiceCheckName = (typeof SERVICE_CHECK_NAMES)[number];

export type ServiceCheckResult = CheckResult<ServiceCheckName>;

export interface ServiceCheckOptions {
  /**
   * Longest wait for each service, in ms, at most `MAX_COMMAND_TIMEOUT_MS` (536,870,911): it is the
   * Redis client's command timeout too, whose socket timeout (four of them) is a Node timer.
   * @default 3000
   */
  timeoutMs?: number;
  /** This machine's clock (injectable for tests). @default Date.now */
  now?: () => number;
  /** Largest clock difference accepted, ms. @default 1000 */
  maxSkewMs?: number;
  /** The folder relative `sqlite:` paths (the embedded key-value file's too) are read against. @default process.cwd() */
  cwd?: string;
}

export async function runServiceChecks(config: AppConfig, options: ServiceCheckOptions = {}): Promise<ServiceCheckResult[]> {
  // Checked before any service is asked: Node fires a timer of over 2^31 − 1 ms after 1 ms, so a
  // larger value failed every check (Redis's socket dropped at once, PostgreSQL refusing its timeouts).
  const timeoutMs = Math.ceil(commandTimeoutOf('doctor', options.timeoutMs ?? 3_000, 'timeoutMs'));
  const now = options.now ?? Date.now;
  const cwd = options.cwd ?? process.cwd();
  const readings: ClockSkew[] = [];
  const [redis, database] = await Promise.all([
    config.REDIS_URL === undefined ? checkEmbeddedStore(config.DATABASE_URL, cwd, timeoutMs) : checkRedis(config.REDIS_URL, config.REDIS_KEY_PREFIX ?? '', timeoutMs, now, readings),
    checkDatabase(config.DATABASE_URL, config.REDIS_URL === undefined, cwd, timeoutMs, now, readings),
  ]);
  return [redis, database, checkClock(readings, options.maxSkewMs ?? 1_000)];
}

/** The words before each problem of the embedded key-value file: the variable that would move it. */
const EMBEDDED_FILE = 'REDIS_URL is not set, so sessions and state go to the embedded SQLite file: ';

/**
 * Without REDIS_URL, the store is DATABASE_URL's SQLite file (checked as `database`), or with
 * PostgreSQL the embedded file, which start-up migrates and opens the store on just as it does
 * DATABASE_URL's file (src/runtime/backends.ts): so it gets the same checks, read-only.
 */
async function checkEmbeddedStore(databaseUrl: string, cwd: string, timeoutMs: number): Promise<ServiceCheckResult> {
  if (parseDatabaseUrl(databaseUrl, cwd).engine === 'sqlite') {
    return passed('redis-server', "no REDIS_URL: sessions and state stay in DATABASE_URL's SQLite database (see database)");
  }
  const embedded = parseDatabaseUrl(DEFAULT_DATABASE_URL, cwd);
  if (embedded.engine !== 'sqlite') throw new Error('the embedded key-value store is an SQLite file');
  const file = await checkSqlite(embedded.path, describeDatabaseUrl(DEFAULT_DATABASE_URL, cwd), EMBEDDED_FILE, true, timeoutMs);
  return checked('redis-server', file.problems, `no REDIS_URL: sessions and state go to the embedded SQLite file: ${file.summary}`);
}

/**
 * DATABASE_URL's database: an SQLite file or PostgreSQL.
 * @param holdsStore - whether an SQLite DATABASE_URL holds the key-value store too (no REDIS_URL)
 */
async function checkDatabase(url: string, holdsStore: boolean, cwd: string, timeoutMs: number, now: () => number, readings: ClockSkew[]): Promise<ServiceCheckResult> {
  const target = parseDatabaseUrl(url, cwd);
  const where = describeDatabaseUrl(url, cwd);
  if (target.engine === 'sqlite') {
    if (target.path === ':memory:') return passed('database', 'in-memory SQLite (nothing survives a restart)');
    const file = await checkSqlite(target.path, where, 'DATABASE_URL: ', holdsStore, timeoutMs);
    return checked('database', file.problems, file.summary);
  }
  return await checkPostgres(url, where, timeoutMs, now, readings);
}

function checkClock(readings: readonly ClockSkew[], maxSkewMs: number): ServiceCheckResult {
  if (readings.length === 0) return passed('clock', 'no shared service answered to compare clocks with');
  const describe = (r: ClockSkew) => `${CLOCK_SERVICES[r.service]} ${r.skewMs >= 0 ? '+' : '−'}${Math.abs(Math.round(r.skewMs))} ms`;
  const off = readings.filter((r) => Math.abs(r.skewMs) > maxSkewMs);
  // No "clock:" of its own: the report puts the check's name before each problem.
  return checked(
    'clock',
    off.map((r) => `${describeSkew(r)} (over ${maxSkewMs} ms): sync it with NTP, token lifetimes count on instances agreeing on the time`),
    `within ${maxSkewMs} ms of ${readings.map(describe).join(', ')}`,
  );
}
