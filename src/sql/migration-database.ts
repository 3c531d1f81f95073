/**
 * The connection migrations run on (`livecomponents migrate`, and start-up's `openBackends`).
 *
 * On PostgreSQL it is not the app's pool, whose server-side limits (`serverTimeouts`, 9 s a
 * statement by default) are the app's requests' own. Under them a migration statement longer than
 * that (a future `CREATE INDEX` on a large table) could never be applied; and Kysely's migrator
 * holds its lock (`pg_advisory_lock`) for the whole run, which a second migrator (another instance
 * starting, a `migrate` run beside them) waits for in one statement: it gave up with "canceling
 * statement due to statement timeout" once the first run took over 9 s in all, even when each of its
 * statements was short, and nothing said that another process was migrating. The migration
 * connection has the same limits, only longer: `MIGRATION_TIMEOUT_MS`.
 */
import type { Kysely } from 'kysely';
import { createDatabase } from './database.js';
import { MigrationError } from './migrate.js';
import type { DatabaseSchema } from './schema.js';

/**
 * PostgreSQL: the query timeout of the migration connection, in ms (`queryTimeoutMs` of
 * `createDatabase`): one migration statement may run this long, less a second (the server's
 * `statement_timeout` and `lock_timeout`), and so may the wait for another process's migration to
 * end. Bounded all the same: a migrator blocked for good (a transaction left open on a table it
 * alters) fails and says so, rather than hanging start-up.
 */
export const MIGRATION_TIMEOUT_MS = 10 * 60_000;

export interface MigrationDatabaseOptions {
  /** The folder a relative `sqlite:` path is resolved against. @default process.cwd() */
  cwd?: string | undefined;
  /** PostgreSQL: see `MIGRATION_TIMEOUT_MS`. At most `MAX_QUERY_TIMEOUT_MS`. @default MIGRATION_TIMEOUT_MS */
  timeoutMs?: number | undefined;
}

/**
 * The database at `url` for `migrateToLatest`: on PostgreSQL, one connection of its own with the
 * migration limits (`MIGRATION_TIMEOUT_MS`); on SQLite, the file as `createDatabase` opens it.
 * `destroy()` it after migrating.
 *
 * @example
 * const db = openMigrationDatabase(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
 * try { await migrateToLatest(db); } finally { await db.destroy(); }
 */
export function openMigrationDatabase(url: string, options: MigrationDatabaseOptions = {}): Kysely<DatabaseSchema> {
  return createDatabase(url, { cwd: options.cwd, queryTimeoutMs: options.timeoutMs ?? MIGRATION_TIMEOUT_MS, poolMax: 1 });
}

/**
 * `error` from `migrateToLatest` on a migration database whose limit was `timeoutMs`, reworded when
 * the run gave up before it began (no migration named, none applied) on PostgreSQL's time limit
 * (SQLSTATE 57014 or 55P03): that is the wait for the migration lock, which another process holds
 * for as long as it migrates. Any other error is returned as it is.
 */
export function migrationWaitFailure(error: unknown, timeoutMs: number = MIGRATION_TIMEOUT_MS): unknown {
  if (!(error instanceof MigrationError) || error.migrationName !== undefined || error.applied.length > 0) return error;
  const cancelled = sqlStateIn(error.cause);
  if (cancelled === undefined) return error;
  return new MigrationError(
    `Migrations waited about ${timeoutMs / 1_000} s for another process that is migrating this database (its migrator holds the migration lock until its run ends) and gave up (PostgreSQL: ${cancelled.message}): let that migration finish, then start again or run \`livecomponents migrate\``,
    undefined,
    [],
    error,
  );
}

/** The error in `error`'s cause chain that PostgreSQL's time limits raised (57014, 55P03), if any. */
function sqlStateIn(error: unknown): Error | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === '57014' || code === '55P03') return e;
  }
  return undefined;
}
