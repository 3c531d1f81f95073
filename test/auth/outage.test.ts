/**
 * The auth routes when PostgreSQL fails (issue #4's faults): 503 SERVICE_UNAVAILABLE within the
 * database's timeouts, never 500 — through a proxy in front of the real server that the test freezes
 * (a hung server) and then closes (a dead one).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/sql/database.js';
import { migrateToLatest } from '../../src/sql/migrate.js';
import { createTestSchema, postgresAvailability, postgresProxy, warnSkipped } from '../../src/sql/test-postgres.js';
import { authApp, PASSWORD, type AuthApp, type Engine } from './harness.js';

const pgState = await postgresAvailability();
if (pgState.state === 'skip') warnSkipped('auth routes during a PostgreSQL outage', pgState.reason);

describe.skipIf(pgState.state === 'skip')('auth routes during a PostgreSQL outage', () => {
  let proxy: Awaited<ReturnType<typeof postgresProxy>>;
  let t: AuthApp;
  beforeAll(async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    proxy = await postgresProxy();
    const proxied: Engine = {
      name: 'postgres',
      async open() {
        const { url, drop } = await createTestSchema('auth_outage');
        const db = createDatabase(proxy.url(url), { connectTimeoutMs: 500, queryTimeoutMs: 500 });
        await migrateToLatest(db);
        return { db, drop };
      },
    };
    t = await authApp(proxied);
    await t.register('ada@example.com');
  });
  afterAll(async () => {
    await proxy?.close();
    await t?.close().catch(() => undefined);
  });

  const login = () => t.post('/login', { email: 'ada@example.com', password: PASSWORD });

  it('answers 503 SERVICE_UNAVAILABLE while the database hangs, and when it is gone', async () => {
    expect((await login()).statusCode).toBe(200);
    proxy.freeze();
    const hung = await login();
    expect([hung.statusCode, hung.json().code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
    await proxy.close();
    const gone = await login();
    expect([gone.statusCode, gone.json().code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
  });
});
