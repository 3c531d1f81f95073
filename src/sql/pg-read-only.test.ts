/**
 * A read-only PostgreSQL — a hot standby after a failover (the URL still names the old primary), or
 * `default_transaction_read_only` — here a database of the test's own set read-only. Before, every
 * write failed with the driver's plain error (SQLSTATE 25006: 500 INTERNAL_ERROR on the wire) and the
 * SQL readiness check, `select 1`, passed.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../core/errors.js';
import { prepareChecks, runCheck, sqlHealthCheck } from '../ops/health/checks.js';
import { createDatabase } from './database.js';
import { ownDatabase } from '../../test/helpers/postgres-database.js';
import { postgresAvailability, warnSkipped } from './test-postgres.js';

const pgState = await postgresAvailability();
if (pgState.state === 'skip') warnSkipped('read-only PostgreSQL', pgState.reason);

const sqlCheck = (db: Parameters<typeof sqlHealthCheck>[0]) => runCheck(prepareChecks([sqlHealthCheck(db)])[0]!, 2_000, 2_000);

describe.skipIf(pgState.state === 'skip')('read-only PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof ownDatabase>>;
  beforeAll(async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    database = await ownDatabase('readonly');
    const db = createDatabase(database.url);
    await sql`create table t (id int primary key)`.execute(db);
    await db.destroy();
    await database.setReadOnly(true);
  });
  afterAll(() => database?.drop());

  it('a write is an outage (503), and its connection is replaced, not reused', async () => {
    const db = createDatabase(database.url, { poolMax: 1 });
    try {
      const pid = async () => (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db)).rows[0]!.pid;
      const before = await pid();
      const error = await sql`insert into t values (1)`.execute(db).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(((error as Error).cause as { code?: string }).code).toBe('25006');
      // After a failover the next connection may reach the new primary (DNS): no reuse of this one.
      expect(await pid()).not.toBe(before);
    } finally {
      await db.destroy();
    }
  });

  it('the SQL readiness check fails, naming the cause; it passes once the database takes writes again', async () => {
    const db = createDatabase(database.url);
    try {
      expect(await sqlCheck(db)).toMatchObject({ status: 'fail', output: expect.stringMatching(/^PostgreSQL is read-only \(default_transaction_read_only\)/) });
      await database.setReadOnly(false);
      expect(await sqlCheck(db)).toMatchObject({ status: 'pass', output: undefined });
    } finally {
      await database.setReadOnly(true);
      await db.destroy();
    }
  });
});
