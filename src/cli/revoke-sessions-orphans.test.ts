/**
 * `livecomponents revoke-sessions --orphans`: every session naming a browser sign-in of a user id the
 * users table no longer has is ended (record, component states, CSRF nonces), and the token rows left
 * naming such an id (a DELETE that cascaded nothing) are revoked; nothing else. Kept: a live user's
 * sessions (also naming its id in other letters than its row: an imported row in capitals, a row in
 * mixed case), anonymous sessions, sessions naming an app's own id (counted and said), a user
 * registered while the run goes. Exact counts, its dry run first (same counts, nothing changed), a
 * second run finding nothing. On the embedded SQLite file, on PostgreSQL beside the embedded store,
 * and on PostgreSQL with Redis under a key prefix. Plus more ids than one query or one batch asks
 * (SQLite), and a user row created between the read of its session and the check (Redis).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuthRepository } from '../auth/repository.js';
import { memorySecurityEvents } from '../ops/security-events.js';
import { hashToken } from '../auth/tokens.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../sql/test-postgres.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/types.js';
import { REDIS_AVAILABLE, useRedisServer } from '../../test/redis/server.js';
import { describeOnPostgres, presentKeys as present, runRevokeSessions, sessionWithState as sessionOf } from '../../test/scale/revoke-sessions.js';
import { accountCheck, KEPT_CAP, orphanSessions } from './revoke-sessions-orphans.js';
import { endRedisSessions } from './revoke-sessions-redis.js';
import { SQLITE_PIECE } from './revoke-sessions-sqlite.js';
import { revokeSessions } from './revoke-sessions.js';

const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-orphans-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pg = await postgresAvailability();
if (pg.state === 'fail') throw new Error(pg.reason);
if (pg.state === 'skip') warnSkipped('revoke-sessions --orphans on PostgreSQL', pg.reason);

/** What `--orphans` prints about the trusted devices (not looked for: see revoke-sessions-orphans.ts). */
const DEVICES_LINE =
  "revoke-sessions: trusted devices: not looked for: they are kept by email, which a deleted account no longer tells; registering that email again forgets them, and they expire 90 days after their last sign-in (--user-id ID --user EMAIL forgets one email's now)";
const KEPT_LINE = (n: number) =>
  `revoke-sessions: sessions of user ids the app signs in itself: ${n} kept (switchUser with an id of the app's own, not a browser sign-in of the auth module: the users table cannot tell whether its user exists; --user-id ID ends those of one UUID, --all every session)`;

/** A user row with the id given (an import's: any case), its password hash `hash`. */
async function importUser(db: Kysely<DatabaseSchema>, id: string, email: string): Promise<void> {
  await db.insertInto('users').values({ id, email, password_hash: 'hash', name: null, created_at: Date.now(), updated_at: Date.now() }).execute();
}

/** A user's tokens: an API grant (access + refresh), a browser sign-in (its id returned), a reset link. */
async function tokensOf(db: Kysely<DatabaseSchema>, userId: string, label: string): Promise<string> {
  const repo = createAuthRepository(db);
  const now = Date.now();
  const grant = { userId, familyId: `family-${label}`, accessHash: hashToken(`access-${label}`), accessExpiresAt: now + HOUR, refreshHash: hashToken(`refresh-${label}`), refreshExpiresAt: now + 24 * HOUR, familyExpiresAt: now + 48 * HOUR, parentId: null };
  expect(await repo.createGrant(grant, now, 'hash')).toBe(true);
  await repo.insertPasswordReset(hashToken(`reset-${label}`), userId, now, now + HOUR);
  return (await repo.createWebSession(userId, hashToken(`web-${label}`), now, now + HOUR, 'hash')) as string;
}

/** Whether `label`'s tokens (`tokensOf`) are live: access, browser sign-in, refresh, reset. */
async function tokensLive(db: Kysely<DatabaseSchema>, userId: string, label: string, web: string) {
  const repo = createAuthRepository(db);
  const now = Date.now();
  return [
    (await repo.accessGrant(hashToken(`access-${label}`), now)) !== undefined,
    (await repo.webSessionUser(userId, web, now)) !== undefined,
    (await repo.refreshByHash(hashToken(`refresh-${label}`)))?.revoked_at === null,
    (await repo.liveResetEmail(hashToken(`reset-${label}`), now)) !== undefined,
  ];
}

/** The token rows still naming `userId` (unrevoked, unspent), by table: what `--orphans` revokes for a deleted id. */
async function unspentRows(db: Kysely<DatabaseSchema>, userId: string): Promise<number[]> {
  const count = async (query: Promise<{ n: number | string | bigint } | undefined>) => Number((await query)?.n ?? 0);
  return [
    await count(db.selectFrom('access_tokens').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).where('revoked_at', 'is', null).executeTakeFirst()),
    await count(db.selectFrom('refresh_tokens').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).where('revoked_at', 'is', null).executeTakeFirst()),
    await count(db.selectFrom('password_resets').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).where('used_at', 'is', null).executeTakeFirst()),
  ];
}

/** A UUID in alternating case, as no code path of ours writes one: only the any-case look-up finds its row. */
function mixedCase(id: string): string {
  let upper = false;
  return [...id].map((c) => (/[a-f]/.test(c) ? ((upper = !upper) ? c.toUpperCase() : c) : c)).join('');
}

/**
 * Deletes user `id` leaving its token rows (a DELETE that cascaded nothing): SQLite with foreign keys
 * off, as the sqlite3 shell opens a file; PostgreSQL with the foreign keys' triggers off for the
 * transaction (`session_replication_role = replica`, as a logical-replication apply does).
 */
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

/**
 * The adversarial scene, then the dry run, the run and a second run, each with exact counts:
 * - kept: Ada (live) with three sessions, one naming her id in capitals; Ima, imported with her id in
 *   capitals, whose session names it lower-case; Max, whose row's id is in mixed case; two anonymous
 *   sessions; three sessions naming an app's own id (`u1`, Bob's id alone, `<Bob's id>/admin`);
 * - ended: Bob's three sessions (deleted with the cascade; one names him in capitals; one has two
 *   nonces) and Cleo's one (deleted without it: her four token rows stay, and are revoked).
 */
async function orphanScene(db: Kysely<DatabaseSchema>, store: Store, env: Record<string, string>, engine: 'sqlite' | 'postgres', cwd?: string): Promise<void> {
  const repo = createAuthRepository(db);
  const insert = async (email: string) => {
    const row = await repo.insertUser({ email, passwordHash: 'hash', name: null }, Date.now());
    if (row === 'taken') throw new Error('taken');
    return row.id;
  };
  const ada = await insert('ada@example.com');
  const bob = await insert('bob@example.com');
  const cleo = await insert('cleo@example.com');
  const ima = randomUUID().toUpperCase();
  await importUser(db, ima, 'ima@example.com');
  const max = mixedCase(randomUUID());
  await importUser(db, max, 'max@example.com');
  const adaWeb = await tokensOf(db, ada, 'ada');
  const bobWeb = await tokensOf(db, bob, 'bob');
  const cleoWeb = await tokensOf(db, cleo, 'cleo');
  const imaWeb = await tokensOf(db, ima, 'ima');
  const maxWeb = await tokensOf(db, max, 'max');

  const live = [
    ...(await sessionOf(store, `${ada}/${adaWeb}`, 1)),
    ...(await sessionOf(store, `${ada}/${randomUUID()}`)),
    ...(await sessionOf(store, `${ada.toUpperCase()}/${adaWeb.toUpperCase()}`)),
    ...(await sessionOf(store, `${ima.toLowerCase()}/${imaWeb}`)),
    ...(await sessionOf(store, `${max.toLowerCase()}/${maxWeb}`)),
  ];
  const anonymous = [...(await sessionOf(store, null, 1)), ...(await sessionOf(store, null))];
  const appOwn = [...(await sessionOf(store, 'u1')), ...(await sessionOf(store, bob)), ...(await sessionOf(store, `${bob}/admin`))];
  const orphans = [
    ...(await sessionOf(store, `${bob}/${bobWeb}`, 2)),
    ...(await sessionOf(store, `${bob}/${randomUUID()}`)),
    ...(await sessionOf(store, `${bob.toUpperCase()}/${bobWeb}`)),
    ...(await sessionOf(store, `${cleo}/${cleoWeb}`)),
  ];
  await sql`delete from users where id = ${bob}`.execute(db);
  await deleteLeavingRows(db, engine, cleo);
  expect(await unspentRows(db, cleo)).toEqual([2, 1, 1]);
  expect(await unspentRows(db, bob)).toEqual([0, 0, 0]);

  const sessions = { 'sessions signed in': 4, 'sessions anonymous': 0, 'component states': 4, 'csrf nonces': 2 };
  const tokens = { 'access tokens': 1, 'browser sign-ins': 1, 'refresh tokens': 1, 'password reset tokens': 1 };
  const keptAll = [...live, ...anonymous, ...appOwn];

  const dry = await runRevokeSessions({ orphans: true, dryRun: true }, { env, cwd });
  expect([dry.code, dry.err, dry.events]).toEqual([0, [], []]);
  expect(dry.counts).toEqual({ ...tokens, ...sessions, 'sessions of user ids the app signs in itself': 3 });
  expect(dry.out[0]).toMatch(/^revoke-sessions: dry run, nothing is changed: every user id with no account: /);
  expect(dry.out).toContain(DEVICES_LINE);
  expect(dry.out.at(-1)).toBe('revoke-sessions: dry run done: nothing was changed');
  expect(await present(store, [...keptAll, ...orphans])).toEqual([...keptAll, ...orphans]);
  expect(await unspentRows(db, cleo)).toEqual([2, 1, 1]);

  const run = await runRevokeSessions({ orphans: true }, { env, cwd });
  expect([run.code, run.err]).toEqual([0, []]);
  expect(run.counts).toEqual({ ...tokens, ...sessions, 'sessions of user ids the app signs in itself': 3 });
  expect(run.out).toContain(KEPT_LINE(3));
  expect(run.out).toContain(DEVICES_LINE);
  expect(run.out.at(-1)).toBe('revoke-sessions: done');
  expect(run.events.map((e) => [e.event, e.level, e.description])).toEqual([
    [
      'authn_token_revoked',
      'WARN',
      expect.stringMatching(
        /^Operator revoked the sign-ins of every user id with no account \(livecomponents revoke-sessions, run by .+\): 1 access tokens, 1 browser sign-ins and 1 refresh tokens revoked, 1 reset tokens spent, 4 sessions ended, 0 trusted devices forgotten$/,
      ),
    ],
  ]);
  expect(await present(store, orphans)).toEqual([]);
  expect(await present(store, keptAll)).toEqual(keptAll);
  // Ada's 7 keys, Ima's 2, Max's 2, the anonymous 5, the app's own 6.
  expect(keptAll).toHaveLength(22);
  expect(await unspentRows(db, cleo)).toEqual([0, 0, 0]);
  // The live users' tokens: every one still usable.
  expect(await tokensLive(db, ada, 'ada', adaWeb)).toEqual([true, true, true, true]);
  expect(await tokensLive(db, ima, 'ima', imaWeb)).toEqual([true, true, true, true]);
  expect(await tokensLive(db, max, 'max', maxWeb)).toEqual([true, true, true, true]);

  const again = await runRevokeSessions({ orphans: true }, { env, cwd });
  expect([again.code, again.err, again.out.at(-1)]).toEqual([0, [], 'revoke-sessions: done']);
  expect(again.counts).toEqual({ 'access tokens': 0, 'browser sign-ins': 0, 'refresh tokens': 0, 'password reset tokens': 0, 'sessions signed in': 0, 'sessions anonymous': 0, 'component states': 0, 'csrf nonces': 0, 'sessions of user ids the app signs in itself': 3 });
  expect(await present(store, keptAll)).toEqual(keptAll);
}

describe('the --orphans picker', () => {
  it('a record read twice (Redis SCAN) is counted and chosen once; the kept are counted to KEPT_CAP, then "or more"; anonymous and unreadable records are neither', async () => {
    const gone = randomUUID();
    const asked: string[][] = [];
    const picker = orphanSessions({
      known: async (ids) => {
        asked.push([...ids]);
        return new Set();
      },
      knownAnyCase: async () => new Set(),
    });
    const page = [
      { session: 'g', user: `${gone.toUpperCase()}/${randomUUID()}` },
      { session: 'g', user: `${gone.toUpperCase()}/${randomUUID()}` },
      { session: 'a', user: null },
      { session: 'x', user: undefined },
      ...Array.from({ length: KEPT_CAP }, (_, i) => ({ session: `own${i}`, user: `app-user-${i}` })),
    ];
    expect([...(await picker.pick(page))]).toEqual([]);
    expect(asked).toEqual([[gone]]);
    expect(picker.kept()).toEqual({ count: KEPT_CAP, capped: false });
    // The same kept session again: no more; a new one past the cap: "or more".
    await picker.pick([{ session: 'own0', user: 'app-user-0' }]);
    expect(picker.kept()).toEqual({ count: KEPT_CAP, capped: false });
    await picker.pick([{ session: 'one-more', user: randomUUID() }]);
    expect(picker.kept()).toEqual({ count: KEPT_CAP, capped: true });
    expect([...(await picker.done())]).toEqual(['g']);
    expect([...(await picker.done())]).toEqual([]);
  });
});

describe('revoke-sessions --orphans on the embedded SQLite file', () => {
  it('ends the deleted users\' sign-ins and leftover tokens only, exact counts; dry run first; second run finds nothing', { timeout: 60_000 }, async () => {
    const path = join(dir, 'scene.db');
    const db = createDatabase(`sqlite:${path}`);
    await migrateToLatest(db);
    const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
    try {
      await orphanScene(db, store, { DATABASE_URL: `sqlite:${path}` }, 'sqlite');
    } finally {
      await store.close();
      await db.destroy();
    }
  });

  it('more ids than one any-case query (500) and one any-case batch (1000) ask, across pieces of the walk: 1,100 deleted users\' sessions ended, 700 live users\' kept', { timeout: 120_000 }, async () => {
    const path = join(dir, 'many.db');
    const db = createDatabase(`sqlite:${path}`);
    await migrateToLatest(db);
    try {
      const now = Date.now();
      const liveIds = Array.from({ length: 700 }, () => randomUUID());
      const goneIds = Array.from({ length: 1_100 }, () => randomUUID());
      for (let i = 0; i < liveIds.length; i += 100) {
        await db.insertInto('users').values(liveIds.slice(i, i + 100).map((id) => ({ id, email: `${id}@example.com`, password_hash: 'hash', name: null, created_at: now, updated_at: now }))).execute();
      }
      // Interleaved in key order, so every piece of the walk holds both.
      const rows = [...liveIds.map((id, i) => ({ id, n: 2 * i })), ...goneIds.map((id, i) => ({ id, n: 2 * i + 1 }))].map(({ id, n }) => ({
        key: `lc:{s:k${String(n).padStart(5, '0')}}:session`,
        value: JSON.stringify({ u: `${id}/${randomUUID()}`, c: now, t: now }),
        expires_at: now + HOUR,
      }));
      for (let i = 0; i < rows.length; i += 200) await db.insertInto('lc_kv').values(rows.slice(i, i + 200)).execute();
      expect(rows.length).toBeGreaterThan(5 * SQLITE_PIECE);
      const env = { DATABASE_URL: `sqlite:${path}` };
      const dry = await runRevokeSessions({ orphans: true, dryRun: true }, { env });
      expect([dry.code, dry.counts['sessions signed in']]).toEqual([0, 1_100]);
      const run = await runRevokeSessions({ orphans: true }, { env });
      expect([run.code, run.err, run.counts['sessions signed in'], run.counts['sessions anonymous']]).toEqual([0, [], 1_100, 0]);
      const left = await db.selectFrom('lc_kv').select('value').where('key', 'like', 'lc:{s:%').execute();
      expect(left.map((row) => (JSON.parse(row.value) as { u: string }).u.split('/')[0]).sort()).toEqual([...liveIds].sort());
    } finally {
      await db.destroy();
    }
  });

  it('a user registered while the run goes (after the first piece of sessions was read and checked) keeps its session; so does one whose row comes back then', { timeout: 60_000 }, async () => {
    const path = join(dir, 'mid-run.db');
    const db = createDatabase(`sqlite:${path}`);
    await migrateToLatest(db);
    const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
    try {
      const gone = randomUUID();
      // An account of the app's from before (with none, --orphans is refused: revoke-sessions-orphans-own-ids.test.ts).
      await importUser(db, randomUUID(), 'ada@example.com');
      // Read in the second piece (key order): by then both users exist, though the first piece's ids were checked before.
      const comesBack = randomUUID();
      const late = randomUUID();
      const first = Array.from({ length: SQLITE_PIECE }, (_, i) => `lc:{s:a${String(i).padStart(4, '0')}}:session`);
      const now = Date.now();
      await db
        .insertInto('lc_kv')
        .values([
          ...first.map((key) => ({ key, value: JSON.stringify({ u: `${gone}/${randomUUID()}`, c: now, t: now }), expires_at: now + HOUR })),
          { key: 'lc:{s:z-back}:session', value: JSON.stringify({ u: `${comesBack}/${randomUUID()}`, c: now, t: now }), expires_at: now + HOUR },
        ])
        .execute();
      // The app, on its own connection: registers a user, signs it in, writes its session.
      const app = new Database(path);
      app.pragma('busy_timeout = 5000');
      /** The sessions' walk's readings of the clock so far (`undefined`: not begun). */
      let reads: number | undefined;
      const register = () => {
        const insertUser = app.prepare('insert into users (id, email, password_hash, name, created_at, updated_at) values (?, ?, ?, null, ?, ?)');
        insertUser.run(late, 'late@example.com', 'hash', Date.now(), Date.now());
        insertUser.run(comesBack, 'back@example.com', 'hash', Date.now(), Date.now());
        app.prepare('insert into lc_kv (key, value, expires_at) values (?, ?, ?)').run('lc:{s:z-late}:session', JSON.stringify({ u: `${late}/${randomUUID()}`, c: now, t: now }), Date.now() + HOUR);
      };
      const clock = {
        now: () => {
          // The second piece's read: the first piece's ids have been asked already.
          if (reads !== undefined && ++reads === 2) register();
          return Date.now();
        },
      };
      const out: string[] = [];
      const code = await revokeSessions(
        { orphans: true },
        {
          env: { DATABASE_URL: `sqlite:${path}` },
          clock,
          out: (line) => {
            out.push(line);
            // The tokens' last line: the clock's next reading is the sessions' walk's first.
            if (line.startsWith('revoke-sessions: password reset tokens:')) reads = 0;
          },
          err: () => undefined,
          events: memorySecurityEvents(),
        },
      );
      app.close();
      expect([code, reads]).toEqual([0, expect.any(Number)]);
      expect(reads).toBeGreaterThan(2);
      expect(out).toContain(`revoke-sessions: sessions signed in: ${SQLITE_PIECE} ended`);
      expect(await present(store, ['lc:{s:z-late}:session', 'lc:{s:z-back}:session'])).toEqual(['lc:{s:z-late}:session', 'lc:{s:z-back}:session']);
      expect(await present(store, first)).toEqual([]);
    } finally {
      await store.close();
      await db.destroy();
    }
  });
});

describeOnPostgres('revoke-sessions --orphans', pg, { dir, schema: 'revoke_orphans', keyPrefix: 'orphans:', redisDatabase: 1 }, orphanScene);

describe.skipIf(pg.state !== 'up' || !REDIS_AVAILABLE)('revoke-sessions --orphans on PostgreSQL with Redis, racing a sign-up', () => {
  const redis = useRedisServer();
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const drop of drops) await drop();
  });

  it('a user row created after its session record was read, before the check: kept (the check is made after the read, never from a list of users taken before)', { timeout: 60_000 }, async () => {
    const schema = await createTestSchema('revoke_orphans_race');
    drops.push(schema.drop);
    const db = createDatabase(schema.url);
    try {
      await migrateToLatest(db);
      const keyPrefix = 'race:';
      const store = redis.open({ keyPrefix, database: 2 });
      const client = redis.adminOf(2);
      await client.flushdb();
      const gone = randomUUID();
      const late = randomUUID();
      const goneKeys = await sessionOf(store, `${gone}/${randomUUID()}`, 1);
      const lateKeys = await sessionOf(store, `${late}/${randomUUID()}`, 1);
      // A client whose GET of the late user's record answers only once the user's row is there.
      let created = false;
      const lateRecord = `${keyPrefix}${lateKeys[0] as string}`;
      const wrapped = new Proxy(client, {
        get(target, property, receiver) {
          if (property === 'get') {
            return async (key: string) => {
              const value = await target.get(key);
              if (key === lateRecord && !created) {
                created = true;
                await importUser(db, late, 'late@example.com');
              }
              return value;
            };
          }
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
      const picker = orphanSessions(accountCheck(db));
      const counts = await endRedisSessions(wrapped, keyPrefix, { all: false, orphans: picker }, false);
      expect(created).toBe(true);
      expect(counts).toEqual({ signedIn: 1, anonymous: 0, componentStates: 1, csrfNonces: 1 });
      expect(await present(store, goneKeys)).toEqual([]);
      expect(await present(store, lateKeys)).toEqual(lateKeys);
    } finally {
      await db.destroy();
    }
  });
});
