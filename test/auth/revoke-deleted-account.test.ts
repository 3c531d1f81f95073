/**
 * Erasing an account in the order an operator will use: `DELETE FROM users` first (the foreign keys
 * cascade the tokens), then `livecomponents revoke-sessions`. The sessions in the key-value store
 * still name the deleted id, with their component states; the email's trusted devices are kept by
 * the email. `--user EMAIL` cannot find them (no account: refused, nothing changed, the message says
 * what to run); `--user-id ID` ends the deleted user's sessions and nobody else's (another signed-in
 * user's and an anonymous one stay), with `--user EMAIL` beside it forgets that email's trusted
 * devices too. Its dry run counts the same; an id nothing names runs and says so. On the embedded
 * SQLite file, and on PostgreSQL with Redis under a key prefix (the shared-store shape).
 */
import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuthRepository } from '../../src/auth/repository.js';
import { authKeys } from '../../src/auth/keys.js';
import { hashToken } from '../../src/auth/tokens.js';
import { createSessionManager } from '../../src/session/index.js';
import { createDatabase, migrateToLatest, type DatabaseSchema } from '../../src/sql/index.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../../src/sql/test-postgres.js';
import { storeKeys } from '../../src/store/keys.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { REDIS_AVAILABLE, useRedisServer } from '../redis/server.js';
import { runRevokeSessions } from '../scale/revoke-sessions.js';
import { useSqliteAuthDatabase } from './harness.js';

const HOUR = 3_600_000;
const pg = await postgresAvailability();

/** A user signed in: an API family, a browser sign-in and its session (a component state, a CSRF nonce), a trusted device, a reset link. */
async function signedIn(db: Kysely<DatabaseSchema>, store: Store, email: string) {
  const repo = createAuthRepository(db);
  const now = Date.now();
  const row = await repo.insertUser({ email, passwordHash: 'hash', name: null }, now);
  if (row === 'taken') throw new Error('taken');
  const grant = { userId: row.id, familyId: `family-${email}`, accessHash: hashToken(`access-${email}`), accessExpiresAt: now + HOUR, refreshHash: hashToken(`refresh-${email}`), refreshExpiresAt: now + 24 * HOUR, familyExpiresAt: now + 48 * HOUR, parentId: null };
  expect(await repo.createGrant(grant, now, 'hash')).toBe(true);
  const web = await repo.createWebSession(row.id, hashToken(`web-${email}`), now, now + HOUR, 'hash');
  await repo.insertPasswordReset(hashToken(`reset-${email}`), row.id, now, now + HOUR);
  const session = await createSessionManager({ store }).regenerate(null, `${row.id}/${web}`);
  const keys = [storeKeys.session(session.key), storeKeys.componentState(session.key, 'profile:main'), storeKeys.csrfNonce(session.key, 'n1')];
  await store.set(keys[1] as string, `sealed state naming ${email}`, HOUR);
  await store.set(keys[2] as string, '1', HOUR);
  await store.set(authKeys.devices(email), 'digest-of-a-browser', 90 * 24 * HOUR);
  return { id: row.id, email, keys, devices: authKeys.devices(email) };
}

/** Which of `keys` are still in `store`. */
async function present(store: Store, keys: readonly string[]): Promise<string[]> {
  const values = await Promise.all(keys.map((key) => store.get(key)));
  return keys.filter((_key, i) => values[i] !== null);
}

const zeroTokens = { 'access tokens': 0, 'browser sign-ins': 0, 'refresh tokens': 0, 'password reset tokens': 0 };

/**
 * Ada (two sessions: a browser sign-in's and one naming her id alone, as an app's own sign-in does)
 * and Bob signed in, an anonymous session beside them; Ada's row deleted; then the command, each way.
 */
async function deleteThenRevoke(db: Kysely<DatabaseSchema>, store: Store, env: Record<string, string>): Promise<void> {
  const ada = await signedIn(db, store, 'ada@example.com');
  const bob = await signedIn(db, store, 'bob@example.com');
  const sessions = createSessionManager({ store });
  const plain = await sessions.regenerate(null, ada.id);
  await store.set(storeKeys.componentState(plain.key, 'cart:main'), 'sealed', HOUR);
  const adaKeys = [...ada.keys, storeKeys.session(plain.key), storeKeys.componentState(plain.key, 'cart:main')];
  const anonymous = await sessions.create();
  await store.set(storeKeys.componentState(anonymous.key, 'counter:main'), 'sealed', HOUR);
  const others = [...bob.keys, bob.devices, storeKeys.session(anonymous.key), storeKeys.componentState(anonymous.key, 'counter:main')];

  const deleted = await sql`delete from users where id = ${ada.id}`.execute(db);
  expect(Number(deleted.numAffectedRows)).toBe(1);

  // The email leads nowhere now: refused, nothing changed, and told what to run.
  const byEmail = await runRevokeSessions({ user: ada.email }, { env });
  expect(byEmail.code).toBe(1);
  expect(byEmail.out).toEqual([]);
  expect(byEmail.err).toEqual([expect.stringContaining(`has no account with the email ada@example.com; nothing was changed. If that account was deleted, its sessions live on until they expire: run revoke-sessions --user-id ID --user ada@example.com`)]);
  expect(byEmail.events).toEqual([]);
  expect(await present(store, adaKeys)).toEqual(adaKeys);
  // The deleted id beside an email that has an account (another person's, or the email registered again): refused.
  const otherEmail = await runRevokeSessions({ userId: ada.id, user: bob.email }, { env });
  expect(otherEmail.code).toBe(1);
  expect(otherEmail.err).toEqual([expect.stringContaining(`: the email bob@example.com is the account of user ${bob.id}, and no account has the id ${ada.id}; nothing was changed`)]);
  expect(await present(store, [...adaKeys, ...others])).toEqual([...adaKeys, ...others]);

  const dry = await runRevokeSessions({ userId: ada.id, dryRun: true }, { env });
  expect([dry.code, dry.err]).toEqual([0, []]);
  expect(dry.out[0]).toMatch(new RegExp(`^revoke-sessions: dry run, nothing is changed: user ${ada.id}, which has no account \\(deleted, or never was\\): `));
  expect(dry.counts).toEqual({ ...zeroTokens, 'sessions signed in': 2, 'sessions anonymous': 0, 'component states': 2, 'csrf nonces': 1 });
  expect(dry.out).toContain(`revoke-sessions: trusted devices: not looked for: they are kept by email, and user ${ada.id} has no account to tell it (add --user EMAIL to forget that email's)`);
  expect(dry.events).toEqual([]);
  expect(await present(store, adaKeys)).toEqual(adaKeys);

  // Typed in capitals (as some tools print UUIDs): the same id.
  const run = await runRevokeSessions({ userId: ada.id.toUpperCase() }, { env });
  expect([run.code, run.err]).toEqual([0, []]);
  expect(run.counts).toEqual({ ...zeroTokens, 'sessions signed in': 2, 'sessions anonymous': 0, 'component states': 2, 'csrf nonces': 1 });
  expect(run.out.at(-1)).toBe('revoke-sessions: done');
  expect(await present(store, adaKeys)).toEqual([]);
  expect(await present(store, others)).toEqual(others);
  expect(await store.get(ada.devices)).not.toBeNull();
  expect(run.events.map((e) => e.description)).toEqual([expect.stringMatching(new RegExp(`^Operator revoked the sign-ins of user ${ada.id} \\(.*\\): .*, 2 sessions ended, 0 trusted devices forgotten$`))]);
  expect(JSON.stringify(run.events)).not.toContain('ada@example.com');

  // With the email beside the id: the trusted devices go too, and only hers.
  const devices = await runRevokeSessions({ userId: ada.id, user: ada.email }, { env });
  expect([devices.code, devices.err]).toEqual([0, []]);
  expect(devices.counts).toEqual({ ...zeroTokens, 'sessions signed in': 0, 'sessions anonymous': 0, 'component states': 0, 'csrf nonces': 0 });
  expect(devices.out).toContain('revoke-sessions: trusted devices of 1 account: 1 forgotten');
  expect(await store.get(ada.devices)).toBeNull();
  expect(await present(store, others)).toEqual(others);

  // What is left is exactly Bob's session and the anonymous one.
  const left = await runRevokeSessions({ all: true, dryRun: true }, { env });
  expect(left.counts).toMatchObject({ 'browser sign-ins': 1, 'sessions signed in': 1, 'sessions anonymous': 1, 'component states': 2, 'csrf nonces': 1 });

  // An id nothing names (never was, or gone already): zero counts, exit 0, and a line saying so.
  const never = await runRevokeSessions({ userId: '00000000-0000-4000-8000-000000000000' }, { env });
  expect([never.code, never.err]).toEqual([0, []]);
  expect(Object.values(never.counts)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  expect(never.out).toContain('revoke-sessions: nothing of user 00000000-0000-4000-8000-000000000000 was found: its sessions are gone already, or the id is mistyped');
  expect(await present(store, others)).toEqual(others);
}

/** Bob's id while his account exists: as `--user bob@example.com`, his devices by his own email; an email of another account beside it is refused. */
async function idOfLiveAccount(db: Kysely<DatabaseSchema>, store: Store, env: Record<string, string>): Promise<void> {
  const ada = await signedIn(db, store, 'ada@example.com');
  const bob = await signedIn(db, store, 'bob@example.com');

  const mixed = await runRevokeSessions({ userId: bob.id, user: ada.email }, { env });
  expect(mixed.code).toBe(1);
  expect(mixed.err).toEqual([expect.stringContaining(`: the email ada@example.com is the account of user ${ada.id}, and user ${bob.id} has another email; nothing was changed`)]);
  const unknownEmail = await runRevokeSessions({ userId: bob.id, user: 'nobody@example.com' }, { env });
  expect(unknownEmail.code).toBe(1);
  expect(unknownEmail.err).toEqual([expect.stringContaining(`: user ${bob.id} has another email than nobody@example.com; nothing was changed`)]);
  expect(await present(store, [...bob.keys, bob.devices])).toHaveLength(4);

  const run = await runRevokeSessions({ userId: bob.id }, { env });
  expect([run.code, run.err]).toEqual([0, []]);
  expect(run.out[0]).toMatch(new RegExp(`^revoke-sessions: user ${bob.id}: `));
  expect(run.counts).toEqual({ 'access tokens': 1, 'browser sign-ins': 1, 'refresh tokens': 1, 'password reset tokens': 1, 'sessions signed in': 1, 'sessions anonymous': 0, 'component states': 1, 'csrf nonces': 1 });
  expect(run.out).toContain('revoke-sessions: trusted devices of 1 account: 1 forgotten');
  expect(await present(store, [...bob.keys, bob.devices])).toEqual([]);
  expect(await present(store, [...ada.keys, ada.devices])).toHaveLength(4);
}

describe('revoke-sessions --user-id after DELETE FROM users, on the embedded SQLite file', () => {
  for (const [title, body] of [
    ['ends the deleted user\'s sessions only; --user EMAIL beside it forgets the devices; dry run, capitals, an id nothing names', deleteThenRevoke],
    ['an id whose account exists works as --user; an email of another account beside it is refused', idOfLiveAccount],
  ] as const) {
    describe(title, () => {
      const { db, url } = useSqliteAuthDatabase('revoke-deleted');
      it('on SQLite', async () => {
        const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
        try {
          await body(db, store, { DATABASE_URL: url });
        } finally {
          await store.close();
        }
      });
    });
  }

  describe('a DELETE that cascaded nothing (the sqlite3 shell opens the file with foreign keys off)', () => {
    const { db, url } = useSqliteAuthDatabase('revoke-orphans');
    it('--user-id revokes the token rows left behind, and ends the sessions', async () => {
      const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
      try {
        const ada = await signedIn(db, store, 'ada@example.com');
        // As the shell does: foreign keys off for the DELETE (outside any transaction, as SQLite wants), on again after.
        await sql`pragma foreign_keys = off`.execute(db);
        await sql`delete from users where id = ${ada.id}`.execute(db);
        await sql`pragma foreign_keys = on`.execute(db);
        const orphans = await db.selectFrom('access_tokens').select('id').where('user_id', '=', ada.id).execute();
        expect(orphans).toHaveLength(2);

        const run = await runRevokeSessions({ userId: ada.id }, { env: { DATABASE_URL: url } });
        expect([run.code, run.err]).toEqual([0, []]);
        expect(run.counts).toEqual({ 'access tokens': 1, 'browser sign-ins': 1, 'refresh tokens': 1, 'password reset tokens': 1, 'sessions signed in': 1, 'sessions anonymous': 0, 'component states': 1, 'csrf nonces': 1 });
        expect(await present(store, ada.keys)).toEqual([]);
        const live = await db.selectFrom('access_tokens').select('id').where('user_id', '=', ada.id).where('revoked_at', 'is', null).execute();
        expect(live).toEqual([]);
      } finally {
        await store.close();
      }
    });
  });
});

if (pg.state === 'skip') warnSkipped('revoke-sessions --user-id on PostgreSQL + Redis', pg.reason);
describe.skipIf(pg.state === 'skip' || !REDIS_AVAILABLE)('revoke-sessions --user-id after DELETE FROM users, on PostgreSQL with Redis', () => {
  const redis = useRedisServer();
  const schemas: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const drop of schemas) await drop();
  });

  for (const [title, body] of [
    ['ends the deleted user\'s sessions only (under REDIS_KEY_PREFIX); the devices with --user EMAIL; dry run, capitals, an id nothing names', deleteThenRevoke],
    ['an id whose account exists works as --user; an email of another account beside it is refused', idOfLiveAccount],
  ] as const) {
    it(title, { timeout: 60_000 }, async () => {
      if (pg.state === 'fail') throw new Error(pg.reason);
      const schema = await createTestSchema('revoke_deleted');
      schemas.push(schema.drop);
      const db = createDatabase(schema.url);
      const keyPrefix = `app${schemas.length}:`;
      try {
        await migrateToLatest(db);
        await body(db, redis.open({ keyPrefix }), { DATABASE_URL: schema.url, REDIS_URL: redis.urlOf(), REDIS_KEY_PREFIX: keyPrefix });
      } finally {
        await db.destroy();
      }
    });
  }
});
