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
 */
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Cluster, Redis } from 'ioredis';
import { Kysely, sql, SqliteDialect } from 'kysely';
import { passed, failed, checked, type CheckResult } from './doctor-check.js';
import type { AppConfig } from '../ops/config.js';
import { withDeadline } from '../core/deadline.js';
import { messageOf } from '../core/errors.js';
import { redisTarget } from '../runtime/backends.js';
import { createDatabase, DEFAULT_QUERY_TIMEOUT_MS, serverTimeouts, sqliteDriverNotBuilt } from '../sql/database.js';
import { changedMigrations, migrationConflicts, newerMigrations, newerReleaseMessage, pendingMigrations, unwritableTables } from '../sql/migrate.js';
import { postgresReadOnlyReason } from '../sql/read-only.js';
import { DEFAULT_DATABASE_URL, describeDatabaseUrl, parseDatabaseUrl, postgresTlsNote } from '../sql/url.js';
import { isAclRefusal, onNode, readNodeMemory } from '../store/redis/eviction.js';
import { isSelectFailure, schemeHintOf, selectFailureAdvice, withoutEchoedArguments } from '../store/redis/connection.js';
import { commandTimeoutOf, explainWriteRefusal, probeWrite, redisClientOptions, serverModeRefusal, WRITE_CHECK_KEY } from '../store/redis/index.js';
import { loadIoredis } from '../store/redis/driver.js';
import { defineLuaCommands } from '../store/redis/lua/index.js';
import { lcKvRefusal } from '../store/sqlite/index.js';
import { openSnapshot } from './doctor-sqlite-snapshot.js';
import { folderRefusal } from './doctor-files.js';
import { nearestExisting } from '../ops/writable-path.js';
import { CLOCK_SERVICES, describeSkew, measureSkew, postgresTime, redisTime, type ClockSkew } from '../ops/clock-skew/index.js';

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

/** What one check found: its problems, and the line when there is none. */
interface Outcome {
  readonly problems: string[];
  readonly summary: string;
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

async function checkRedis(url: string, keyPrefix: string, timeoutMs: number, now: () => number, readings: ClockSkew[]): Promise<ServiceCheckResult> {
  const target = redisTarget(url, true);
  // One attempt, no reconnecting: the doctor reports and exits.
  const client: Redis | Cluster = 'url' in target ? new (loadIoredis().Redis)(target.url, { ...redisClientOptions(timeoutMs), lazyConnect: true, retryStrategy: () => null }) : target.client;
  // ioredis rejects a failed connect with "Connection is closed."; the cause came as an event.
  let cause: Error | undefined;
  // Read when the cause comes: the client's state then tells a TLS mismatch from an outage.
  let hint: string | undefined;
  client.on('error', (error: Error) => {
    if (cause !== undefined) return;
    cause = error;
    hint = schemeHintOf(client, error);
  });
  try {
    await within(() => client.connect(), timeoutMs, 'connecting');
    // ioredis reports a refused SELECT as an event only, then carries on with database 0.
    if (cause !== undefined && isSelectFailure(cause)) {
      return failed('redis-server', `REDIS_URL: Redis refused the database the URL names (${messageOf(cause)}), so the app's store would answer 503: ${selectFailureAdvice(cause)}`);
    }
    await within(() => client.ping(), timeoutMs, 'PING');
    // One URL is a single Redis: a cluster node or a Sentinel answers PING, then refuses most of what the store sends.
    if (!client.isCluster) {
      const refusal = serverModeRefusal(await within(() => (client as Redis).info(), timeoutMs, 'INFO').catch(() => ''));
      if (refusal !== undefined) return failed('redis-server', `${refusal}, so the app's store would answer 503`);
    }
    // PING passes on a replica and for a user barred from scripts; every action of the app would not.
    defineLuaCommands(client);
    // Twice on one socket: ioredis sends a script by EVAL the first time, by EVALSHA after, so an
    // ACL user refused EVALSHA alone passed one probe while every action after the first answered 503.
    for (const attempt of ['a scripted write', 'a scripted write by EVALSHA']) {
      try {
        await within(() => probeWrite(client, `${keyPrefix}${WRITE_CHECK_KEY}`), timeoutMs, attempt);
      } catch (error) {
        const message = withoutEchoedArguments(messageOf(error));
        if (/\bNOPERM\b.*'evalsha'/i.test(message)) {
          return failed('redis-server', `REDIS_URL: Redis refuses EVALSHA (${message}) though it ran the store's script by EVAL: the store sends each script by EVALSHA once loaded, so its actions would answer 503; grant the ACL user +evalsha`);
        }
        const refusal = explainWriteRefusal(message);
        if (refusal === undefined) throw error;
        return failed('redis-server', `REDIS_URL: ${refusal}, so the app's store would answer 503`);
      }
    }
    const problems: string[] = [];
    const refused = (what: string, consequence: string) => (error: unknown) => {
      problems.push(`REDIS_URL: cannot read ${what} (${withoutEchoedArguments(messageOf(error))}): ${consequence}`);
      return undefined;
    };
    const memory = await aclRefusalAs(within(() => readNodeMemory(client), timeoutMs, 'INFO memory'), refused('INFO memory', 'the eviction policy and how full Redis is cannot be checked; grant the ACL user +info'));
    for (const { node, evictionRisk, pressure } of memory ?? []) {
      if (evictionRisk !== null) problems.push(`Redis ${onNode(node, evictionRisk)}`);
      if (pressure !== null) problems.push(onNode(node, pressure));
    }
    const node = client.isCluster ? ((client as Cluster).nodes('master')[0] as Redis) : (client as Redis);
    const persistence = await aclRefusalAs(within(() => node.info('persistence'), timeoutMs, 'INFO persistence'), refused('INFO persistence', 'how Redis persists cannot be checked; grant the ACL user +info'));
    const skewMs = await aclRefusalAs(
      within(() => measureSkew(redisTime(client), now), timeoutMs, 'TIME'),
      refused('TIME', "rate-limited actions would fail (their scripts read Redis's clock) and the clocks cannot be compared; grant the ACL user +time"),
    );
    if (skewMs !== undefined) readings.push({ service: 'redis', skewMs });
    const aof = persistence !== undefined && /^aof_enabled:1\s*$/m.test(persistence);
    const kind = client.isCluster ? `a Redis Cluster of ${(client as Cluster).nodes('master').length} masters` : 'Redis';
    const persists = aof ? 'persists with AOF' : 'AOF is off (a restart loses what was written since the last snapshot, or everything without RDB — idempotency records, sessions, rate-limit budgets: see docs/scaling.md)';
    return checked('redis-server', problems, `${kind} answers, never evicts our keys; ${persists}`);
  } catch (error) {
    // Redis echoes the arguments of a command it lacks (a renamed EVAL): the script and its keys.
    // No cause: the doctor's own deadline passed, in the state the client is still in.
    const fix = cause === undefined ? schemeHintOf(client) : hint;
    return failed('redis-server', `REDIS_URL: Redis did not answer (${withoutEchoedArguments(messageOf(cause ?? error))})${fix === undefined ? '' : `: ${fix}`}`);
  } finally {
    client.disconnect();
  }
}

/**
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
  const db = createDatabase(url, { connectTimeoutMs: timeoutMs, queryTimeoutMs: timeoutMs, poolMax: 1 });
  // What the URL's sslmode means, in place of pg's warning (src/sql/url.ts): with a failure too, which a certificate may be.
  const tls = postgresTlsNote(url);
  const note = tls === undefined ? '' : `; note: ${tls}`;
  try {
    readings.push({ service: 'postgresql', skewMs: await measureSkew(postgresTime(db), now) });
    const timeouts = await missingServerTimeouts(db, url, where);
    const readOnly = await readOnlyRefusal(db, where);
    const schema = await schemaCheck(db, where, 'answers', 'DATABASE_URL: ');
    const problems = [readOnly, ...schema.problems, timeouts].filter((p): p is string => p !== undefined);
    return checked('database', problems, `${schema.summary}${note}`);
  } catch (error) {
    // A server that refused (PgBouncer's "unsupported startup parameter", a wrong password) did answer.
    const answered = sqlStateOf(error) === undefined ? 'did not answer' : 'answered with an error';
    return failed('database', `DATABASE_URL: ${where} ${answered} (${messageOf(error)})${note}`);
  } finally {
    await db.destroy();
  }
}

/**
 * Why the server-side timeouts the app sends when it connects (`serverTimeouts`) are not in force,
 * when any reads 0 (no limit): a pooler told to ignore them (PgBouncer's `ignore_startup_parameters`)
 * drops them, and then a query waiting on a lock outlives the app's own bound, its backend left
 * behind past the pool. The doctor connects as the app does, so it reads what the app would get.
 */
async function missingServerTimeouts<DB>(db: Kysely<DB>, url: string, where: string): Promise<string | undefined> {
  const expected = serverTimeouts(DEFAULT_QUERY_TIMEOUT_MS);
  const names = Object.keys(expected) as (keyof typeof expected)[];
  const { rows } = await sql<Record<string, string>>`select ${sql.join(names.map((n) => sql`current_setting(${n}) as ${sql.ref(n)}`))}`.execute(db);
  const off = names.filter((n) => rows[0]?.[n] === '0');
  if (off.length === 0) return undefined;
  const role = decodeURIComponent(new URL(url).username) || 'the app\'s role';
  // One statement per setting: ALTER ROLE … SET takes a single parameter.
  const statements = names.map((n) => `ALTER ROLE ${quoteIdentifier(role)} SET ${n} = '${expected[n] / 1000}s';`).join(' ');
  return `DATABASE_URL: ${where}: ${off.join(', ')} ${off.length === 1 ? 'is' : 'are'} 0 (no limit), though the app sends them when it connects: a pooler drops them (PgBouncer's ignore_startup_parameters), so queries waiting on a lock outlive the app's ${DEFAULT_QUERY_TIMEOUT_MS / 1000} s bound and their backends pile up beyond its pool; set them on the role: ${statements} (docs/scaling.md, "PgBouncer")`;
}

/**
 * Why the app could not write to the server, when it is a hot standby (after a failover the URL may
 * still name the old primary) or sessions start read-only (`default_transaction_read_only`): it answers
 * every read, so it passed as "up to date", while every sign-in, refresh and logout answers 503.
 * Readiness asks the same (`postgresReadOnlyReason`, src/sql/read-only.ts).
 */
async function readOnlyRefusal<DB>(db: Kysely<DB>, where: string): Promise<string | undefined> {
  const why = await postgresReadOnlyReason(db);
  if (why === undefined) return undefined;
  return `DATABASE_URL: ${where} is read-only (${why}): sign-in, refresh and logout would answer 503; point DATABASE_URL at the primary (after a failover: the promoted server)`;
}

/**
 * The SQLSTATE of an error the server sent, or of the error it wraps (`cause`). Only the server's
 * errors carry a `severity` (a socket's EPIPE has a five-letter code too).
 */
function sqlStateOf(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const { code, severity } = e as { code?: unknown; severity?: unknown };
    if (typeof code === 'string' && typeof severity === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The SQLite file at `path` (`where`, as messages name it, after `prefix`: the variable to change),
 * or the folder start-up would create it in. `holdsStore`: the key-value store opens on it too.
 */
async function checkSqlite(path: string, where: string, prefix: string, holdsStore: boolean, timeoutMs: number): Promise<Outcome> {
  if (existsSync(path)) return await checkSqliteFile(path, where, prefix, holdsStore, timeoutMs);
  const folder = nearestExisting(dirname(path));
  // Tried with a probe file: access(W_OK) says yes to root on a folder whose bits refuse writing.
  if (folderRefusal(folder) !== undefined) {
    return { problems: [`${prefix}${where} does not exist and ${folder} is not a writable folder, so start-up cannot create it`], summary: '' };
  }
  // Start-up creates it only if the driver loads (an install with scripts off leaves it unbuilt): an in-memory database tries that alone.
  const memory = openForCheck(':memory:', {});
  if (typeof memory === 'string') return { problems: [`${prefix}${where} does not exist yet, and start-up cannot create it${memory}`], summary: '' };
  memory.close();
  return { problems: [], summary: `${where} does not exist yet; start-up creates and migrates it` };
}

async function checkSqliteFile(path: string, where: string, prefix: string, holdsStore: boolean, timeoutMs: number): Promise<Outcome> {
  // Read-only: the doctor never writes the database (no WAL switch, no migration), nor leaves a
  // -wal/-shm beside it (a read-only connection makes them and cannot remove them): a copy in memory.
  const native = openSnapshot(path) ?? openForCheck(path, { readonly: true, fileMustExist: true, timeout: timeoutMs });
  if (typeof native === 'string') return { problems: [`${prefix}${where} cannot be opened${native}`], summary: '' };
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: native }) });
  try {
    const schema = await schemaCheck(db, where, 'opens', prefix);
    // A part `move-data` moved elsewhere is the `moved-data` check's (src/cli/move-data-doctor.ts): this one goes on.
    // Start-up then prepares the store's statements on lc_kv, and stops when they do not compile
    // (a table with the migration's columns but no primary key on `key` is taken as its own).
    if (!holdsStore || schema.problems.length > 0 || !(await db.introspection.getTables()).some((t) => t.name === 'lc_kv')) return schema;
    const refusal = lcKvRefusal(native);
    if (refusal === undefined) return schema;
    return {
      problems: [`${prefix}${where}: table "lc_kv" is not the one migration 001_lc_kv makes: the key-value store's statements fail on it (${refusal}), so start-up would stop; restore a backup taken before it was changed`],
      summary: '',
    };
  } catch (error) {
    return { problems: [`${prefix}${where} cannot be read (${messageOf(error)})`], summary: '' };
  } finally {
    await db.destroy();
  }
}

/**
 * A better-sqlite3 connection to `path`, or why there is none (to follow "cannot be opened"): the
 * driver's native module not built, or SQLite's refusal (on a folder: "disk I/O error") — a FAIL
 * line of the report, which an uncaught error would have ended with no report at all.
 */
function openForCheck(path: string, options: BetterSqlite3.Options): BetterSqlite3.Database | string {
  try {
    return new BetterSqlite3(path, options);
  } catch (error) {
    const driver = sqliteDriverNotBuilt(error);
    if (driver !== undefined) return `: ${driver}`;
    const folder = path !== ':memory:' && statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
    return ` (${messageOf(error)})${folder ? ': it is a folder, not an SQLite file' : ''}`;
  }
}

/**
 * What the schema lacks, in words; a failure when a newer release migrated the database, when an
 * applied migration differs from this release's, or when a pending migration would meet a table or
 * index of its name that is something else (another tool's `users`): start-up would refuse each.
 * And when a table of ours has a column NOT NULL without a default that we never write: start-up
 * passes, and every insert into that table fails.
 */
async function schemaCheck<DB>(db: Kysely<DB>, where: string, answers: string, prefix: string): Promise<Outcome> {
  // Start-up and `migrate` refuse such a database (a rollback across a migration): no "up to date".
  const newer = await newerMigrations(db);
  if (newer.length > 0) return { problems: [`${prefix}${where}: ${newerReleaseMessage(newer)}`], summary: '' };
  const changed = [...(await changedMigrations(db)), ...(await unwritableTables(db))].map((c) => `${prefix}${where}: ${c}`);
  const pending = await pendingMigrations(db);
  if (pending.length === 0) return { problems: changed, summary: `${where} ${answers}; schema up to date` };
  const conflicts = await migrationConflicts(db, pending);
  return {
    problems: [...changed, ...conflicts.map((c) => `${prefix}${where}: migration ${c}`)],
    summary: `${where} ${answers}; ${pending.length} migration(s) pending (${pending.join(', ')}), applied at start-up or by livecomponents migrate`,
  };
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

/**
 * `promise`, or what `onRefusal` makes of an ACL refusal (`NOPERM`): a user barred from one read
 * the doctor makes is named precisely, not "Redis did not answer". Other errors reject as before.
 */
async function aclRefusalAs<T>(promise: Promise<T>, onRefusal: (error: unknown) => undefined): Promise<T | undefined> {
  try {
    return await promise;
  } catch (error) {
    if (!isAclRefusal(error)) throw error;
    return onRefusal(error);
  }
}

/**
 * What `probe` answers, or an error naming `what` once `ms` pass. The deadline calls `probe` after
 * arming its timer, so a probe's own synchronous part (building the command) counts too.
 */
function within<T>(probe: () => Promise<T>, ms: number, what: string): Promise<T> {
  return withDeadline(probe, ms, () => new Error(`${what} timed out after ${ms} ms`));
}

