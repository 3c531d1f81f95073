/**
 * The query timeout is enforced by PostgreSQL too (`serverTimeouts` in `database.ts`). With only the
 * client-side `query_timeout`, a query waiting on a lock timed out on the client, its connection was
 * closed, and its backend stayed on the server waiting: under a held lock the app's backends grew by
 * its pool size every timeout until PostgreSQL refused every client ("too many clients already").
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../core/errors.js';
import { createDatabase, serverTimeouts } from './database.js';
import { isPostgresOutage } from './pg-outage.js';
import { createTestSchema, postgresAvailability, warnSkipped } from './test-postgres.js';

const pgState = await postgresAvailability();
if (pgState.state === 'skip') warnSkipped('PostgreSQL server-side timeouts', pgState.reason);

describe('serverTimeouts', () => {
  it('statement and lock timeouts a margin below the query timeout, idle-in-transaction twice it, never 0', () => {
    expect(serverTimeouts(10_000)).toEqual({ statement_timeout: 9_000, lock_timeout: 9_000, idle_in_transaction_session_timeout: 20_000 });
    expect(serverTimeouts(1_000)).toEqual({ statement_timeout: 800, lock_timeout: 800, idle_in_transaction_session_timeout: 2_000 });
    expect(serverTimeouts(1).statement_timeout).toBe(1);
  });

  it('the server-side timeouts and cancellations are outages (503), not query errors', () => {
    for (const code of ['57014', '55P03', '25P03']) expect(isPostgresOutage(Object.assign(new Error('x'), { code }))).toBe(true);
    expect(isPostgresOutage(Object.assign(new Error('x'), { code: '23505' }))).toBe(false);
  });
});

describe.skipIf(pgState.state === 'skip')('PostgreSQL server-side timeouts', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let other: pg.Client;
  beforeAll(async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    schema = await createTestSchema('srvtimeout');
    other = new pg.Client({ connectionString: schema.url });
    await other.connect();
    await other.query('create table t (id int primary key, v text)');
    await other.query("insert into t values (1, 'a'), (2, 'b')");
  });
  afterAll(async () => {
    await other?.end();
    await schema?.drop();
  });

  /** The schema's URL with an application_name of its own, to find the app's backends. */
  function tagged(): { url: string; name: string } {
    const name = `lc_timeouts_${randomBytes(4).toString('hex')}`;
    const url = new URL(schema.url);
    url.searchParams.set('application_name', name);
    return { url: url.toString(), name };
  }

  async function backends(name: string): Promise<{ total: number; waiting: number }> {
    const { rows } = await other.query<{ total: number; waiting: number }>(
      "select count(*)::int as total, (count(*) filter (where wait_event_type = 'Lock'))::int as waiting from pg_stat_activity where application_name = $1",
      [name],
    );
    return rows[0]!;
  }

  it('every connection carries the limits as startup parameters', async () => {
    const db = createDatabase(schema.url, { queryTimeoutMs: 1_500 });
    try {
      const show = async (setting: string) => (await sql<Record<string, string>>`select current_setting(${setting}) as v`.execute(db)).rows[0]!.v;
      expect(await show('statement_timeout')).toBe('1200ms');
      expect(await show('lock_timeout')).toBe('1200ms');
      expect(await show('idle_in_transaction_session_timeout')).toBe('3s');
      // The URL's own options (the test schema's search_path) still apply.
      expect(await show('search_path')).toBe(schema.schema);
    } finally {
      await db.destroy();
    }
  });

  // No timed assertion (shared, noisy machines): waiting for a connection of the pool is bounded by
  // connectTimeoutMs, here 300 s, beyond the test's 30 s timeout. Six queries through three
  // connections take two statement timeouts in a row (1.6 s) a round; a query that waited for a
  // connection until that deadline instead (one not given back after its timeout) fails the test.
  it('queries blocked by a lock fail as 503 within the timeout and leave no backend behind', { timeout: 30_000 }, async () => {
    const { url, name } = tagged();
    const db = createDatabase(url, { queryTimeoutMs: 1_000, poolMax: 3, connectTimeoutMs: 300_000 });
    try {
      expect((await sql`select count(*)::int as n from t`.execute(db)).rows).toEqual([{ n: 2 }]);
      await other.query('begin');
      await other.query('lock table t in access exclusive mode');
      // Three rounds of more queries than the pool holds, as requests keep coming during the lock.
      for (let round = 0; round < 3; round++) {
        const errors = await Promise.all(Array.from({ length: 6 }, () => sql`select v from t where id = 1`.execute(db).catch((e: unknown) => e)));
        for (const error of errors) {
          expect(error).toBeInstanceOf(StoreUnavailableError);
          expect((error as StoreUnavailableError).code).toBe('SERVICE_UNAVAILABLE');
        }
      }
      // Before: every timed-out query's backend was still there, waiting on the lock (9+ here,
      // beyond the pool's 3), each holding a connection slot of the server.
      expect(await backends(name)).toEqual({ total: expect.any(Number), waiting: 0 });
      expect((await backends(name)).total).toBeLessThanOrEqual(3);
      await other.query('commit');
      // The pool serves again once the lock is gone.
      expect((await sql`select v from t where id = 1`.execute(db)).rows).toEqual([{ v: 'a' }]);
    } finally {
      await other.query('rollback').catch(() => undefined);
      await db.destroy();
    }
  });

  // No timed assertion (shared, noisy machines): the cause says the server cancelled the statement at
  // its lock or statement timeout (800 ms), not the client at its query timeout; a connection kept
  // waiting past that fails the test by its timeout (connectTimeoutMs, the wait for the pool's only
  // connection, is 120 s).
  it('a transaction blocked on a row lock: 503, rolled back (its earlier write is gone), the pool serves again', { timeout: 20_000 }, async () => {
    const { url, name } = tagged();
    const db = createDatabase(url, { queryTimeoutMs: 1_000, poolMax: 1, connectTimeoutMs: 120_000 });
    try {
      await other.query('begin');
      await other.query('select 1 from t where id = 1 for update');
      const failed = await db
        .transaction()
        .execute(async (trx) => {
          await sql`insert into t values (3, 'c')`.execute(trx);
          await sql`update t set v = 'changed' where id = 1`.execute(trx);
        })
        .catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(StoreUnavailableError);
      expect(['57014', '55P03']).toContain(((failed as Error).cause as { code?: string }).code);
      expect(await backends(name)).toMatchObject({ waiting: 0 });
      await other.query('commit');
      // The pool's only connection serves again, outside any transaction: the insert was rolled back.
      expect((await sql`select id, v from t order by id`.execute(db)).rows).toEqual([
        { id: 1, v: 'a' },
        { id: 2, v: 'b' },
      ]);
    } finally {
      await other.query('rollback').catch(() => undefined);
      await db.destroy();
    }
  });

  it('a transaction left idle is ended by the server, its locks freed; the next query is a 503', async () => {
    const db = createDatabase(schema.url, { queryTimeoutMs: 500, poolMax: 1 });
    try {
      const failed = await db
        .transaction()
        .execute(async (trx) => {
          await sql`update t set v = 'held' where id = 2`.execute(trx);
          // A client stalled mid-transaction (idle_in_transaction_session_timeout is 1 s here).
          await new Promise((resolve) => setTimeout(resolve, 1_800));
          await sql`select 1`.execute(trx);
        })
        .catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(StoreUnavailableError);
      // Row 2 is free and unchanged: the server rolled the transaction back.
      await other.query("set lock_timeout = '1s'");
      await other.query('begin');
      expect((await other.query('select v from t where id = 2 for update')).rows).toEqual([{ v: 'b' }]);
      await other.query('rollback');
      await other.query('reset lock_timeout');
      expect((await sql`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }]);
    } finally {
      await other.query('rollback').catch(() => undefined);
      await db.destroy();
    }
  });
});
