/**
 * What the `move-data` scale suites share: whether PostgreSQL and Redis are here (each suite skips
 * with a loud line when not, and fails under CI), the command run as the CLI runs it, and per suite a
 * folder, a Redis, fresh PostgreSQL schemas and migrated SQLite files (empty, or an app's: a user and
 * a live session), dropped and removed after it.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect } from 'vitest';
import { createAuthRepository } from '../../src/auth/repository.js';
import { main } from '../../src/cli/index.js';
import { migrateCommand } from '../../src/cli/migrate.js';
import { createDatabase } from '../../src/sql/database.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../../src/sql/test-postgres.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { REDIS_AVAILABLE, startRedis, type RedisServer } from '../redis/server.js';

export const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$ZmFrZWhhc2hmYWtlaGFzaGZha2VoYXNoZmFrZWhhc2g';
/** The session an app file holds. */
export const SESSION_KEY = 'lc:{s:abc}:session';

/**
 * Whether the suite `name` must be skipped: PostgreSQL or Redis missing (said loudly); under CI a
 * missing one fails the suite instead.
 */
export async function skipWithoutServices(name: string): Promise<boolean> {
  const availability = await postgresAvailability();
  if (availability.state === 'fail') throw new Error(availability.reason);
  if (availability.state === 'skip') warnSkipped(`${name} (PostgreSQL + Redis)`, availability.reason);
  if (!REDIS_AVAILABLE) {
    if (process.env.CI) throw new Error(`redis-server is not installed: the ${name} tests need it`);
    warnSkipped(`${name} (PostgreSQL + Redis)`, 'redis-server is not installed');
  }
  return availability.state !== 'up' || !REDIS_AVAILABLE;
}

export interface MoveRun {
  code: number;
  out: string[];
  err: string[];
}

/** `livecomponents move-data ARGS` with an empty environment, as the CLI runs it. */
export async function move(...args: string[]): Promise<MoveRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['move-data', ...args], { env: {}, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** The rows of `lc_moved` in `file`, by part. */
export function marksOf(file: string): { part: string; target: string; moved_at: string }[] {
  const native = new BetterSqlite3(file, { readonly: true });
  try {
    return native.prepare('SELECT part, target, moved_at FROM lc_moved ORDER BY part').all() as { part: string; target: string; moved_at: string }[];
  } finally {
    native.close();
  }
}

export interface MoveFixture {
  /** The suite's folder. */
  readonly dir: string;
  readonly redis: RedisServer;
  /** `redis`'s URL, with its password when it has one. */
  readonly redisUrl: string;
  /** A client of `redis`. */
  readonly client: Redis;
  /** A fresh schema's URL (dropped after the suite), rewritten by the `schemaUrl` option when given. */
  schema(label: string): Promise<string>;
  /** A migrated, empty SQLite file `dir/NAME`: its `sqlite:` URL. */
  migratedFile(name: string): Promise<string>;
  /** An app folder whose embedded file (data/livecomponents.db) holds the user NAME@example.com and a live session. */
  appFolder(name: string): Promise<{ cwd: string; file: string; from: string }>;
}

/**
 * Registers the suite's set-up and clean-up (call it inside `describe`) and returns the fixture,
 * whose fields are there from `beforeAll` on. `redisPassword`: Redis requires it; `schemaUrl`
 * rewrites each schema's URL (a password put in).
 */
export function moveFixture(prefix: string, options: { redisPassword?: string; schemaUrl?: (url: string) => string } = {}): MoveFixture {
  const drops: (() => Promise<void>)[] = [];
  const state: { dir?: string; redis?: RedisServer; client?: Redis } = {};
  const fixture: MoveFixture = {
    get dir() {
      return state.dir as string;
    },
    get redis() {
      return state.redis as RedisServer;
    },
    get redisUrl() {
      const { redis } = state as { redis: RedisServer };
      return options.redisPassword === undefined ? redis.url : `redis://:${options.redisPassword}@127.0.0.1:${redis.port}`;
    },
    get client() {
      return state.client as Redis;
    },
    async schema(label) {
      const s = await createTestSchema(label);
      drops.push(s.drop);
      return options.schemaUrl ? options.schemaUrl(s.url) : s.url;
    },
    async migratedFile(name) {
      const url = `sqlite:${join(fixture.dir, name)}`;
      expect(await migrateCommand({ DATABASE_URL: url }, { out: () => undefined })).toBe(0);
      return url;
    },
    async appFolder(name) {
      const cwd = join(fixture.dir, name);
      mkdirSync(join(cwd, 'data'), { recursive: true });
      const file = join(cwd, 'data', 'livecomponents.db');
      const from = await fixture.migratedFile(join(name, 'data', 'livecomponents.db'));
      const db = createDatabase(from);
      await createAuthRepository(db).insertUser({ email: `${name}@example.com`, passwordHash: HASH, name: null }, Date.now());
      await db.destroy();
      const store = await createSqliteStore({ url: from, sweepIntervalMs: 0 });
      await store.set(SESSION_KEY, '{"v":1}', 3_600_000);
      await store.close();
      return { cwd, file, from };
    },
  };
  beforeAll(async () => {
    state.dir = mkdtempSync(join(tmpdir(), prefix));
    state.redis = await startRedis(undefined, options.redisPassword === undefined ? [] : ['--requirepass', options.redisPassword]);
    state.client = new Redis(fixture.redisUrl);
  });
  afterAll(async () => {
    state.client?.disconnect();
    await state.redis?.stop();
    for (const drop of drops) await drop().catch(() => undefined);
    if (state.dir !== undefined) rmSync(state.dir, { recursive: true, force: true });
  });
  return fixture;
}
