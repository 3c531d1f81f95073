/**
 * `livecomponents revoke-sessions --user-id ID` matches a user id in any case (a UUID: RFC 9562), on
 * every backend: ours are written lower-case, but an import may have written capitals into the users
 * table, the token rows and the session records. Typed in either case, the id given is lower-cased;
 * before, an account imported in capitals was "no account", none of its tokens were revoked, and its
 * sessions as the auth module writes them (`<ID>/<SIGN-IN ID>`) were left, the run saying they were
 * gone. Here: an account imported in capitals (still there: `--user-id` with its `--user EMAIL`) and
 * one imported in capitals, then deleted by a DELETE that cascaded nothing (its token rows left in
 * capitals). On the embedded SQLite file, PostgreSQL beside the embedded store, PostgreSQL with Redis.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { authKeys } from '../auth/keys.js';
import { createAuthRepository } from '../auth/repository.js';
import { hashToken } from '../auth/tokens.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { postgresAvailability, warnSkipped } from '../sql/test-postgres.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/types.js';
import { describeOnPostgres, presentKeys as present, runRevokeSessions, sessionWithState as sessionOf } from '../../test/scale/revoke-sessions.js';

const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-id-case-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pg = await postgresAvailability();
if (pg.state === 'fail') throw new Error(pg.reason);
if (pg.state === 'skip') warnSkipped('revoke-sessions --user-id in capitals on PostgreSQL', pg.reason);

/**
 * An account imported with its id in capitals, signed in: an API grant, a browser sign-in (the row's
 * id, as its token rows hold it), a reset link; its sessions as the auth module writes them for that
 * row (`<ID>/<sign-in id>`), and as an import in capitals of every part, and its id alone.
 */
async function importedInCapitals(db: Kysely<DatabaseSchema>, store: Store, email: string) {
  const id = randomUUID().toUpperCase();
  const now = Date.now();
  await db.insertInto('users').values({ id, email, password_hash: 'hash', name: null, created_at: now, updated_at: now }).execute();
  const repo = createAuthRepository(db);
  const grant = { userId: id, familyId: `family-${email}`, accessHash: hashToken(`access-${email}`), accessExpiresAt: now + HOUR, refreshHash: hashToken(`refresh-${email}`), refreshExpiresAt: now + 24 * HOUR, familyExpiresAt: now + 48 * HOUR, parentId: null };
  expect(await repo.createGrant(grant, now, 'hash')).toBe(true);
  await repo.insertPasswordReset(hashToken(`reset-${email}`), id, now, now + HOUR);
  const web = (await repo.createWebSession(id, hashToken(`web-${email}`), now, now + HOUR, 'hash')) as string;
  const keys = [...(await sessionOf(store, `${id}/${web}`)), ...(await sessionOf(store, `${id}/${web.toUpperCase()}`)), ...(await sessionOf(store, id))];
  return { id, email, keys };
}

/** The unrevoked, unspent token rows naming `userId` exactly: access tokens and browser sign-ins, refresh tokens, reset links. */
async function unspentRows(db: Kysely<DatabaseSchema>, userId: string): Promise<number[]> {
  const count = async (query: Promise<{ n: number | string | bigint } | undefined>) => Number((await query)?.n ?? 0);
  return [
    await count(db.selectFrom('access_tokens').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).where('revoked_at', 'is', null).executeTakeFirst()),
    await count(db.selectFrom('refresh_tokens').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).where('revoked_at', 'is', null).executeTakeFirst()),
    await count(db.selectFrom('password_resets').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).where('used_at', 'is', null).executeTakeFirst()),
  ];
}

async function deleteLeavingRows(db: Kysely<DatabaseSchema>, engine: 'sqlite' | 'postgres', id: string): Promise<void> {
  if (engine === 'sqlite') {
    await sql`pragma foreign_keys = off`.execute(db);
    await sql`delete from users where id = ${id}`.execute(db);
    await sql`pragma foreign_keys = on`.execute(db);
    return;
  }
  await db.transaction().execute(async (trx) => {
    await sql`set local session_replication_role = replica`.execute(trx);
    await sql`delete from users where id = ${id}`.execute(trx);
  });
}

const oneOfEach = { 'access tokens': 1, 'browser sign-ins': 1, 'refresh tokens': 1, 'password reset tokens': 1, 'sessions signed in': 3, 'sessions anonymous': 0, 'component states': 3, 'csrf nonces': 0 };

async function idInCapitals(db: Kysely<DatabaseSchema>, store: Store, env: Record<string, string>, engine: 'sqlite' | 'postgres', cwd?: string): Promise<void> {
  const ima = await importedInCapitals(db, store, 'ima@example.com');
  await store.set(authKeys.devices(ima.email), 'digest-of-a-browser', HOUR);
  const uma = await importedInCapitals(db, store, 'uma@example.com');
  const other = await sessionOf(store, `${randomUUID()}/${randomUUID()}`);
  const anonymous = await sessionOf(store, null);
  await deleteLeavingRows(db, engine, uma.id);
  expect(await unspentRows(db, uma.id)).toEqual([2, 1, 1]);

  // The account still there, its id typed in lower case, with its email: found, not refused as another account's.
  const lower = ima.id.toLowerCase();
  const dry = await runRevokeSessions({ userId: lower, user: ima.email, dryRun: true }, { env, cwd });
  expect([dry.code, dry.err]).toEqual([0, []]);
  expect(dry.out[0]).toMatch(new RegExp(`^revoke-sessions: dry run, nothing is changed: user ${lower}: `));
  expect(dry.counts).toEqual(oneOfEach);
  expect(dry.out).toContain('revoke-sessions: trusted devices of 1 account: 1 would be forgotten');
  const run = await runRevokeSessions({ userId: lower, user: ima.email }, { env, cwd });
  expect([run.code, run.err, run.out.at(-1)]).toEqual([0, [], 'revoke-sessions: done']);
  expect(run.counts).toEqual(oneOfEach);
  expect(await present(store, ima.keys)).toEqual([]);
  expect(await unspentRows(db, ima.id)).toEqual([0, 0, 0]);
  expect(await store.get(authKeys.devices(ima.email))).toBeNull();

  // The account deleted, its token rows left in capitals, its id typed in capitals.
  const gone = await runRevokeSessions({ userId: uma.id }, { env, cwd });
  expect([gone.code, gone.err, gone.out.at(-1)]).toEqual([0, [], 'revoke-sessions: done']);
  expect(gone.out[0]).toMatch(new RegExp(`^revoke-sessions: user ${uma.id.toLowerCase()}, which has no account \\(deleted, or never was\\): `));
  expect(gone.counts).toEqual(oneOfEach);
  expect(await present(store, uma.keys)).toEqual([]);
  expect(await unspentRows(db, uma.id)).toEqual([0, 0, 0]);

  expect(await present(store, [...other, ...anonymous])).toEqual([...other, ...anonymous]);
}

describe('revoke-sessions --user-id in any case, on the embedded SQLite file', () => {
  it('an account imported in capitals, and one deleted leaving its rows in capitals: found, tokens revoked, sessions ended', { timeout: 60_000 }, async () => {
    const path = join(dir, 'case.db');
    const db = createDatabase(`sqlite:${path}`);
    await migrateToLatest(db);
    const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
    try {
      await idInCapitals(db, store, { DATABASE_URL: `sqlite:${path}` }, 'sqlite');
    } finally {
      await store.close();
      await db.destroy();
    }
  });
});

describeOnPostgres('revoke-sessions --user-id in any case', pg, { dir, schema: 'revoke_id_case', keyPrefix: 'case:' }, idInCapitals);
