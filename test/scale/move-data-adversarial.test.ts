/**
 * `livecomponents move-data` against what an operator's data and targets can be (docs/scaling.md,
 * "Moving from one machine to several"): every column of every table read back through the auth
 * repository and raw on both engines (unicode and emoji, the longest names, NULLs, the largest exact
 * times, a refresh chain stored children first, a row from before refresh bindings); a Redis that is
 * wrong or down refused before the database is written; a Redis that refuses writes half-way (out of
 * memory), then the run repeated: every record there once, none twice; the process SIGKILLed in the
 * middle of its PostgreSQL transaction, then the run repeated.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAuthRepository, type AuthRepository } from '../../src/auth/repository.js';
import { migrateCommand } from '../../src/cli/migrate.js';
import { createDatabase } from '../../src/sql/database.js';
import type { DatabaseSchema } from '../../src/sql/schema.js';
import { storeKeys } from '../../src/store/keys.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { waitUntil } from '../helpers/wait-until.js';
import { HASH, move, moveFixture, skipWithoutServices } from './move-data-fixture.js';

const skip = await skipWithoutServices('move-data adversarial');

const TABLES = { users: 'id', access_tokens: 'id', refresh_tokens: 'id', password_resets: 'token_hash' } as const;
const NOW = 1_796_449_544_751;
/** Every row of every table, ordered by its key, as Kysely reads it (PostgreSQL BIGINT as numbers). */
async function dump(db: Kysely<DatabaseSchema>): Promise<Record<string, unknown[]>> {
  const result: Record<string, unknown[]> = {};
  for (const [table, key] of Object.entries(TABLES)) {
    result[table] = (await sql<Record<string, unknown>>`select * from ${sql.table(table)} order by ${sql.ref(key)}`.execute(db)).rows.map((row) =>
      Object.fromEntries(Object.entries(row).sort(([a], [b]) => a.localeCompare(b))),
    );
  }
  return result;
}

async function tableCount(url: string): Promise<number> {
  const db = createDatabase(url);
  try {
    const { rows } = await sql<{ n: string | number }>`select count(*) as n from information_schema.tables where table_schema = current_schema()`.execute(db);
    return Number(rows[0]?.n);
  } finally {
    await db.destroy();
  }
}

describe.skipIf(skip)('livecomponents move-data: adversarial data and targets', { timeout: 120_000 }, () => {
  const fixture = moveFixture('lc-move-adv-');
  const { migratedFile, schema } = fixture;
  let dir: string;
  let redis: { url: string };
  let client: typeof fixture.client;
  beforeAll(() => {
    ({ dir, redis, client } = fixture);
  });

  it('every column of every table reads the same through the repository and raw on PostgreSQL; the next registration works', async () => {
    const from = await migratedFile('fidelity.db');
    const source = createDatabase(from);
    const repo = createAuthRepository(source);
    const people = [
      { email: 'zoë+tag@exämple.com', passwordHash: HASH, name: '👩🏽‍💻 Zoë Ünïcode 漢字 עברית' },
      { email: 'no-name@example.com', passwordHash: `${HASH}2`, name: null },
      { email: `${'l'.repeat(64)}@${'d'.repeat(63)}.${'e'.repeat(63)}.example`, passwordHash: `${HASH}3`, name: '🦄'.repeat(80) },
      { email: "o'brien\"\\@example.com", passwordHash: `${HASH}4`, name: "'; drop table users; --" },
    ];
    const users = [];
    for (const [i, p] of people.entries()) users.push((await repo.insertUser(p, NOW + i)) as Exclude<Awaited<ReturnType<AuthRepository['insertUser']>>, 'taken'>);
    const [zoe, plain] = users as [(typeof users)[number], (typeof users)[number]];
    // A sign-in, rotated twice (a chain of three), with the largest exact time as the family's end.
    expect(
      await repo.createGrant(
        { userId: zoe.id, familyId: 'fam-1', accessHash: 'a1', accessExpiresAt: NOW + 900_000, refreshHash: 'r1', refreshExpiresAt: NOW + 600_000, familyExpiresAt: Number.MAX_SAFE_INTEGER, parentId: null, bindingHash: 'b'.repeat(64) },
        NOW,
        HASH,
      ),
    ).toBe(true);
    for (const [from2, to] of [['r1', 'r2'], ['r2', 'r3']] as const) {
      const rotated = await repo.rotateRefresh(from2, NOW + 10, (row) => ({ userId: row.user_id, familyId: row.family_id, accessHash: `a-${to}`, accessExpiresAt: NOW + 900_000, refreshHash: to, refreshExpiresAt: NOW + 600_000, familyExpiresAt: row.family_expires_at, parentId: row.id, bindingHash: 'b'.repeat(64) }), 'b'.repeat(64));
      expect(rotated).not.toBeNull();
    }
    expect(await repo.createWebSession(plain.id, 'unusable', NOW, NOW + 3_600_000, `${HASH}2`)).not.toBeNull();
    await repo.insertPasswordReset('reset-used', plain.id, NOW, NOW + 3_600_000);
    await repo.insertPasswordReset('reset-live', zoe.id, NOW, Number.MAX_SAFE_INTEGER);
    expect(await repo.redeemPasswordReset('reset-used', `${HASH}new`, NOW + 5)).not.toBeNull();
    await source.destroy();
    // A row from before refresh bindings (NULL), and the chain stored children first (rowid order).
    const file = new BetterSqlite3(join(dir, 'fidelity.db'));
    file.prepare(`update refresh_tokens set binding_hash = null where token_hash = 'r3'`).run();
    file.pragma('foreign_keys = OFF');
    const rows = file.prepare('select * from refresh_tokens order by created_at desc, rowid desc').all() as Record<string, unknown>[];
    file.prepare('delete from refresh_tokens').run();
    const insert = file.prepare('insert into refresh_tokens (id, user_id, family_id, token_hash, parent_id, family_expires_at, expires_at, used_at, revoked_at, created_at, binding_hash) values (@id, @user_id, @family_id, @token_hash, @parent_id, @family_expires_at, @expires_at, @used_at, @revoked_at, @created_at, @binding_hash)');
    for (const row of rows) insert.run(row);
    expect((file.prepare('select token_hash from refresh_tokens order by rowid').all() as { token_hash: string }[]).map((r) => r.token_hash)).toEqual(['r3', 'r2', 'r1']);
    file.close();

    const target = await schema('move_fidelity');
    const moved = await move('--from', from, '--to-database', target);
    expect([moved.code, moved.err]).toEqual([0, []]);
    expect(moved.out).toContain('move-data: table users: 4 rows copied');
    expect(moved.out).toContain('move-data: table refresh_tokens: 3 rows copied');
    // Nothing of the rows in what it prints: no hash, no email, no name.
    expect(moved.out.join('\n')).not.toMatch(/argon2|zoë|exämple|🦄|r1|reset-/);

    const [a, b] = [createDatabase(from), createDatabase(target)];
    try {
      const [wantRaw, gotRaw] = [await dump(a), await dump(b)];
      expect(Object.values(wantRaw).map((r) => r.length)).toEqual([4, 4, 3, 2]);
      expect(gotRaw).toEqual(wantRaw);
      const [ra, rb] = [createAuthRepository(a), createAuthRepository(b)];
      for (const p of people) {
        const user = await ra.userByEmail(p.email);
        // The redeemed reset changed the second one's password.
        expect([user?.email, user?.name, user?.password_hash]).toEqual([p.email, p.name, p === people[1] ? `${HASH}new` : p.passwordHash]);
        expect(await rb.userByEmail(p.email)).toEqual(user);
        expect(await rb.userById(user?.id as string)).toEqual(user);
      }
      for (const hash of ['r1', 'r2', 'r3']) expect(await rb.refreshByHash(hash)).toEqual(await ra.refreshByHash(hash));
      expect((await rb.refreshByHash('r3'))?.binding_hash).toBeNull();
      for (const hash of ['a1', 'a-r2', 'a-r3']) expect(await rb.accessGrant(hash, NOW + 20)).toEqual(await ra.accessGrant(hash, NOW + 20));
      expect(await rb.liveResetEmail('reset-live', NOW + 20)).toBe(people[0]?.email);
      expect(await rb.liveResetEmail('reset-used', NOW + 20)).toBeUndefined();
      // The next registration on PostgreSQL: a new one goes in, a moved email is taken.
      expect(await rb.insertUser({ email: 'new@example.com', passwordHash: HASH, name: null }, NOW + 100)).not.toBe('taken');
      expect(await rb.insertUser({ email: people[0]?.email as string, passwordHash: HASH, name: null }, NOW + 100)).toBe('taken');
    } finally {
      await Promise.all([a.destroy(), b.destroy()]);
    }
  });

  it('a Redis that is wrong or down is refused before the database is written: exit 2 for a usage error, 1 when unreachable', async () => {
    const from = await migratedFile('usage.db');
    const target = await schema('move_usage');
    const prefix = await move('--from', from, '--to-database', target, '--to-redis', redis.url, '--redis-key-prefix', '{shop}:');
    expect([prefix.code, prefix.err]).toEqual([2, ['move-data: --redis-key-prefix (or REDIS_KEY_PREFIX) must be 1 to 64 printable characters without spaces, "{" or "}", such as shop: (got an invalid value)']]);
    const url = await move('--from', from, '--to-database', target, '--to-redis', 'redis://:pw@[bad');
    expect([url.code, url.err]).toEqual([2, ['move-data: --to-redis (or REDIS_URL): createRedisStore: the url Invalid URL']]);
    const down = await move('--from', from, '--to-database', target, '--to-redis', 'redis://:pw@127.0.0.1:1');
    expect(down.code).toBe(1);
    expect(down.err).toHaveLength(1);
    expect(down.err[0]).toMatch(/^move-data: redis:\/\/127\.0\.0\.1:1: Redis is not connected .*ECONNREFUSED/);
    // Not even migrated: nothing was written to PostgreSQL.
    expect(await tableCount(target)).toBe(0);
    expect(await client.dbsize()).toBe(0);
  });

  it('a Redis that refuses writes half-way (out of memory): exit 1; the run repeated copies the rest, every record there once', async () => {
    const from = await migratedFile('oom.db');
    const store = await createSqliteStore({ url: from, sweepIntervalMs: 0 });
    const SESSIONS = 600;
    const value = 'x'.repeat(2_000);
    for (let i = 0; i < SESSIONS; i += 100) {
      await store.batch(Array.from({ length: 100 }, (_, j) => ({ op: 'set' as const, key: storeKeys.session(`oom-${i + j}`), value: `${i + j}:${value}`, ttlMs: 3_600_000 })));
    }
    const windows = 50;
    for (let i = 0; i < windows; i++) await store.set(storeKeys.rateLimit(`ip:10.1.0.${i}`, '~auth', 'login'), `w:${Date.now() - 1_000},${Date.now()}`, 60_000);
    await store.close();
    const target = await schema('move_oom');
    const used = Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1]);
    // Room for about a third of the sessions.
    await client.config('SET', 'maxmemory', String(used + (SESSIONS / 3) * 2_200));
    await client.config('SET', 'maxmemory-policy', 'noeviction');
    try {
      const failed = await move('--from', from, '--to-database', target, '--to-redis', redis.url);
      expect(failed.code).toBe(1);
      expect(failed.err).toHaveLength(1);
      expect(failed.err[0]).toMatch(/OOM/);
      expect(failed.err[0]).not.toMatch(/xxxx|oom-\d/);
    } finally {
      await client.config('SET', 'maxmemory', '0');
    }
    const partial = await client.dbsize();
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(SESSIONS);
    const again = await move('--from', from, '--to-database', target, '--to-redis', redis.url);
    expect([again.code, again.err]).toEqual([0, []]);
    // The tables were copied and marked before Redis failed: not copied again; the key-value part, which failed, was not marked.
    expect(again.out).toContainEqual(expect.stringMatching(/^move-data: the relational part was moved to postgres:\/\/\S+ \(schema \S+\) already \(marked in sqlite:.*oom\.db\): not copied again$/));
    expect(again.out).toContain(`move-data: key-value session: ${SESSIONS - partial} copied, ${partial} already in Redis (left as they are)`);
    expect(again.out).toContain(`move-data: key-value rate-limit counter: ${windows} copied`);
    // Every session once, with its own value; every window one sorted set of its two times; the mark.
    expect(await client.dbsize()).toBe(SESSIONS + windows + 1);
    for (const i of [0, SESSIONS / 2, SESSIONS - 1]) expect((await client.get(storeKeys.session(`oom-${i}`)))?.startsWith(`${i}:`)).toBe(true);
    for (let i = 0; i < windows; i++) expect(await client.zcard(storeKeys.rateLimit(`ip:10.1.0.${i}`, '~auth', 'login'))).toBe(2);
  });

  it('SIGKILL in the middle of the PostgreSQL copy: nothing of it stays; the run repeated copies every row and record once', async () => {
    const from = await migratedFile('killed.db');
    const source = createDatabase(from);
    const repo = createAuthRepository(source);
    for (let i = 0; i < 3; i++) {
      const user = await repo.insertUser({ email: `k${i}@example.com`, passwordHash: HASH, name: null }, NOW);
      if (user === 'taken') throw new Error('taken');
      await repo.insertPasswordReset(`reset-${i}`, user.id, NOW, Number.MAX_SAFE_INTEGER);
    }
    await source.destroy();
    const store = await createSqliteStore({ url: from, sweepIntervalMs: 0 });
    for (let i = 0; i < 20; i++) await store.set(storeKeys.session(`killed-${i}`), `{"i":${i}}`, 3_600_000);
    await store.close();
    const target = await schema('move_killed');
    expect(await migrateCommand({ DATABASE_URL: target }, { out: () => undefined })).toBe(0);
    // password_resets is copied last: its insert sleeps, with users already inserted in the transaction.
    const admin = createDatabase(target);
    // The run before this one completed into this Redis: its mark would refuse this one.
    await client.del('lc:{move-data}:done');
    const redisBefore = await client.dbsize();
    try {
      await sql`create function lc_test_slow() returns trigger language plpgsql as $$ begin perform pg_sleep(3); return null; end $$`.execute(admin);
      await sql`create trigger lc_test_slow before insert on password_resets for each statement execute function lc_test_slow()`.execute(admin);
      const script = join(dir, 'move-killed.mts');
      writeFileSync(
        script,
        `import { main } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'src/cli/index.ts'))};
process.exitCode = await main(['move-data', '--from', ${JSON.stringify(from)}, '--to-database', ${JSON.stringify(target)}, '--to-redis', ${JSON.stringify(redis.url)}], { env: {}, out: () => undefined, err: () => undefined });
`,
      );
      const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: join(import.meta.dirname, '..', '..'), stdio: 'ignore' });
      let exit: string | number | null | undefined;
      const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve((exit = signal ?? code))));
      await waitUntil('the move to be inside its insert into password_resets', async () => {
        if (exit !== undefined) throw new Error(`the move exited (${exit}) before its insert`);
        const { rows } = await sql<{ n: string | number }>`select count(*) as n from pg_stat_activity where query like 'insert into "password_resets"%' and wait_event = 'PgSleep'`.execute(admin);
        return Number(rows[0]?.n) === 1;
      });
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      // Waits for the dead client's transaction to end (the server sees it gone after the sleep).
      await sql`drop trigger lc_test_slow on password_resets`.execute(admin);
      await sql`drop function lc_test_slow()`.execute(admin);
      const { rows } = await sql<{ n: string | number }>`select count(*) as n from users`.execute(admin);
      expect(Number(rows[0]?.n)).toBe(0);
    } finally {
      await admin.destroy();
    }
    expect(await client.dbsize()).toBe(redisBefore);
    const again = await move('--from', from, '--to-database', target, '--to-redis', redis.url);
    expect([again.code, again.err]).toEqual([0, []]);
    expect(again.out).toContain('move-data: table users: 3 rows copied');
    expect(again.out).toContain('move-data: table password_resets: 3 rows copied');
    expect(again.out).toContain('move-data: key-value session: 20 copied');
    // The 20 sessions and the completion mark.
    expect(await client.dbsize()).toBe(redisBefore + 21);
  });

  it('a source at an older migration is refused, naming what to run; run, the move completes (rows of before bindings keep NULL)', async () => {
    const from = await migratedFile('older.db');
    const source = createDatabase(from);
    const user = await createAuthRepository(source).insertUser({ email: 'old@example.com', passwordHash: HASH, name: null }, NOW);
    await source.destroy();
    if (user === 'taken') throw new Error('taken');
    // The file as the release before 003_refresh_binding left it, with a refresh token of then.
    const file = new BetterSqlite3(join(dir, 'older.db'));
    file.exec(
      `drop table lc_moved; alter table refresh_tokens drop column binding_hash; delete from kysely_migration where name in ('003_refresh_binding', '004_lc_moved'); delete from lc_migration_checksums where name in ('003_refresh_binding', '004_lc_moved')`,
    );
    file.prepare(`insert into refresh_tokens (id, user_id, family_id, token_hash, parent_id, family_expires_at, expires_at, created_at) values ('old-r', ?, 'f', 'h-old', null, ?, ?, ?)`).run(user.id, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, NOW);
    file.close();
    const target = await schema('move_older');
    const refused = await move('--from', from, '--to-database', target);
    expect([refused.code, refused.err]).toEqual([1, [`move-data: ${from} is not migrated to this release (pending: 003_refresh_binding, 004_lc_moved): start this release's app on it once, or run \`livecomponents migrate\` with DATABASE_URL=${from}, then stop it and move`]]);
    expect(await tableCount(target)).toBe(0);
    expect(await migrateCommand({ DATABASE_URL: from }, { out: () => undefined })).toBe(0);
    const moved = await move('--from', from, '--to-database', target);
    expect([moved.code, moved.err]).toEqual([0, []]);
    expect(moved.out).toContain('move-data: table refresh_tokens: 1 rows copied');
    const db = createDatabase(target);
    try {
      expect(await createAuthRepository(db).refreshByHash('h-old')).toEqual({ id: 'old-r', user_id: user.id, family_id: 'f', family_expires_at: Number.MAX_SAFE_INTEGER, expires_at: Number.MAX_SAFE_INTEGER, used_at: null, revoked_at: null, binding_hash: null });
    } finally {
      await db.destroy();
    }
  });

  it('a target database holding another app\'s tables: ours are made beside them, theirs are left as they were; another app\'s users table is refused', async () => {
    const from = await migratedFile('beside.db');
    const source = createDatabase(from);
    await createAuthRepository(source).insertUser({ email: 'beside@example.com', passwordHash: HASH, name: null }, NOW);
    await source.destroy();
    const target = await schema('move_beside');
    const db = createDatabase(target);
    try {
      await sql`create table orders (id serial primary key, total numeric(12, 2))`.execute(db);
      await sql`insert into orders (total) values (12.34), (99999999.99)`.execute(db);
      const moved = await move('--from', from, '--to-database', target);
      expect([moved.code, moved.err]).toEqual([0, []]);
      expect(moved.out).toContain('move-data: table users: 1 rows copied');
      expect((await sql<{ id: number; total: string }>`select id, total from orders order by id`.execute(db)).rows).toEqual([{ id: 1, total: '12.34' }, { id: 2, total: '99999999.99' }]);
      // Another app's users table (other columns) in a second database: refused by the migration's guard, nothing written.
      const other = await schema('move_other_users');
      const odb = createDatabase(other);
      try {
        await sql`create table users (id serial primary key, login text)`.execute(odb);
        // The file is marked as moved by the run above: cleared, as an operator moving it again would.
        expect((await move('--unmark', '--from', from)).code).toBe(0);
        const refused = await move('--from', from, '--to-database', other);
        expect(refused.code).toBe(1);
        expect(refused.err).toHaveLength(1);
        expect(refused.err[0]).toMatch(/table "users" already exists with other columns \(missing email, password_hash, name, created_at, updated_at; unexpected login\)/);
        expect((await sql<{ n: string | number }>`select count(*) as n from users`.execute(odb)).rows[0]?.n).toBe(0);
      } finally {
        await odb.destroy();
      }
    } finally {
      await db.destroy();
    }
  });
});
