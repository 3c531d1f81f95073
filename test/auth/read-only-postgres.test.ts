/**
 * The auth routes and readiness on a read-only PostgreSQL (a hot standby after a failover, or
 * `default_transaction_read_only`): here a database of the test's own, set read-only under the running
 * app. Before, every write (register, login, refresh, logout) answered 500 INTERNAL_ERROR (SQLSTATE
 * 25006) and /health/ready stayed 200 on `select 1`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/sql/database.js';
import { migrateToLatest } from '../../src/sql/migrate.js';
import { postgresAvailability, warnSkipped } from '../../src/sql/test-postgres.js';
import { ownDatabase } from '../helpers/postgres-database.js';
import { authApp, type AuthApp, type Session } from './harness.js';

const pgState = await postgresAvailability();
if (pgState.state === 'skip') warnSkipped('auth routes on a read-only PostgreSQL', pgState.reason);

const HEALTH_TOKEN = 'healthtoken-0123456789abcdef';

describe.skipIf(pgState.state === 'skip')('auth routes on a read-only PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof ownDatabase>>;
  let t: AuthApp;
  let session: Session;
  beforeAll(async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    database = await ownDatabase('auth_readonly');
    t = await authApp(
      {
        name: 'postgres',
        async open() {
          const db = createDatabase(database.url);
          await migrateToLatest(db);
          return { db, drop: () => database.drop() };
        },
      },
      { env: { HEALTH_TOKEN } },
    );
    expect((await t.register('ada@example.com')).statusCode).toBe(201);
    session = await t.login('ada@example.com');
    await database.setReadOnly(true);
  });
  afterAll(() => t?.close());

  const ready = () => t.app.inject({ method: 'GET', url: '/health/ready', headers: { authorization: `Bearer ${HEALTH_TOKEN}` } });

  it('every write answers 503 SERVICE_UNAVAILABLE, and readiness fails naming the cause', async () => {
    const answers = [
      await t.register('bob@example.com'),
      await t.post('/login', { email: 'ada@example.com', password: 'correct horse battery staple' }),
      await t.refresh(session.refresh),
      await t.post('/logout', undefined, { authorization: `Bearer ${session.access}`, cookie: `refresh_token=${session.refresh}` }),
    ];
    expect(answers.map((a) => [a.statusCode, a.json().code])).toEqual(Array(4).fill([503, 'SERVICE_UNAVAILABLE']));
    // Reads still work.
    expect((await t.me(session.access)).statusCode).toBe(200);
    const health = await ready();
    expect(health.statusCode).toBe(503);
    expect(health.json().checks['sql:responsiveness'][0]).toMatchObject({ status: 'fail', output: expect.stringMatching(/^PostgreSQL is read-only/) });
  });

  it('once it takes writes again, the same pool serves them and readiness passes', async () => {
    await database.setReadOnly(false);
    expect((await t.refresh(session.refresh)).statusCode).toBe(200);
    expect((await ready()).statusCode).toBe(200);
  });
});
