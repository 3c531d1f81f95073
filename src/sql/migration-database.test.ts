/**
 * The connection migrations run on: on PostgreSQL its server-side limits are the migration's
 * (`MIGRATION_TIMEOUT_MS`), not the app's requests' 9 s, under which a longer migration statement
 * could never be applied and a second migrator gave up on the first one's lock. The waits
 * themselves: src/cli/migrate.test.ts and src/runtime/backends.test.ts.
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../core/errors.js';
import { MigrationError } from './migrate.js';
import { MIGRATION_TIMEOUT_MS, migrationWaitFailure, openMigrationDatabase } from './migration-database.js';
import { postgresAvailability, TEST_POSTGRES_URL, warnSkipped } from './test-postgres.js';

const pgState = await postgresAvailability();
if (pgState.state === 'skip') warnSkipped('src/sql/migration-database.test.ts › PostgreSQL (1 test)', pgState.reason);

describe.skipIf(pgState.state === 'skip')('openMigrationDatabase on PostgreSQL', () => {
  it('opens a connection whose statement and lock limits are 10 min less a second, not the app’s 9 s', async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    expect(MIGRATION_TIMEOUT_MS).toBe(600_000);
    for (const [options, expected] of [
      [{}, { statement_timeout: '599s', lock_timeout: '599s', idle_in_transaction_session_timeout: '20min' }],
      [{ timeoutMs: 1_500 }, { statement_timeout: '1200ms', lock_timeout: '1200ms', idle_in_transaction_session_timeout: '3s' }],
    ] as const) {
      const db = openMigrationDatabase(TEST_POSTGRES_URL, options);
      try {
        const { rows } = await sql<Record<string, string>>`select current_setting('statement_timeout') as statement_timeout, current_setting('lock_timeout') as lock_timeout, current_setting('idle_in_transaction_session_timeout') as idle_in_transaction_session_timeout`.execute(db);
        expect(rows).toEqual([expected]);
      } finally {
        await db.destroy();
      }
    }
  });
});

describe('migrationWaitFailure', () => {
  const cancelled = Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
  const outage = new StoreUnavailableError(`PostgreSQL failed: ${cancelled.message}`, cancelled);

  it('rewords a run that PostgreSQL’s time limit ended before any migration began', () => {
    const reworded = migrationWaitFailure(new MigrationError(`Migrations failed: ${outage.message}`, undefined, [], outage), 600_000);
    expect(reworded).toBeInstanceOf(MigrationError);
    expect((reworded as Error).message).toBe(
      'Migrations waited about 600 s for another process that is migrating this database (its migrator holds the migration lock until its run ends) and gave up (PostgreSQL: canceling statement due to statement timeout): let that migration finish, then start again or run `livecomponents migrate`',
    );
  });

  it('leaves a migration that failed, another cause, and other errors as they are', () => {
    const failedMigration = new MigrationError('Migration "002_auth" failed: …', '002_auth', [], outage);
    const otherCause = new MigrationError('Migrations failed: connection refused', undefined, [], Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const other = new Error('boom');
    for (const error of [failedMigration, otherCause, other]) expect(migrationWaitFailure(error)).toBe(error);
  });
});
