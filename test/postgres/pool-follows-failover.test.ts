/**
 * A failover that moves the address (DNS, a virtual IP) while the old primary is left up and
 * writable (not fenced): new connections reach the promoted standby, the open ones stay where they
 * were. Before `connectionLifetimeMs`, a pool kept in use never replaced a connection, so the app
 * went on writing to the old primary for as long as traffic lasted (probe P6: 6,001 refresh-token
 * rotations in 30 s, none on the new primary; /health/ready stayed 200), all of it lost once that
 * server is shut down. Needs the PostgreSQL server binaries (see replication-pair.ts).
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/sql/database.js';
import { warnSkipped } from '../../src/sql/test-postgres.js';
import { freePort } from '../helpers/ports.js';
import { waitUntil } from '../helpers/wait-until.js';
import { replicationAvailability, replicationPair, switchableProxy, type ReplicationPair, type SwitchableProxy } from './replication-pair.js';

const availability = replicationAvailability();
if (availability.state === 'skip') warnSkipped('a pool after the address moves to a new primary', availability.reason);

describe.skipIf(availability.state === 'skip')('a pool after the address moves to a new primary', { timeout: 60_000 }, () => {
  let pair: ReplicationPair | undefined;
  let proxy: SwitchableProxy | undefined;
  beforeAll(async () => {
    if (availability.state !== 'up') throw new Error(availability.reason);
    pair = await replicationPair(availability.bin, await freePort(), await freePort());
    proxy = await switchableProxy(pair.primaryPort);
  }, 60_000);
  afterAll(async () => {
    await proxy?.close();
    pair?.destroy();
  });

  it('replaces its connections, so a busy pool reaches the promoted standby', async () => {
    const db = createDatabase(proxy!.url(), { poolMax: 2, connectionLifetimeMs: 1_000 });
    try {
      const port = async () => (await sql<{ port: number }>`select inet_server_port() as port`.execute(db)).rows[0]!.port;
      expect(await port()).toBe(pair!.primaryPort);
      await pair!.promote();
      proxy!.switchTo(pair!.standbyPort, 'keep');
      // Queries without a pause, as under traffic: no connection of the pool is ever idle.
      let last: number | undefined;
      await waitUntil('a query to reach the promoted standby', async () => (last = await port()) === pair!.standbyPort, { every: 1, seen: () => last });
      // Writes land there from now on.
      await sql`create table after_failover (id int)`.execute(db);
      expect(await port()).toBe(pair!.standbyPort);
    } finally {
      await db.destroy();
    }
  });

  it('refuses a lifetime that is not a whole number of ms within a timer\'s range', () => {
    // pg-pool sets a timer of the seconds' thousands: 2,147,483,001 ms would be 2,147,484 s, past a timer's 2^31 − 1 ms.
    for (const bad of [-1, 1.5, 2_147_483_001, Number.NaN]) {
      expect(() => createDatabase(proxy!.url(), { connectionLifetimeMs: bad }), String(bad)).toThrow(/^createDatabase: connectionLifetimeMs must be a non-negative integer, at most 2147483000$/);
    }
  });
});
