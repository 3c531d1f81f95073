/**
 * The target a `move-data` mark records is compared on a re-run: two PostgreSQL schemas of one
 * database (selected by `search_path` in the URL's `options`, as docs/config.md allows) are two
 * targets. Recorded as host and database only, a run into another schema took the relational part as
 * "moved there already", skipped it, moved the key-value part and said done: the app pointed at that
 * schema would start with no users. And the single-file case after a key-value-only move: the file
 * still serves the relational part beside Redis, and is refused without it.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthRepository } from '../../src/auth/repository.js';
import { main } from '../../src/cli/index.js';
import { migrateCommand } from '../../src/cli/migrate.js';
import { openBackends } from '../../src/runtime/backends.js';
import { createDatabase } from '../../src/sql/database.js';
import { MovedFileError } from '../../src/sql/moved-mark.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../../src/sql/test-postgres.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { REDIS_AVAILABLE, startRedis, type RedisServer } from '../redis/server.js';

const availability = await postgresAvailability();
if (availability.state === 'fail') throw new Error(availability.reason);
if (availability.state === 'skip') warnSkipped('move-data mark targets (PostgreSQL + Redis)', availability.reason);
if (!REDIS_AVAILABLE) {
  if (process.env.CI) throw new Error('redis-server is not installed: the move-data mark target tests need it');
  warnSkipped('move-data mark targets (PostgreSQL + Redis)', 'redis-server is not installed');
}
const skip = availability.state !== 'up' || !REDIS_AVAILABLE;

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$ZmFrZWhhc2hmYWtlaGFzaGZha2VoYXNoZmFrZWhhc2g';
const SESSION_KEY = 'lc:{s:abc}:session';

async function move(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['move-data', ...args], { env: {}, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe.skipIf(skip)('move-data mark targets', { timeout: 120_000 }, () => {
  const drops: (() => Promise<void>)[] = [];
  let dir: string;
  let redis: RedisServer;
  let client: Redis;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lc-move-mark-target-'));
    redis = await startRedis();
    client = new Redis(redis.url);
  });

  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
    for (const drop of drops) await drop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  async function schema(label: string): Promise<string> {
    const s = await createTestSchema(label);
    drops.push(s.drop);
    return s.url;
  }

  async function appFile(name: string): Promise<{ file: string; from: string }> {
    mkdirSync(join(dir, name), { recursive: true });
    const file = join(dir, name, 'livecomponents.db');
    const from = `sqlite:${file}`;
    expect(await migrateCommand({ DATABASE_URL: from }, { out: () => undefined })).toBe(0);
    const db = createDatabase(from);
    await createAuthRepository(db).insertUser({ email: `${name}@example.com`, passwordHash: HASH, name: null }, Date.now());
    await db.destroy();
    const store = await createSqliteStore({ url: from, sweepIntervalMs: 0 });
    await store.set(SESSION_KEY, '{"v":1}', 3_600_000);
    await store.close();
    return { file, from };
  }

  function parts(file: string): string[] {
    const native = new BetterSqlite3(file, { readonly: true });
    try {
      return (native.prepare('SELECT part FROM lc_moved ORDER BY part').all() as { part: string }[]).map((r) => r.part);
    } finally {
      native.close();
    }
  }

  it('a re-run into another schema of the same database is refused, not skipped as moved there', async () => {
    const { file, from } = await appFile('schema');
    await client.flushall();
    const first = await schema('mark_target_a');
    const second = await schema('mark_target_b');
    expect((await move('--from', from, '--to-database', first)).code).toBe(0);
    const other = await move('--from', from, '--to-database', second, '--to-redis', redis.url);
    expect(other.code).toBe(1);
    expect(other.err[0]).toContain('the file is stale since');
    // Nothing written: Redis empty, the second schema without users, the file's marks as they were.
    expect(await client.dbsize()).toBe(0);
    expect(parts(file)).toEqual(['relational']);
    // The same schema again finishes the move (the part moved there is skipped).
    const same = await move('--from', from, '--to-database', first, '--to-redis', redis.url);
    expect([same.code, same.err]).toEqual([0, []]);
    expect(same.out.some((line) => line.includes('the relational part was moved to') && line.includes('not copied again'))).toBe(true);
    expect(parts(file)).toEqual(['key-value', 'relational']);
  });

  it('one file, its key-value part moved: it serves the relational part beside Redis, and is refused without Redis', async () => {
    const { from } = await appFile('single');
    await client.flushall();
    expect((await move('--from', from, '--to-redis', redis.url)).code).toBe(0);
    const backends = await openBackends({ databaseUrl: from, redisUrl: redis.url, sweepIntervalMs: 0, onSchemaWarning: () => undefined });
    try {
      expect(await createAuthRepository(backends.db).userByEmail('single@example.com')).toMatchObject({ email: 'single@example.com' });
      expect(await backends.store.get(SESSION_KEY)).toBe('{"v":1}');
    } finally {
      await backends.close();
    }
    const refused = await openBackends({ databaseUrl: from, sweepIntervalMs: 0, onSchemaWarning: () => undefined }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MovedFileError);
    expect((refused as MovedFileError).marks.map((m) => m.part)).toEqual(['key-value']);
  });
});
