/**
 * The SQL readiness check asks PostgreSQL on a connection of its own. On the app's pool it measured
 * the pool: requests waiting on a lock (an operator's ALTER TABLE) held every pooled connection, the
 * check's `select 1` found none within its 1 s, and every instance went unready at once while
 * PostgreSQL answered — component pages that never touch it included.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../sql/database.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../../sql/test-postgres.js';
import { prepareChecks, runCheck, sqlHealthCheck } from './checks.js';
import { waitUntil } from '../../../test/helpers/wait-until.js';

const pgState = await postgresAvailability();
if (pgState.state === 'skip') warnSkipped('SQL readiness on a connection of its own', pgState.reason);

describe.skipIf(pgState.state === 'skip')('SQL readiness on a connection of its own', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let other: pg.Client;
  beforeAll(async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    schema = await createTestSchema('readiness_pool');
    other = new pg.Client({ connectionString: schema.url });
    await other.connect();
    await other.query('create table t (id int primary key)');
  });
  afterAll(async () => {
    await other?.end();
    await schema?.drop();
  });

  it('stays ready while every pooled connection waits on a lock, and closes its connection with the database', async () => {
    const name = `lc_readiness_${randomBytes(4).toString('hex')}`;
    const url = new URL(schema.url);
    url.searchParams.set('application_name', name);
    const db = createDatabase(url.toString(), { poolMax: 2, queryTimeoutMs: 5_000 });
    const check = prepareChecks([sqlHealthCheck(db)])[0]!;
    // Another connection than the one watching: pg_stat_activity reads one snapshot per transaction.
    const locker = new pg.Client({ connectionString: schema.url });
    await locker.connect();
    await locker.query('begin');
    await locker.query('lock table t in access exclusive mode');
    const blocked = [1, 2].map(() => sql`select count(*) from t`.execute(db).catch((error: unknown) => error));
    try {
      let waiting = 0;
      await waitUntil('two sessions waiting on the lock', async () => (waiting = (await other.query("select count(*)::int as n from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'", [name])).rows[0].n) === 2, { seen: () => waiting });
      // Both pooled connections are taken: a query on the pool would wait for the lock too.
      expect(await runCheck(check, 1_000, 1_000)).toMatchObject({ status: 'pass', output: undefined });
    } finally {
      await locker.query('commit');
      await locker.end();
      await Promise.all(blocked);
    }
    await db.destroy();
    let left = 0;
    await waitUntil('every session of the health check gone', async () => (left = (await other.query('select count(*)::int as n from pg_stat_activity where application_name = $1', [name])).rows[0].n) === 0, { seen: () => left });
  });
});
