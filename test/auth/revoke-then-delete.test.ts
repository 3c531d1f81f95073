/**
 * The erasure order that leaves nothing behind: `livecomponents revoke-sessions --user EMAIL`
 * first, then `DELETE FROM users WHERE email = …`. The command ends the user's tokens, browser
 * sign-ins, reset links, session records with their component states, and the email's trusted
 * devices; the DELETE then cascades to the (revoked) token rows, and the store holds nothing of the
 * person. Its security event names the user by id, never by email. The other order is cleaned by
 * `revoke-sessions --user-id ID --user EMAIL` (revoke-deleted-account.test.ts). On the embedded SQLite file, and on PostgreSQL with Redis (the shared-store shape).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthRepository } from '../../src/auth/repository.js';
import { authKeys } from '../../src/auth/keys.js';
import { hashToken } from '../../src/auth/tokens.js';
import { revokeSessions } from '../../src/cli/revoke-sessions.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createSessionManager } from '../../src/session/index.js';
import { createDatabase, migrateToLatest, type DatabaseSchema } from '../../src/sql/index.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../../src/sql/test-postgres.js';
import { storeKeys } from '../../src/store/keys.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { REDIS_AVAILABLE, startRedis, type RedisServer } from '../redis/server.js';

const EMAIL = 'ada@example.com';
const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'lc-p5-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pg = await postgresAvailability();

/** Ada signed in (an API family, a browser sign-in with its session and a component state, a trusted device, a reset link). */
async function adaSignedIn(db: Kysely<DatabaseSchema>, store: Store) {
  const repo = createAuthRepository(db);
  const now = Date.now();
  const row = await repo.insertUser({ email: EMAIL, passwordHash: 'hash', name: null }, now);
  if (row === 'taken') throw new Error('taken');
  const grant = { userId: row.id, familyId: 'family', accessHash: hashToken('access'), accessExpiresAt: now + HOUR, refreshHash: hashToken('refresh'), refreshExpiresAt: now + 24 * HOUR, familyExpiresAt: now + 48 * HOUR, parentId: null };
  expect(await repo.createGrant(grant, now, 'hash')).toBe(true);
  const web = await repo.createWebSession(row.id, hashToken('web'), now, now + HOUR, 'hash');
  await repo.insertPasswordReset(hashToken('reset'), row.id, now, now + HOUR);
  const session = await createSessionManager({ store }).regenerate(null, `${row.id}/${web}`);
  await store.set(storeKeys.componentState(session.key, 'profile:main'), 'sealed state naming Ada', HOUR);
  await store.set(authKeys.devices(EMAIL), 'digest-of-adas-browser', 90 * 24 * HOUR);
  return {
    id: row.id,
    left: async () => ({
      session: (await store.get(storeKeys.session(session.key))) !== null,
      state: (await store.get(storeKeys.componentState(session.key, 'profile:main'))) !== null,
      devices: (await store.get(authKeys.devices(EMAIL))) !== null,
    }),
  };
}

/** revoke-sessions --user, then the DELETE: every count 1, nothing left in the store, no token row left. */
async function revokeThenDelete(db: Kysely<DatabaseSchema>, store: Store, env: Record<string, string>): Promise<void> {
  const ada = await adaSignedIn(db, store);
  const events = memorySecurityEvents();
  const out: string[] = [];
  const err: string[] = [];
  const code = await revokeSessions({ user: EMAIL }, { env, cwd: dir, out: (l) => out.push(l), err: (l) => err.push(l), events });
  expect([code, err]).toEqual([0, []]);
  expect(out).toEqual(
    expect.arrayContaining([
      'revoke-sessions: access tokens: 1 revoked',
      'revoke-sessions: browser sign-ins: 1 revoked',
      'revoke-sessions: refresh tokens: 1 revoked',
      'revoke-sessions: sessions signed in: 1 ended',
      'revoke-sessions: component states: 1 deleted',
    ]),
  );
  expect(await ada.left()).toEqual({ session: false, state: false, devices: false });
  expect(events.events.map((e) => e.description)).toEqual([expect.stringContaining(`the sign-ins of user ${ada.id} `)]);
  expect(JSON.stringify(events.events)).not.toContain(EMAIL);

  const deleted = await sql`delete from users where email = ${EMAIL}`.execute(db);
  expect(Number(deleted.numAffectedRows)).toBe(1);
  for (const table of ['access_tokens', 'refresh_tokens', 'password_resets'] as const) {
    const row = await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    expect(Number(row.n), table).toBe(0);
  }
}

describe('erasing an account: revoke-sessions --user, then DELETE', () => {
  it('on the embedded SQLite file', async () => {
    const path = join(dir, 'app.db');
    const db = createDatabase(`sqlite:${path}`);
    await migrateToLatest(db);
    const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
    try {
      await revokeThenDelete(db, store, { DATABASE_URL: `sqlite:${path}` });
    } finally {
      await store.close();
      await db.destroy();
    }
  });

  if (pg.state === 'skip') warnSkipped('revoke-sessions then DELETE on PostgreSQL + Redis', pg.reason);
  describe.skipIf(pg.state === 'skip' || !REDIS_AVAILABLE)('on PostgreSQL with Redis', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => redis?.stop());

    it('likewise', async () => {
      if (pg.state === 'fail') throw new Error(pg.reason);
      const schema = await createTestSchema('p5_erase');
      const db = createDatabase(schema.url);
      const store = createRedisStore({ url: redis.url });
      try {
        await migrateToLatest(db);
        await revokeThenDelete(db, store, { DATABASE_URL: schema.url, REDIS_URL: redis.url });
      } finally {
        await store.close();
        await db.destroy();
        await schema.drop();
      }
    });
  });
});
