import type { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createDatabase } from '../../sql/database.js';
import { createTestSchema, postgresAvailability } from '../../sql/test-postgres.js';
import { databaseTimeOf, describeSkew, measureSkew, redisTime } from './read.js';

/** A local clock that gives each value in turn. */
function ticks(...values: number[]): () => number {
  return () => {
    const next = values.shift();
    if (next === undefined) throw new Error('read the local clock more often than expected');
    return next;
  };
}

describe('measureSkew', () => {
  it("is this machine's clock at the middle of the round trip minus the service's, in ms", async () => {
    // Sent at 1000, answered at 1040: the service read 1500 at about 1020, so this machine is 480 ms behind.
    expect(await measureSkew(async () => 1_500, ticks(1_000, 1_040))).toBe(-480);
    expect(await measureSkew(async () => 1_700_000_000_000, ticks(1_700_086_400_000, 1_700_086_400_010))).toBe(86_400_005);
  });

  it('refuses a reading that is no number (a service that answered something else)', async () => {
    await expect(measureSkew(async () => Number.NaN, ticks(0, 1))).rejects.toThrow("the service's clock read as NaN");
  });
});

describe('redisTime', () => {
  it('reads TIME (seconds, microseconds) as ms, keeping the fraction', async () => {
    const redis = { isCluster: false, time: async () => ['1700000000', '250125'] } as unknown as Redis;
    expect(await redisTime(redis)()).toBe(1_700_000_000_250.125);
  });

  it("on a Redis Cluster reads the first master's, and says when none is known yet", async () => {
    const master = { time: async () => [1_700_000_001, 5_000] };
    const cluster = { isCluster: true, nodes: (role: string) => (role === 'master' ? [master] : []) } as unknown as Cluster;
    expect(await redisTime(cluster)()).toBe(1_700_000_001_005);
    const empty = { isCluster: true, nodes: () => [] } as unknown as Cluster;
    await expect(redisTime(empty)()).rejects.toThrow('no Redis Cluster master is known yet');
  });
});

describe('describeSkew', () => {
  it('says which way and how far, in ms or whole seconds', () => {
    expect(describeSkew({ service: 'redis', skewMs: 1_234.4 })).toBe("this machine's clock is 1234 ms ahead of Redis");
    expect(describeSkew({ service: 'postgresql', skewMs: -86_400_600 }, 's')).toBe("this machine's clock is 86401 s behind PostgreSQL");
  });
});

const pg = await postgresAvailability();

describe('databaseTimeOf', () => {
  it('is none on SQLite: the file is on this machine', async () => {
    const db = createDatabase('sqlite::memory:');
    expect(databaseTimeOf(db)).toBeUndefined();
    await db.destroy();
  });

  it.skipIf(pg.state !== 'up')("reads PostgreSQL's clock_timestamp() (this host's server: within 1 s of ours)", async () => {
    const { url, drop } = await createTestSchema('clock_skew');
    const db = createDatabase(url);
    try {
      const read = databaseTimeOf(db);
      expect(read).toBeDefined();
      expect(Math.abs(await measureSkew(read!, Date.now))).toBeLessThan(1_000);
      // A clock a day ahead reads a day ahead.
      expect((await measureSkew(read!, () => Date.now() + 86_400_000)) / 1000).toBeCloseTo(86_400, 0);
    } finally {
      await db.destroy();
      await drop();
    }
  });
});
