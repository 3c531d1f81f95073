/**
 * PostgreSQL outages reach callers as `StoreUnavailableError` (503), through a TCP proxy in front of
 * the real server that the test freezes or closes; errors of the query itself stay as they are.
 * Before, the routes answered these with 500 INTERNAL_ERROR.
 */
import { sql } from 'kysely';
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

  it('a server that stops answering: the query times out as StoreUnavailableError', async () => {
    const p = await postgresProxy();
    const db = createDatabase(p.url(schema.url), { connectTimeoutMs: 500, queryTimeoutMs: 500 });
    try {
      expect((await select1(db)).rows).toEqual([{ one: 1 }]);
      p.freeze();
      const started = Date.now();
      const error = await select1(db).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).code).toBe('SERVICE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(5_000);
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
