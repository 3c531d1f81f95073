/**
 * Deleting tokens that can never be used again (expired or revoked access tokens and browser
 * sign-ins, refresh tokens past their own or their family's end or revoked, spent or expired
 * reset tokens), two ways:
 *
 * - `startTokenCleanup`: an in-process timer, daily by default (`TOKEN_CLEANUP_INTERVAL` minutes,
 *   0 = off). With several instances, each run first claims a lease in the shared store, so one
 *   instance does the work per interval; the DELETEs are idempotent anyway, so a lost lease costs
 *   nothing but a second, empty pass.
 * - `livecomponents tokens:cleanup`, which calls `cleanupTokensCommand(env)`: for cron or a
 *   Kubernetes CronJob when the timer is off.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Kysely } from 'kysely';
import { systemClock, wholeMsClock, type Clock } from '../core/clock.js';
import { checkTimerDelay, MAX_TIMER_MS } from '../core/deadline.js';
import { createDatabase } from '../sql/database.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { DEFAULT_DATABASE_URL, describeDatabaseUrl, parseDatabaseUrl } from '../sql/url.js';
import type { Store } from '../store/types.js';
import { authKeys } from './keys.js';
import { createAuthRepository, type CleanupCounts } from './repository.js';

export type { CleanupCounts } from './repository.js';

export const DAY_MS = 86_400_000;

export interface TokenCleanupOptions {
  db: Kysely<DatabaseSchema>;
  /** Holds the lease; share it between instances (Redis, or the one SQLite file). */
  store: Store;
  /** @default systemClock */
  clock?: Clock;
  /** Time between runs in ms, at most 2^31 − 1 (Node's timer limit); `0` turns the timer off (`runNow` still works). @default 86_400_000 */
  intervalMs?: number;
  /** Delay of the first run after start-up. @default min(60_000, intervalMs) */
  firstRunAfterMs?: number;
  /** Told about each run this instance did (it held the lease). */
  onRun?: (counts: CleanupCounts) => void;
  /** Told about a failed run (the next one tries again). @default console.error */
  onError?: (error: unknown) => void;
}

export interface TokenCleanup {
  /**
   * One run now, if this instance gets the lease: resolves the rows deleted, or `null` when
   * another instance ran within the interval.
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
  let first: NodeJS.Timeout | undefined;

  async function runNow(): Promise<CleanupCounts | null> {
    if ((await options.store.claim(authKeys.cleanupLease(), instance, leaseMs)) !== null) return null;
    const counts = await repo.deleteDead(clock.now());
    options.onRun?.(counts);
    return counts;
  }

  function tick(): void {
    running = runNow().catch(onError);
  }

  if (intervalMs > 0) {
    first = setTimeout(() => {
      tick();
      timer = setInterval(tick, intervalMs);
      timer.unref();
    }, firstRunAfterMs);
    first.unref();
  }

  return {
    runNow,
    async stop() {
      clearTimeout(first);
      clearInterval(timer);
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
    const counts = await createAuthRepository(db).deleteDead(wholeMsClock(options.clock ?? systemClock).now());
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
