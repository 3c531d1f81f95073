/**
 * PostgreSQL outages reach callers as `StoreUnavailableError` (503), through a TCP proxy in front of
 * the real server that the test freezes or closes; errors of the query itself stay as they are.
 * Before, the routes answered these with 500 INTERNAL_ERROR.
 */
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../core/errors.js';
import { createDatabase } from './database.js';
import { isPostgresOutage } from './pg-outage.js';
import { createTestSchema, postgresAvailability, postgresProxy, warnSkipped } from './test-postgres.js';

const pgState = await postgresAvailability();
if (pgState.state === 'skip') warnSkipped('PostgreSQL outages', pgState.reason);

describe.skipIf(pgState.state === 'skip')('PostgreSQL outages as StoreUnavailableError', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  beforeAll(async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    schema = await createTestSchema('outage');
  });
  afterAll(async () => schema?.drop());

  const select1 = (db: ReturnType<typeof createDatabase>) => sql`select 1 as one`.execute(db);

  // No timed assertion (shared, noisy machines): without the query timeout nothing ends the wait on a
  // frozen server (TCP keep-alive takes hours), so a query that did not time out fails the test by
  // its 10 s timeout.
  it('a server that stops answering: the query times out as StoreUnavailableError', { timeout: 10_000 }, async () => {
    const p = await postgresProxy();
    const db = createDatabase(p.url(schema.url), { connectTimeoutMs: 500, queryTimeoutMs: 500 });
    try {
      expect((await select1(db)).rows).toEqual([{ one: 1 }]);
      p.freeze();
      const error = await select1(db).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).code).toBe('SERVICE_UNAVAILABLE');
    } finally {
      await p.close();
      await db.destroy().catch(() => undefined);
    }
  });

  it('a server that is gone (connections refused, or broken mid-use): StoreUnavailableError', async () => {
    const p = await postgresProxy();
    const db = createDatabase(p.url(schema.url), { connectTimeoutMs: 500, queryTimeoutMs: 2_000 });
    try {
      expect((await select1(db)).rows).toEqual([{ one: 1 }]);
      await p.close();
      // The pooled connection broke; then new connections are refused.
      for (let i = 0; i < 2; i++) await expect(select1(db)).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await db.destroy().catch(() => undefined);
    }
  });

  it('a query that times out inside a transaction: the connection is closed, not reused in that transaction', async () => {
    // One connection, so the write after the failure must reuse the pool's only slot.
    const db = createDatabase(schema.url, { poolMax: 1, queryTimeoutMs: 500 });
    const other = new pg.Client({ connectionString: schema.url });
    await other.connect();
    try {
      await sql`create table rows_t (id int primary key, v text)`.execute(db);
      await sql`insert into rows_t values (1, 'a'), (2, 'b')`.execute(db);
      // Another session holds row 1: the transaction's SELECT … FOR UPDATE waits past query_timeout.
      await other.query('begin');
      await other.query('select 1 from rows_t where id = 1 for update');
      const failed = await db
        .transaction()
        .execute((trx) => sql`select v from rows_t where id = 1 for update`.execute(trx))
        .catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(StoreUnavailableError);
      // Row 1 is free again. Before the server-side timeouts, the timed-out query was never cancelled
      // and now took the lock — on a connection that must be gone, not back in the pool inside its
      // open transaction. Now the server cancels it (statement_timeout) and the transaction is rolled
      // back; either way, the next write must not land in an orphaned transaction.
      await other.query('commit');
      await sql`update rows_t set v = 'changed' where id = 2`.execute(db);
      // Committed for everyone (before, it sat uncommitted in the orphaned transaction).
      expect((await other.query('select v from rows_t where id = 2')).rows).toEqual([{ v: 'changed' }]);
      // And nobody holds row 1 (before, the orphaned transaction did, for good).
      await other.query("set lock_timeout = '2s'");
      await other.query('begin');
      await expect(other.query('select 1 from rows_t where id = 1 for update')).resolves.toMatchObject({ rowCount: 1 });
      await other.query('rollback');
    } finally {
      await other.end();
      await db.destroy();
    }
  });

  it('errors of the query itself are not outages', async () => {
    const db = createDatabase(schema.url);
    try {
      const error = await sql`select * from no_such_table`.execute(db).catch((e: unknown) => e);
      expect(error).not.toBeInstanceOf(StoreUnavailableError);
      expect((error as { code?: string }).code).toBe('42P01');
      expect(isPostgresOutage(error)).toBe(false);
    } finally {
      await db.destroy();
    }
  });
});
