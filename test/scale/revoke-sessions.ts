/**
 * `livecomponents revoke-sessions` run in this process for the tests of test/scale: its exit code, the
 * lines it printed, its counts by kind and the security events it emitted; and the auth database of
 * users it runs on.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createAuthRepository, type AuthRepository } from '../../src/auth/repository.js';
import { revokeSessions, type RevokeSessionsArgs, type RevokeSessionsIo } from '../../src/cli/revoke-sessions.js';
import { memorySecurityEvents, type SecurityEvent } from '../../src/ops/security-events.js';
import { createSessionManager } from '../../src/session/index.js';
import { createDatabase } from '../../src/sql/database.js';
import type { DatabaseSchema } from '../../src/sql/index.js';
import { migrateToLatest } from '../../src/sql/migrate.js';
import { createTestSchema, type PostgresAvailability } from '../../src/sql/test-postgres.js';
import { storeKeys } from '../../src/store/keys.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { useSqliteAuthDatabase } from '../auth/harness.js';
import { REDIS_AVAILABLE, useRedisServer } from '../redis/server.js';

const HOUR = 3_600_000;

/**
 * The file's SQLite auth database (`useSqliteAuthDatabase(label)`: `url` its `DATABASE_URL`) holding
 * the users `emails`, inserted before the file's tests: `users` their ids by email from then on.
 */
export function useUsersDatabase(
  label: string,
  emails: readonly string[],
): { db: Kysely<DatabaseSchema>; url: string; repo: AuthRepository; users: Record<string, string> } {
  const { db, url } = useSqliteAuthDatabase(label);
  const repo = createAuthRepository(db);
  const users: Record<string, string> = {};
  beforeAll(async () => {
    for (const email of emails) {
      const row = await repo.insertUser({ email, passwordHash: 'hash', name: null }, Date.now());
      if (row === 'taken') throw new Error(`useUsersDatabase: ${email} taken`);
      users[email] = row.id;
    }
  });
  return { db, url, repo, users };
}

export interface RevokeRun {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
  /** The counts printed, by kind: `revoke-sessions: sessions signed in: 2 …` is `{ 'sessions signed in': 2 }`. */
  readonly counts: Record<string, number>;
  readonly events: SecurityEvent[];
}

/**
 * Runs `revoke-sessions` with `io` (`env`, `cwd`, `signals`…), what it prints and emits kept.
 * `started`: called once the run is under way, before it reads anything (a signal sent then comes
 * first).
 */
export async function runRevokeSessions(args: RevokeSessionsArgs, io: Omit<RevokeSessionsIo, 'out' | 'err' | 'events'>, started?: () => void): Promise<RevokeRun> {
  const out: string[] = [];
  const err: string[] = [];
  const events = memorySecurityEvents();
  const running = revokeSessions(args, { ...io, out: (l) => out.push(l), err: (l) => err.push(l), events });
  started?.();
  const code = await running;
  return { code, out, err, counts: printedCounts(out), events: events.events };
}

/** The counts `revoke-sessions` printed in `out`, by kind: `revoke-sessions: sessions signed in: 2 …` is `{ 'sessions signed in': 2 }`. */
export function printedCounts(out: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of out) {
    const match = /^revoke-sessions: ([a-z -]+): (\d+) /.exec(line);
    if (match !== null) counts[match[1] as string] = Number(match[2]);
  }
  return counts;
}

/**
 * A scene of `revoke-sessions` run on PostgreSQL the two ways an operator meets it: beside the embedded
 * store (`./data/livecomponents.db` of `cwd`, no `REDIS_URL`) and with Redis under `keyPrefix`
 * (database `redisDatabase`). `scene` gets the users database, the store, the run's environment, the
 * engine and, beside the embedded store, the working directory. Skipped with PostgreSQL (`pg`) down,
 * the second also without redis-server.
 */
export function describeOnPostgres(
  title: string,
  pg: PostgresAvailability,
  options: { dir: string; schema: string; keyPrefix: string; redisDatabase?: number },
  scene: (db: Kysely<DatabaseSchema>, store: Store, env: Record<string, string>, engine: 'postgres', cwd?: string) => Promise<void>,
): void {
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const drop of drops.splice(0)) await drop();
  });
  const migratedSchema = async (label: string) => {
    const schema = await createTestSchema(label);
    drops.push(schema.drop);
    const db = createDatabase(schema.url);
    await migrateToLatest(db);
    return { db, url: schema.url };
  };

  describe.skipIf(pg.state !== 'up')(`${title}, on PostgreSQL beside the embedded store`, () => {
    it('the same scene, the same counts', { timeout: 60_000 }, async () => {
      const { db, url } = await migratedSchema(`${options.schema}_embedded`);
      const cwd = join(options.dir, 'embedded');
      mkdirSync(join(cwd, 'data'), { recursive: true });
      const kv = createDatabase(`sqlite:${join(cwd, 'data', 'livecomponents.db')}`);
      try {
        await migrateToLatest(kv);
        const store = await createSqliteStore({ db: kv, sweepIntervalMs: 0 });
        try {
          await scene(db, store, { DATABASE_URL: url }, 'postgres', cwd);
        } finally {
          await store.close();
        }
      } finally {
        await kv.destroy();
        await db.destroy();
      }
    });
  });

  describe.skipIf(pg.state !== 'up' || !REDIS_AVAILABLE)(`${title}, on PostgreSQL with Redis`, () => {
    const redis = useRedisServer();
    it('the same scene under REDIS_KEY_PREFIX, the same counts', { timeout: 60_000 }, async () => {
      const { db, url } = await migratedSchema(`${options.schema}_redis`);
      const { keyPrefix, redisDatabase } = options;
      try {
        const env = { DATABASE_URL: url, REDIS_URL: redis.urlOf(redisDatabase), REDIS_KEY_PREFIX: keyPrefix };
        await scene(db, redis.open({ keyPrefix, database: redisDatabase }), env, 'postgres');
      } finally {
        await db.destroy();
      }
    });
  });
}

/**
 * A session naming `user` (null: anonymous) made as the app makes one, with a component state and
 * `nonces` CSRF nonces: its keys, the record first.
 */
export async function sessionWithState(store: Store, user: string | null, nonces = 0): Promise<string[]> {
  const session = await createSessionManager({ store }).regenerate(null, user);
  const keys = [storeKeys.session(session.key), storeKeys.componentState(session.key, 'profile:main')];
  await store.set(keys[1] as string, `sealed state of ${user ?? 'nobody'}`, HOUR);
  for (let i = 0; i < nonces; i++) {
    keys.push(storeKeys.csrfNonce(session.key, `n${i}`));
    await store.set(keys.at(-1) as string, '1', HOUR);
  }
  return keys;
}

/** Those of `keys` the store still holds, in their order. */
export async function presentKeys(store: Store, keys: readonly string[]): Promise<string[]> {
  const values = await Promise.all(keys.map((key) => store.get(key)));
  return keys.filter((_key, i) => values[i] !== null);
}
