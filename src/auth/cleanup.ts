/**
 * Deleting tokens that can never be used again (expired or revoked access tokens and browser
 * sign-ins, refresh tokens past their own or their family's end or revoked, spent or expired
 * reset tokens), two ways:
 *
 * - `startTokenCleanup`: an in-process timer, daily by default (`TOKEN_CLEANUP_INTERVAL` minutes,
 *   0 = off). With several instances, each run first claims a lease in the shared store, so one
 *   instance does the work per interval; the DELETEs are idempotent anyway, so a lost lease costs
 *   nothing but a second, empty pass. A run that fails (store or database down, clocks apart) is
 *   tried again after a minute, then two, four… up to the interval, not a whole day later.
 * - `livecomponents tokens:cleanup`, which calls `cleanupTokensCommand(env)`: for cron or a
 *   Kubernetes CronJob when the timer is off.
 *
 * A DELETE cannot be undone, so neither trusts this machine's clock alone: each run reads the
 * database's clock once (PostgreSQL; an SQLite file is on this machine) and deletes by the earlier of
 * the two. When they differ by more than `REVOKE_MARGIN_MS` the run is skipped and reported: a host a
 * day ahead deleted every live access token of every instance (eight days: every refresh token too).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Kysely } from 'kysely';
import { systemClock, wholeMsClock, type Clock } from '../core/clock.js';
import { checkTimerDelay, MAX_TIMER_MS } from '../core/deadline.js';
import { createDatabase } from '../sql/database.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { DEFAULT_DATABASE_URL, describeDatabaseUrl, parseDatabaseUrl } from '../sql/url.js';
import { databaseTimeOf, measureSkew, type ServiceTime } from '../ops/clock-skew/index.js';
import { refuseMovedDatabase } from '../sql/moved-mark.js';
import type { Store } from '../store/types.js';
import { authKeys } from './keys.js';
import { createAuthRepository, REVOKE_MARGIN_MS, type CleanupCounts } from './repository.js';

export type { CleanupCounts } from './repository.js';

export const DAY_MS = 86_400_000;
/** The wait before the first retry of a failed run; each further failure doubles it, up to the interval. */
export const CLEANUP_RETRY_MS = 60_000;

export interface TokenCleanupOptions {
  db: Kysely<DatabaseSchema>;
  /** Holds the lease; share it between instances (Redis, or the one SQLite file). */
  store: Store;
  /** @default systemClock */
  clock?: Clock;
  /**
   * The database's clock, read once per run and compared with `clock`.
   * @default PostgreSQL's `clock_timestamp()`; none on SQLite (the file is on this machine)
   */
  databaseTime?: ServiceTime;
  /** Time between runs in ms, at most 2^31 − 1 (Node's timer limit); `0` turns the timer off (`runNow` still works). @default 86_400_000 */
  intervalMs?: number;
  /** Delay of the first run after start-up. @default min(60_000, intervalMs) */
  firstRunAfterMs?: number;
  /** Told about each run this instance did (it held the lease). */
  onRun?: (counts: CleanupCounts) => void;
  /** Told about a failed run, or one skipped because the clocks disagree (tried again after `CLEANUP_RETRY_MS`, doubling up to the interval). @default console.error */
  onError?: (error: unknown) => void;
}

export interface TokenCleanup {
  /**
   * One run now, if this instance gets the lease: resolves the rows deleted, or `null` when
   * another instance ran within the interval. Rejects, deleting nothing, when this machine's clock
   * and the database's differ by more than `REVOKE_MARGIN_MS`.
   */
  runNow(): Promise<CleanupCounts | null>;
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * @example
 * const cleanup = startTokenCleanup({ db, store, intervalMs: config.TOKEN_CLEANUP_INTERVAL * 60_000 });
 * app.addHook('onClose', () => cleanup.stop());
 */
export function startTokenCleanup(options: TokenCleanupOptions): TokenCleanup {
  const repo = createAuthRepository(options.db);
  const clock = wholeMsClock(options.clock ?? systemClock);
  // Node fires a longer timer after 1 ms (TimeoutOverflowWarning), and a shorter one than 1 ms
  // (a fraction) after 1 ms too: the clean-up would run in a busy loop. 0 turns it off.
  const intervalMs = checkTimerDelay(options.intervalMs ?? DAY_MS, { zero: true }, () => {
    return new TypeError(`Token clean-up: intervalMs must be from 0 to ${MAX_TIMER_MS} (about 24.8 days, the longest a timer can wait), and not between 0 and 1`);
  });
  const firstRunAfterMs = checkTimerDelay(options.firstRunAfterMs ?? Math.min(60_000, intervalMs), { zero: true }, () => {
    return new TypeError(`Token clean-up: firstRunAfterMs must be from 0 to ${MAX_TIMER_MS}, and not between 0 and 1`);
  });
  const onError = options.onError ?? ((error: unknown) => console.error('token clean-up failed', error));
  const instance = randomUUID();
  // The lease ends a little before the next run is due, so the instance that ran can run again.
  const leaseMs = intervalMs > 0 ? Math.max(1, intervalMs - Math.min(intervalMs / 10, 60_000)) : 60_000;
  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failures = 0;

  async function runNow(): Promise<CleanupCounts | null> {
    // Before the lease: an instance whose clock is off leaves the run to one whose clock is right.
    const now = await cleanupTime(clock, options.databaseTime ?? databaseTimeOf(options.db));
    if ((await options.store.claim(authKeys.cleanupLease(), instance, leaseMs)) !== null) return null;
    let counts: CleanupCounts;
    try {
      counts = await repo.deleteDead(now);
    } catch (error) {
      // Give the lease back, or the retry (this instance's or another's) would find it taken and
      // leave the tokens for a whole interval.
      await options.store.deleteIfEquals(authKeys.cleanupLease(), instance).catch(() => undefined);
      throw error;
    }
    options.onRun?.(counts);
    return counts;
  }

  function schedule(delayMs: number): void {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(tick, delayMs);
    timer.unref();
  }

  function tick(): void {
    // The next regular run counts from this one's start, as with setInterval.
    schedule(intervalMs);
    running = runNow().then(
      () => {
        failures = 0;
      },
      (error: unknown) => {
        onError(error);
        // A store or database that was down for a minute must not leave dead tokens (and the
        // failure) for a day: retry soon, backing off to the interval while it keeps failing.
        failures++;
        schedule(Math.min(intervalMs, CLEANUP_RETRY_MS * 2 ** (failures - 1)));
      },
    );
  }

  if (intervalMs > 0) schedule(firstRunAfterMs);

  return {
    runNow,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

export interface CleanupCommandOptions {
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** The folder a relative `sqlite:` path is resolved against. @default process.cwd() */
  cwd?: string;
  clock?: Clock;
}

/**
 * The time a clean-up deletes by: the earlier of this machine's clock and the database's (read now,
 * at the middle of the round trip), so that neither clock running ahead deletes a live token.
 * Rejects when they differ by more than `REVOKE_MARGIN_MS`: one of them is wrong, and which one
 * cannot be told from here.
 */
async function cleanupTime(clock: Clock, databaseTime: ServiceTime | undefined): Promise<number> {
  if (databaseTime === undefined) return clock.now();
  const skewMs = await measureSkew(databaseTime, () => clock.now());
  if (Math.abs(skewMs) > REVOKE_MARGIN_MS) {
    const off = `${Math.abs(Math.round(skewMs / 1000))} s ${skewMs > 0 ? 'ahead of' : 'behind'}`;
    throw new Error(
      `this machine's clock is ${off} the database; clean-up skipped, nothing deleted (past ${REVOKE_MARGIN_MS / 1000} s apart it could delete tokens still live): sync the clocks with NTP`,
    );
  }
  const local = clock.now();
  return skewMs > 0 ? Math.floor(local - skewMs) : local;
}

/**
 * `livecomponents tokens:cleanup`: deletes dead tokens from the `DATABASE_URL` database and prints
 * how many. Needs a migrated database (`livecomponents migrate`).
 * @returns the exit code: 0 on success, 1 on failure (after printing why, never the URL's password)
 * @example process.exitCode = await cleanupTokensCommand(process.env);
 */
export async function cleanupTokensCommand(
  env: Readonly<Record<string, string | undefined>>,
  options: CleanupCommandOptions = {},
): Promise<number> {
  const out = options.out ?? ((line: string) => console.log(line));
  const err = options.err ?? ((line: string) => console.error(line));
  const url = env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
  let target = 'the database';
  let db: Kysely<DatabaseSchema> | undefined;
  try {
    target = describeDatabaseUrl(url, options.cwd);
    // Opening an SQLite path creates the file and its folders: a mistyped path would leave an
    // empty database behind. There is nothing to clean in a database that does not exist.
    const where = parseDatabaseUrl(url, options.cwd);
    if (where.engine === 'sqlite' && where.path !== ':memory:' && !existsSync(where.path)) {
      throw new Error('the database does not exist (check DATABASE_URL; `livecomponents migrate` creates it)');
    }
    db = createDatabase(url, { cwd: options.cwd });
    // A file `move-data` moved elsewhere: cleaning it would say done while the tokens in use (on
    // PostgreSQL now) are never cleaned, a cron job left on the old DATABASE_URL reporting success.
    await refuseMovedDatabase(url, db, 'tokens:cleanup would clean that stale copy, not the tokens in use; nothing was deleted', ['relational'], options.cwd);
    const now = await cleanupTime(wholeMsClock(options.clock ?? systemClock), databaseTimeOf(db));
    const counts = await createAuthRepository(db).deleteDead(now);
    out(
      `tokens:cleanup: deleted ${counts.accessTokens} access tokens and sign-ins, ${counts.refreshTokens} refresh tokens, ` +
        `${counts.passwordResets} password resets from ${target}`,
    );
    return 0;
  } catch (error) {
    err(`tokens:cleanup: ${target}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await db?.destroy().catch(() => undefined);
  }
}
