/**
 * `livecomponents migrate`: brings the database of `DATABASE_URL` (default
 * `sqlite:./data/livecomponents.db`) to the latest schema. The command-line entry point calls
 * `process.exitCode = await migrateCommand(process.env)`.
 */
import { migrateToLatest, MigrationError } from '../sql/migrate.js';
import { MIGRATION_TIMEOUT_MS, migrationWaitFailure, openMigrationDatabase } from '../sql/migration-database.js';
import { DEFAULT_DATABASE_URL, describeDatabaseUrl, parseDatabaseUrl } from '../sql/url.js';

export interface MigrateCommandOptions {
  /** Where normal lines go. @default console.log */
  out?: (line: string) => void;
  /** Where the failure line goes. @default console.error */
  err?: (line: string) => void;
  /** The folder a relative `sqlite:` path is resolved against. @default process.cwd() */
  cwd?: string;
  /**
   * PostgreSQL: how long one migration statement, and the wait for another process's migration,
   * may take, in ms (src/sql/migration-database.ts). @default MIGRATION_TIMEOUT_MS (10 min)
   */
  timeoutMs?: number;
}

/**
 * Runs the pending migrations and prints one line per migration applied (or one saying the
 * database is up to date).
 *
 * @returns the exit code: 0 on success, 1 on failure (after printing why)
 * @example
 * process.exitCode = await migrateCommand(process.env);
 */
export async function migrateCommand(
  env: Readonly<Record<string, string | undefined>>,
  options: MigrateCommandOptions = {},
): Promise<number> {
  const out = options.out ?? ((line: string) => console.log(line));
  const err = options.err ?? ((line: string) => console.error(line));
  const url = env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
  const timeoutMs = options.timeoutMs ?? MIGRATION_TIMEOUT_MS;
  let target: string;
  let db: ReturnType<typeof openMigrationDatabase>;
  try {
    target = describeDatabaseUrl(url, options.cwd);
    // The database would vanish with this process: "applied" would be a lie.
    const where = parseDatabaseUrl(url, options.cwd);
    if (where.engine === 'sqlite' && where.path === ':memory:') {
      throw new Error('DATABASE_URL is sqlite::memory:, which lives only inside one process; nothing would persist. Migrate a file or a PostgreSQL database (the app migrates its own in-memory one at start-up)');
    }
    // On PostgreSQL a connection of its own, whose limits are not the app's requests'.
    db = openMigrationDatabase(url, { cwd: options.cwd, timeoutMs });
  } catch (error) {
    err(`migrate: ${messageOf(error)}`);
    return 1;
  }
  try {
    const applied = await migrateToLatest(db);
    for (const name of applied) out(`migrate: applied ${name}`);
    if (applied.length === 0) out(`migrate: ${target} is up to date`);
    return 0;
  } catch (error) {
    if (error instanceof MigrationError) for (const name of error.applied) out(`migrate: applied ${name}`);
    err(`migrate: ${target}: ${messageOf(migrationWaitFailure(error, timeoutMs))}`);
    return 1;
  } finally {
    await db.destroy().catch(() => undefined);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
