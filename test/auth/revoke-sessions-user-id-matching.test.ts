/**
 * `livecomponents revoke-sessions --user-id ID` ends exactly the sessions of that id (review R4):
 * a browser sign-in of it (`<id>/<sign-in id>`) and a session naming the id alone (an app's own
 * `switchUser`), also in capitals (an app's own user store may keep its UUIDs so: the run found
 * nothing and said the sessions were gone); never a session whose user merely begins with
 * `<id>/` (an app's own id of someone else), nor a sign-in whose sign-in id is the id, nor one
 * naming the id inside another. Its dry run counts what the run ends. On the embedded SQLite file,
 * and on PostgreSQL with Redis under a key prefix.
 */
import { sql, type Kysely } from 'kysely';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuthRepository } from '../../src/auth/repository.js';
import { hashToken } from '../../src/auth/tokens.js';
import { createDatabase, migrateToLatest, type DatabaseSchema } from '../../src/sql/index.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../../src/sql/test-postgres.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { REDIS_AVAILABLE, useRedisServer } from '../redis/server.js';
import { presentKeys as present, runRevokeSessions, sessionWithState as sessionOf } from '../scale/revoke-sessions.js';
import { useSqliteAuthDatabase } from './harness.js';

const HOUR = 3_600_000;
const pg = await postgresAvailability();

async function exactlyTheId(db: Kysely<DatabaseSchema>, store: Store, env: Record<string, string>): Promise<void> {
  const repo = createAuthRepository(db);
  const ada = await repo.insertUser({ email: 'ada@example.com', passwordHash: 'hash', name: null }, Date.now());
  if (ada === 'taken') throw new Error('taken');
  const web = await repo.createWebSession(ada.id, hashToken('web-ada'), Date.now(), Date.now() + HOUR, 'hash');
  const adas = [
    ...(await sessionOf(store, `${ada.id}/${web}`)),
    // An app's own sign-in whose user store keeps UUIDs in capitals: the same id.
    ...(await sessionOf(store, ada.id.toUpperCase())),
  ];
  const others = [
    // An app's own id of someone else that begins with Ada's id and a slash: no sign-in of hers.
    ...(await sessionOf(store, `${ada.id}/admin`)),
    ...(await sessionOf(store, `${ada.id}/${web}/x`)),
    // Another user's browser sign-in whose sign-in id is Ada's id.
    ...(await sessionOf(store, `${randomUUID()}/${ada.id}`)),
    ...(await sessionOf(store, `x${ada.id}`)),
  ];
  await sql`delete from users where id = ${ada.id}`.execute(db);

  const expected = { 'sessions signed in': 2, 'sessions anonymous': 0, 'component states': 2, 'csrf nonces': 0 };
  const dry = await runRevokeSessions({ userId: ada.id, dryRun: true }, { env });
  expect([dry.code, dry.err]).toEqual([0, []]);
  expect(dry.counts).toMatchObject(expected);
  const run = await runRevokeSessions({ userId: ada.id }, { env });
  expect([run.code, run.err]).toEqual([0, []]);
  expect(run.counts).toMatchObject(expected);
  expect(run.out).not.toContain(`revoke-sessions: nothing of user ${ada.id} was found: its sessions are gone already, or the id is mistyped`);
  expect(await present(store, adas)).toEqual([]);
  expect(await present(store, others)).toEqual(others);
}

describe('revoke-sessions --user-id ends exactly the sessions of the id, on the embedded SQLite file', () => {
  const { db, url } = useSqliteAuthDatabase('revoke-user-id-matching');
  it('a sign-in of it and the id alone in any case; not <id>/other, not a sign-in id equal to it', async () => {
    const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
    try {
      await exactlyTheId(db, store, { DATABASE_URL: url });
    } finally {
      await store.close();
    }
  });
});

if (pg.state === 'skip') warnSkipped('revoke-sessions --user-id matching on PostgreSQL + Redis', pg.reason);
describe.skipIf(pg.state === 'skip' || !REDIS_AVAILABLE)('revoke-sessions --user-id ends exactly the sessions of the id, on PostgreSQL with Redis', () => {
  const redis = useRedisServer();
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const drop of drops) await drop();
  });
  it('a sign-in of it and the id alone in any case; not <id>/other, not a sign-in id equal to it (under REDIS_KEY_PREFIX)', { timeout: 60_000 }, async () => {
    if (pg.state === 'fail') throw new Error(pg.reason);
    const schema = await createTestSchema('revoke_matching');
    drops.push(schema.drop);
    const db = createDatabase(schema.url);
    try {
      await migrateToLatest(db);
      const keyPrefix = 'matching:';
      await exactlyTheId(db, redis.open({ keyPrefix }), { DATABASE_URL: schema.url, REDIS_URL: redis.urlOf(), REDIS_KEY_PREFIX: keyPrefix });
    } finally {
      await db.destroy();
    }
  });
});
