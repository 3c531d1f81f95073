import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WAL_AUTOCHECKPOINT_PAGES, createDatabase, sqliteConnectionOf } from './database.js';
import { openBackends } from '../runtime/backends.js';
import { migrateToLatest, migrationConflicts, MigrationError, pendingMigrations } from './migrate.js';
import { MIGRATIONS } from './migrations/index.js';
import type { DatabaseSchema } from './schema.js';

const MIGRATIONS_NAMES = Object.keys(MIGRATIONS).sort();
import { createTestSchema, postgresAvailability, warnSkipped } from './test-postgres.js';

const ALL = Object.keys(MIGRATIONS);
const T0 = Date.UTC(2026, 0, 15, 10, 30);

const COLUMNS: Record<string, Record<string, boolean>> = {
  // column → nullable
  lc_kv: { key: false, value: false, expires_at: false },
  users: { id: false, email: false, password_hash: false, name: true, created_at: false, updated_at: false },
  access_tokens: {
    id: false, user_id: false, token_hash: false, family_id: false, expires_at: false, revoked_at: true, created_at: false,
  },
  refresh_tokens: {
    id: false, user_id: false, family_id: false, token_hash: false, parent_id: true, family_expires_at: false,
    expires_at: false, used_at: true, revoked_at: true, created_at: false, binding_hash: true,
  },
  password_resets: { token_hash: false, user_id: false, expires_at: false, used_at: true, created_at: false },
};

const INDEXES = [
  'lc_kv_expires_at_idx',
  'access_tokens_user_id_idx',
  'access_tokens_family_id_idx',
  'access_tokens_expires_at_idx',
  'refresh_tokens_user_id_idx',
  'refresh_tokens_family_id_idx',
  'refresh_tokens_expires_at_idx',
  'password_resets_user_id_idx',
  'password_resets_expires_at_idx',
];

/** The checks both engines pass, on a database from `open` (fresh and empty each time). */
function schemaChecks(
  open: () => Promise<{ db: Kysely<DatabaseSchema>; url: string; schema: string | undefined; indexes: () => Promise<string[]> }>,
  transactionalDdl: boolean,
) {
  let db: Kysely<DatabaseSchema>;
  let url: string;
  let schema: string | undefined;
  let indexes: () => Promise<string[]>;

  beforeEach(async () => {
    ({ db, url, schema, indexes } = await open());
  });
  afterEach(async () => {
    await db.destroy();
  });

  it('applies every migration once, in order, and then nothing', async () => {
    expect(await migrateToLatest(db)).toEqual(ALL);
    expect(ALL).toEqual([...ALL].sort());
    expect(await migrateToLatest(db)).toEqual([]);
  });

  it('creates the tables with their columns, nullability and indexes', async () => {
    await migrateToLatest(db);
    const tables = (await db.introspection.getTables()).filter((t) => schema === undefined || t.schema === schema);
    for (const [table, columns] of Object.entries(COLUMNS)) {
      const found = tables.find((t) => t.name === table);
      expect(found, table).toBeDefined();
      const actual = Object.fromEntries((found?.columns ?? []).map((c) => [c.name, c.isNullable]));
      expect(actual, table).toEqual(columns);
    }
    expect(await indexes()).toEqual(expect.arrayContaining(INDEXES));
  });

  it('keeps times as numbers, emails unique, token hashes unique, and cascades user deletion', async () => {
    await migrateToLatest(db);
    const user = { id: 'u1', email: 'ada@example.com', password_hash: 'h', name: null, created_at: T0, updated_at: T0 };
    await db.insertInto('users').values(user).execute();
    expect(await db.selectFrom('users').selectAll().executeTakeFirstOrThrow()).toEqual(user);
    await expect(db.insertInto('users').values({ ...user, id: 'u2' }).execute()).rejects.toThrow();

    const token = { user_id: 'u1', family_id: 'f1', expires_at: T0 + 900_000, revoked_at: null, created_at: T0 };
    await db.insertInto('access_tokens').values({ ...token, id: 'a1', token_hash: 'ha1' }).execute();
    await expect(db.insertInto('access_tokens').values({ ...token, id: 'a2', token_hash: 'ha1' }).execute()).rejects.toThrow();
    await db
      .insertInto('refresh_tokens')
      .values([
        { ...token, id: 'r1', token_hash: 'hr1', parent_id: null, family_expires_at: T0 + 1, used_at: T0, revoked_at: null },
        { ...token, id: 'r2', token_hash: 'hr2', parent_id: 'r1', family_expires_at: T0 + 1, used_at: null, revoked_at: null },
      ])
      .execute();
    await db.insertInto('password_resets').values({ token_hash: 'p1', user_id: 'u1', expires_at: T0, used_at: null, created_at: T0 }).execute();
    const refresh = await db.selectFrom('refresh_tokens').selectAll().where('id', '=', 'r2').executeTakeFirstOrThrow();
    expect(refresh.family_expires_at).toBe(T0 + 1);
    expect(typeof refresh.expires_at).toBe('number');

    // A token of an unknown user is refused (foreign keys are on in SQLite too).
    await expect(db.insertInto('access_tokens').values({ ...token, id: 'a3', token_hash: 'ha3', user_id: 'nobody' }).execute()).rejects.toThrow();

    await db.deleteFrom('users').where('id', '=', 'u1').execute();
    for (const table of ['access_tokens', 'refresh_tokens', 'password_resets'] as const) {
      const { n } = await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      expect(Number(n), table).toBe(0);
    }
  });

  const keeps = transactionalDdl ? 'rolling back the whole run' : 'keeping the ones before it';
  it(`fails with a MigrationError naming the migration, ${keeps}`, async () => {
    // A leftover `access_tokens` without `user_id`: 002 cannot index it.
    await db.schema.createTable('access_tokens').addColumn('id', 'text', (col) => col.primaryKey()).execute();
    const error = await migrateToLatest(db).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MigrationError);
    const kept = transactionalDdl ? [] : ['001_lc_kv'];
    expect(error).toMatchObject({ migrationName: '002_auth', applied: kept });
    expect((error as Error).message).toMatch(/^Migration "002_auth" failed: /);
    await db.schema.dropTable('access_tokens').execute();
    await db.schema.dropTable('users').ifExists().execute();
    expect(await migrateToLatest(db)).toEqual(ALL.filter((name) => !kept.includes(name)));
  });

  const recorded = async () => (await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db)).rows.map((r) => r.name);
  const columnsOf = async (table: string) =>
    (await db.introspection.getTables()).find((t) => t.name === table && (schema === undefined || t.schema === schema))?.columns.map((c) => c.name);

  it('refuses a `users` table another tool made: the error names it, start-up fails, 002_auth is not recorded', async () => {
    await sql`create table users (id text primary key, email text unique, password text, created_at ${sql.raw(transactionalDdl ? 'timestamptz' : 'text')})`.execute(db);
    expect(await migrationConflicts(db, await pendingMigrations(db))).toEqual([expect.stringMatching(/^002_auth: table "users" already exists with other columns \(missing password_hash, name, updated_at; unexpected password\): .*a schema of its own/)]);

    const error = await migrateToLatest(db).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    const kept = transactionalDdl ? [] : ['001_lc_kv'];
    expect(error).toMatchObject({ migrationName: '002_auth', applied: kept });
    expect((error as Error).message).toMatch(/^Migration "002_auth" failed: table "users" already exists with other columns .*LiveComponents did not create/);
    expect(await recorded()).toEqual(kept);
    // Nothing of 002 half-applied, and the other tool's table untouched.
    expect(await columnsOf('access_tokens')).toBeUndefined();
    expect(await columnsOf('users')).toEqual(['id', 'email', 'password', 'created_at']);

    // Start-up runs the same migrations and fails the same way, every time.
    for (let run = 0; run < 2; run++) {
      const started = openBackends({ databaseUrl: url, redisUrl: 'redis://127.0.0.1:1', onRedisError: () => undefined });
      await expect(started.then(async (b) => b.close())).rejects.toThrow(/Migration "002_auth" failed: table "users" already exists/);
    }
    expect(await recorded()).toEqual(kept);
  });

  it('refuses an index name another tool took', async () => {
    await sql`create table other (x bigint)`.execute(db);
    await sql`create index lc_kv_expires_at_idx on other (x)`.execute(db);
    const error = await migrateToLatest(db).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ migrationName: '001_lc_kv' });
    expect((error as Error).message).toMatch(/"lc_kv_expires_at_idx" already exists as an index on other\(x\), not an index on lc_kv\(expires_at\)/);
  });

  it('re-runs over its own tables (a run interrupted after the DDL, before the bookkeeping)', async () => {
    await migrateToLatest(db);
    expect(await migrationConflicts(db, await pendingMigrations(db))).toEqual([]);
    await sql`delete from kysely_migration`.execute(db);
    expect(await migrationConflicts(db, await pendingMigrations(db))).toEqual([]);
    expect(await migrateToLatest(db)).toEqual(ALL);
    expect(await recorded()).toEqual(ALL);
  });

  it('starts on a database an earlier run migrated', async () => {
    await migrateToLatest(db);
    await db.insertInto('users').values({ id: 'u1', email: 'a@b.c', password_hash: 'h', name: null, created_at: T0, updated_at: T0 }).execute();
    const backends = await openBackends({ databaseUrl: url, redisUrl: 'redis://127.0.0.1:1', onRedisError: () => undefined });
    const { n } = await backends.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(n)).toBe(1);
    await backends.close();
    expect(await recorded()).toEqual(ALL);
  });
}

describe('migrations on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-sql-'));
  let n = 0;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  schemaChecks(async () => {
    const url = `sqlite:${join(dir, `db-${++n}.sqlite`)}`;
    const db = createDatabase(url);
    const indexes = async () =>
      (await sql<{ name: string }>`select name from sqlite_master where type = 'index'`.execute(db)).rows.map((r) => r.name);
    return { db, url, schema: undefined, indexes };
  }, false);

  it('two processes starting on one new file at once both come up (Kysely takes no migration lock on SQLite)', async () => {
    for (let round = 0; round < 5; round++) {
      const file = join(dir, `shared-${round}.sqlite`);
      // Two connections, as two processes have: the migrators interleave at every await.
      const [a, b] = [createDatabase(`sqlite:${file}`), createDatabase(`sqlite:${file}`)];
      const applied = await Promise.all([migrateToLatest(a), migrateToLatest(b)]);
      // Between them every migration was applied, and the bookkeeping has each exactly once.
      expect(new Set(applied.flat())).toEqual(new Set(MIGRATIONS_NAMES));
      const rows = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(a);
      expect(rows.rows.map((r) => r.name)).toEqual(MIGRATIONS_NAMES);
      await Promise.all([a.destroy(), b.destroy()]);
    }
  });

  it('creates the folder, and opens the file in WAL mode with foreign keys on', async () => {
    const db = createDatabase(`sqlite:${join(dir, 'nested', 'deeper', 'app.db')}`);
    const native = sqliteConnectionOf(db);
    expect(native?.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(native?.pragma('foreign_keys', { simple: true })).toBe(1);
    // 0 once open: the lock is waited for off the event loop (src/sql/sqlite-lock-wait.ts).
    expect(native?.pragma('busy_timeout', { simple: true })).toBe(0);
    expect(native?.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(native?.pragma('wal_autocheckpoint', { simple: true })).toBe(WAL_AUTOCHECKPOINT_PAGES);
    expect(await migrateToLatest(db)).toEqual(ALL);
    await db.destroy();
  });

  it('creates its folders and files private to the app (0700, 0600: password hashes, emails, sessions), whatever the umask allows', async () => {
    const file = join(dir, 'private', 'app.db');
    const db = createDatabase(`sqlite:${file}`);
    await migrateToLatest(db);
    const mode = (path: string) => statSync(path).mode & 0o777;
    expect([mode(join(dir, 'private')), mode(file), mode(`${file}-wal`), mode(`${file}-shm`)]).toEqual([0o700, 0o600, 0o600, 0o600]);
    await db.destroy();
  });

  it('resolves a relative path against cwd', async () => {
    const db = createDatabase('sqlite:./rel/app.db', { cwd: dir });
    expect(sqliteConnectionOf(db)?.name).toBe(join(dir, 'rel', 'app.db'));
    await db.destroy();
  });
});

describe('migrations when PostgreSQL is down', () => {
  it('fail fast with a MigrationError instead of hanging', async () => {
    const db = createDatabase('postgres://postgres@127.0.0.1:1/test', { connectTimeoutMs: 1_000 });
    await expect(migrateToLatest(db)).rejects.toThrow(MigrationError);
    await db.destroy();
  });
});

const pgState = await postgresAvailability();
if (pgState.state === 'skip') warnSkipped('src/sql/migrate.test.ts › migrations on PostgreSQL (8 tests)', pgState.reason);

describe.skipIf(pgState.state === 'skip')('migrations on PostgreSQL', () => {
  if (pgState.state === 'fail') {
    it('needs PostgreSQL under CI', () => {
      throw new Error(pgState.reason);
    });
    return;
  }
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const drop of drops) await drop();
  });

  schemaChecks(async () => {
    const { url, schema, drop } = await createTestSchema('migrate');
    drops.push(drop);
    const db = createDatabase(url);
    const indexes = async () =>
      (await sql<{ name: string }>`select indexname as name from pg_indexes where schemaname = current_schema()`.execute(db)).rows.map(
        (r) => r.name,
      );
    return { db, url, schema, indexes };
  }, true);
});
