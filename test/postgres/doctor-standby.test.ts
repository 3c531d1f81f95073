/**
 * `doctor --connect` pointed at a real streaming-replication hot standby (probe P6): before, it said
 * `ok database: postgres://127.0.0.1:<port>/test answers; schema up to date` while readiness failed
 * (`a standby in recovery`) and every sign-in, refresh and logout answered 503. The primary passes.
 *
 * Needs the PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup): under CI the suite fails
 * without them, elsewhere it is skipped loudly (replication-pair.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runServiceChecks } from '../../src/cli/doctor-services.js';
import { loadConfig } from '../../src/ops/config.js';
import { createDatabase } from '../../src/sql/database.js';
import { migrateToLatest } from '../../src/sql/migrate.js';
import { describeDatabaseUrl } from '../../src/sql/url.js';
import { warnSkipped } from '../../src/sql/test-postgres.js';
import { freePort } from '../helpers/ports.js';
import { replicationAvailability, replicationPair, type ReplicationPair } from './replication-pair.js';

const availability = replicationAvailability();
if (availability.state === 'skip') warnSkipped('doctor --connect on a PostgreSQL standby', availability.reason);

const database = async (url: string) => (await runServiceChecks(loadConfig({ DATABASE_URL: url }), { timeoutMs: 3_000 }))[1];

describe.skipIf(availability.state === 'skip')('doctor --connect on a PostgreSQL standby', { timeout: 60_000 }, () => {
  let pair: ReplicationPair | undefined;
  beforeAll(async () => {
    if (availability.state !== 'up') throw new Error(availability.reason);
    pair = await replicationPair(availability.bin, await freePort(), await freePort());
    const db = createDatabase(pair.url(pair.primaryPort));
    try {
      await migrateToLatest(db);
    } finally {
      await db.destroy();
    }
    // The standby's schema up to date too: the read-only problem is then the only one.
    await pair.caughtUp();
  }, 60_000);
  afterAll(() => pair?.destroy());

  it('fails the standby in recovery, naming it and the fix; passes the primary', async () => {
    const standby = pair!.url(pair!.standbyPort);
    expect(await database(standby)).toMatchObject({
      ok: false,
      problems: [
        `DATABASE_URL: ${describeDatabaseUrl(standby)} is read-only (a standby in recovery): sign-in, refresh and logout would answer 503; point DATABASE_URL at the primary (after a failover: the promoted server)`,
      ],
    });
    expect(await database(pair!.url(pair!.primaryPort))).toMatchObject({ ok: true, summary: expect.stringMatching(/ answers; schema up to date$/) });
  });
});
