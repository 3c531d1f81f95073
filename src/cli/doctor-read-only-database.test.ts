/**
 * `doctor --connect` on a PostgreSQL that takes no writes: sessions started read-only
 * (`default_transaction_read_only`, here through the URL's `options`) — a hot standby is the same
 * check (test/postgres/doctor-standby.test.ts). Before, the check passed ("answers; schema up to
 * date") while readiness failed and every sign-in, refresh and logout answered 503.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../ops/config.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { describeDatabaseUrl } from '../sql/url.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../sql/test-postgres.js';
import { runServiceChecks } from './doctor-services.js';

const pgState = await postgresAvailability();
if (pgState.state === 'skip') warnSkipped('doctor --connect on a read-only PostgreSQL', pgState.reason);

const database = async (url: string) => (await runServiceChecks(loadConfig({ DATABASE_URL: url }), { timeoutMs: 3_000 }))[1];

describe.skipIf(pgState.state === 'skip')('doctor --connect on a read-only PostgreSQL', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  beforeAll(async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    schema = await createTestSchema('doctor_read_only');
    const db = createDatabase(schema.url);
    try {
      await migrateToLatest(db);
    } finally {
      await db.destroy();
    }
  });
  afterAll(() => schema?.drop());

  it('fails a database whose sessions start read-only, naming the cause and the fix', async () => {
    const url = new URL(schema.url);
    url.searchParams.set('options', `${url.searchParams.get('options') ?? ''} -c default_transaction_read_only=on`);
    const result = await database(url.toString());
    expect(result).toMatchObject({
      ok: false,
      problems: [
        `DATABASE_URL: ${describeDatabaseUrl(url.toString())} is read-only (default_transaction_read_only): sign-in, refresh and logout would answer 503; point DATABASE_URL at the primary (after a failover: the promoted server)`,
      ],
    });
  });

  it('passes the same database when it takes writes', async () => {
    expect(await database(schema.url)).toMatchObject({ ok: true, problems: [], summary: expect.stringMatching(/ answers; schema up to date$/) });
  });
});
