/**
 * `doctor --connect` against real services: a test-owned Redis (evicting or not, or gone), the
 * machine's PostgreSQL (a fresh schema), SQLite files, and a clock set wrong on purpose.
 */
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import { runServiceChecks } from '../../src/cli/doctor-services.js';
import { loadConfig } from '../../src/ops/config.js';
import { createDatabase } from '../../src/sql/database.js';
import { migrateToLatest } from '../../src/sql/migrate.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../../src/sql/test-postgres.js';
import { freePort } from '../helpers/ports.js';
import { REDIS_AVAILABLE, useRedisServer } from '../redis/server.js';

const pg = await postgresAvailability();
if (pg.state === 'skip') warnSkipped('doctor --connect on PostgreSQL', pg.reason);
if (pg.state === 'fail') throw new Error(pg.reason);

const EVICTION = (policy: string) =>
  `FAIL redis-server: Redis maxmemory-policy is ${policy} with maxmemory 67108864 bytes: when memory runs short Redis evicts keys, idempotency records and rate-limit counters included; set maxmemory-policy noeviction`;

describe.skipIf(!REDIS_AVAILABLE)('livecomponents doctor --connect', () => {
  const redis = useRedisServer();
  const sqlite = () => `sqlite:${join(mkdtempSync(join(tmpdir(), 'lc-doctor-')), 'app.db')}`;
  const services = (env: Record<string, string>, now?: () => number) => runServiceChecks(loadConfig(env), { now, timeoutMs: 2_000 });
  const run = async (env: Record<string, string>, ...args: string[]) => {
    const out: string[] = [];
    const code = await main(['doctor', '--connect', ...args], { env, out: (l) => out.push(l), err: (l) => out.push(l) });
    return { code, out };
  };

  it('passes a Redis that cannot evict, and fails one that can, naming the policy', async () => {
    const env = { REDIS_URL: redis.server.url, DATABASE_URL: sqlite() };
    const good = await run(env);
    expect(good.code).toBe(0);
    expect(good.out).toContain('ok  redis-server: Redis answers, never evicts our keys; AOF is off (a restart loses what was written since the last snapshot, or everything without RDB — idempotency records, sessions, rate-limit budgets: see docs/scaling.md)');
    expect(good.out.find((l) => l.startsWith('ok  clock: within 1000 ms of Redis '))).toBeDefined();
    await redis.admin.config('SET', 'maxmemory', '64mb');
    try {
      for (const policy of ['volatile-lru', 'allkeys-lfu']) {
        await redis.admin.config('SET', 'maxmemory-policy', policy);
        const bad = await run(env);
        expect(bad.code).toBe(1);
        expect(bad.out).toContain(EVICTION(policy));
      }
      await redis.admin.config('SET', 'appendonly', 'yes');
      await redis.admin.config('SET', 'maxmemory-policy', 'noeviction');
      expect((await run(env)).out).toContain('ok  redis-server: Redis answers, never evicts our keys; persists with AOF');
    } finally {
      await redis.admin.config('SET', 'maxmemory', '0');
      await redis.admin.config('SET', 'appendonly', 'no');
    }
  });

  // Not timed (shared, noisy machines): the same checks with a deadline far beyond the test's own
  // timeout still fail on the refused connection, so a check that waited for its deadline fails the test.
  it('fails a Redis that does not answer, on the refusal rather than at its deadline, with the cause', { timeout: 10_000 }, async () => {
    const env = { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, DATABASE_URL: sqlite() };
    const { code, out } = await run(env);
    expect(code).toBe(1);
    expect(out.find((l) => l.startsWith('FAIL redis-server: REDIS_URL: Redis did not answer ('))).toMatch(/ECONNREFUSED/);
    expect(out).toContain('ok  clock: no shared service answered to compare clocks with');
    const [redisCheck] = await runServiceChecks(loadConfig(env), { timeoutMs: 120_000 });
    expect(redisCheck?.ok).toBe(false);
    expect(redisCheck?.problems[0]).toMatch(/^REDIS_URL: Redis did not answer \(.*ECONNREFUSED/);
  });

  it('fails a clock more than a second off the services', async () => {
    const [, , clock] = await services({ REDIS_URL: redis.server.url, DATABASE_URL: sqlite() }, () => Date.now() + 5_000);
    expect(clock?.ok).toBe(false);
    // The report puts "FAIL clock: " before it: the problem has no "clock:" of its own.
    expect(clock?.problems[0]).toMatch(/^this machine's clock is (49|50)\d\d ms ahead of Redis \(over 1000 ms\): sync it with NTP/);
  });

  it('reads an SQLite file without writing it, and says what start-up will do with a missing one', async () => {
    const url = sqlite();
    const [, missing] = await services({ DATABASE_URL: url });
    expect(missing).toMatchObject({ ok: true, summary: `${url} does not exist yet; start-up creates and migrates it` });
    const db = createDatabase(url);
    await migrateToLatest(db);
    await db.destroy();
    const file = url.slice('sqlite:'.length);
    const before = { mtime: statSync(file).mtimeMs, size: statSync(file).size };
    const [, current] = await services({ DATABASE_URL: url });
    expect(current).toMatchObject({ ok: true, summary: `${url} opens; schema up to date` });
    // The database file is not written (SQLite may add its -wal/-shm companions, as for any reader).
    expect({ mtime: statSync(file).mtimeMs, size: statSync(file).size }).toEqual(before);
    expect(readdirSync(dirname(file)).filter((f) => !/^app\.db(-wal|-shm)?$/.test(f))).toEqual([]);
    // Under a file, where no folder can be made (a permission check would not hold for root).
    const [, impossible] = await services({ DATABASE_URL: 'sqlite:/etc/hostname/data/app.db' });
    expect(impossible).toMatchObject({ ok: false, problems: ['DATABASE_URL: sqlite:/etc/hostname/data/app.db does not exist and /etc/hostname is not a writable folder, so start-up cannot create it'] });
  });

  it.runIf(pg.state === 'up')('asks PostgreSQL: pending migrations, clock', async () => {
    const schema = await createTestSchema('doctor');
    try {
      const where = `postgres://127.0.0.1:5432/test`;
      const [, fresh, clock] = await services({ DATABASE_URL: schema.url });
      expect(fresh).toMatchObject({ ok: true, summary: `${where} answers; 4 migration(s) pending (001_lc_kv, 002_auth, 003_refresh_binding, 004_lc_moved), applied at start-up or by livecomponents migrate` });
      expect(clock?.summary).toMatch(/^within 1000 ms of PostgreSQL [+−]\d+ ms$/);
      const db = createDatabase(schema.url);
      await migrateToLatest(db);
      await db.destroy();
      const [, migrated] = await services({ DATABASE_URL: schema.url });
      expect(migrated).toMatchObject({ ok: true, summary: `${where} answers; schema up to date` });
      const [, down] = await services({ DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/test` });
      expect(down?.ok).toBe(false);
      expect(down?.problems[0]).toMatch(/^DATABASE_URL: postgres:\/\/127\.0\.0\.1:\d+\/test did not answer \(/);
    } finally {
      await schema.drop();
    }
  });
});
