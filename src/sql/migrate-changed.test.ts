/**
 * An applied migration that differs from this release's (edited after it shipped): Kysely's
 * migrator compares names only, so `migrate` said "up to date", `doctor --connect` "schema up to
 * date", start-up passed and the first /register answered 500 (no column `name`). Now a checksum of
 * each migration is recorded as it is applied (`lc_migration_checksums`, filled in once for
 * databases migrated before), the tables of applied migrations are checked for the columns this
 * release expects, and all three refuse such a database in one wording. Also: doctor --connect
 * reports an index name a pending migration would meet (migrate and start-up refused it, the
 * doctor said "ok"), and a table of ours with a column NOT NULL without a default, which made every
 * insert into it fail while the doctor said "schema up to date". Both engines.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { runServiceChecks } from '../cli/doctor-services.js';
import { migrateCommand } from '../cli/migrate.js';
import { loadConfig } from '../ops/config.js';
import { openBackends } from '../runtime/backends.js';
import { createDatabase } from './database.js';
import { changedMigrations, migrateToLatest, MigrationError, migrationConflicts, pendingMigrations } from './migrate.js';
import { planOf } from './migrations/plan.js';
import { createTestSchema, postgresAvailability, warnSkipped } from './test-postgres.js';

const ADVICE =
  'a migration must not change once applied \\(a change goes in a new one\\): deploy the release that applied it, or restore a backup taken before it was applied';
const CHECKSUM_CHANGED = new RegExp(
  `^migration 002_auth differs from the one applied to this database: its checksum is e636488e03c9…, the database recorded 000000000000…: ${ADVICE}$`,
);
const COLUMN_DROPPED = new RegExp(`^migration 002_auth differs from the one applied to this database: table "users" lacks column name: ${ADVICE}$`);

async function withDb<T>(url: string, run: (db: Kysely<unknown>) => Promise<T>): Promise<T> {
  const db = createDatabase(url) as unknown as Kysely<unknown>;
  try {
    return await run(db);
  } finally {
    await db.destroy();
  }
}

const noChecksumTable = async (db: Kysely<unknown>) =>
  expect(sql`select count(*) from lc_migration_checksums`.execute(db)).rejects.toThrow(/lc_migration_checksums/);

const checksums = async (db: Kysely<unknown>) =>
  (await sql<{ name: string; checksum: string }>`select name, checksum from lc_migration_checksums order by name`.execute(db)).rows;

async function expected(): Promise<{ name: string; checksum: string }[]> {
  return [
    { name: '001_lc_kv', checksum: (await planOf('001_lc_kv')).checksum },
    { name: '002_auth', checksum: (await planOf('002_auth')).checksum },
    { name: '003_refresh_binding', checksum: (await planOf('003_refresh_binding')).checksum },
    { name: '004_lc_moved', checksum: (await planOf('004_lc_moved')).checksum },
  ];
}

const databaseCheck = async (url: string) => (await runServiceChecks(loadConfig({ DATABASE_URL: url }), { timeoutMs: 2_000 }))[1];

/** `migrate`, `doctor --connect` and start-up all refuse `url` with `message`; `migrate` exits 1. */
async function expectRefusedEverywhere(url: string, where: string, message: RegExp): Promise<void> {
  await withDb(url, async (db) => {
    expect(await changedMigrations(db)).toEqual([expect.stringMatching(message)]);
    const error = await migrateToLatest(db).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect(error).toMatchObject({ migrationName: undefined, applied: [] });
    expect((error as Error).message).toMatch(message);
  });
  const body = message.source.slice(1);
  expect(await databaseCheck(url)).toMatchObject({ ok: false, problems: [expect.stringMatching(new RegExp(`^DATABASE_URL: ${where}: ${body}`))] });
  const err: string[] = [];
  expect(await migrateCommand({ DATABASE_URL: url }, { out: () => undefined, err: (l) => err.push(l) })).toBe(1);
  expect(err).toEqual([expect.stringMatching(new RegExp(`^migrate: ${where}: ${body}`))]);
  // Start-up: the app's openBackends migrates first (and may name the database before the message).
  await expect(openBackends({ databaseUrl: url, redisUrl: 'redis://127.0.0.1:1', onRedisError: () => undefined })).rejects.toThrow(new RegExp(body));
}

function changedChecks(open: () => Promise<{ url: string; where: string }>) {
  it('records the checksum of each migration as it is applied', async () => {
    const { url } = await open();
    await withDb(url, async (db) => {
      await migrateToLatest(db);
      expect(await checksums(db)).toEqual(await expected());
      expect(await changedMigrations(db)).toEqual([]);
      expect(await migrateToLatest(db)).toEqual([]);
      expect(await checksums(db)).toEqual(await expected());
    });
  });

  it('refuses an applied migration whose recorded checksum differs, in migrate, doctor --connect and start-up', async () => {
    const { url, where } = await open();
    await withDb(url, async (db) => {
      await migrateToLatest(db);
      await sql`update lc_migration_checksums set checksum = ${'0'.repeat(64)} where name = '002_auth'`.execute(db);
    });
    await expectRefusedEverywhere(url, where, CHECKSUM_CHANGED);
    // Refused, not overwritten.
    await withDb(url, async (db) => expect((await checksums(db))[1]?.checksum).toBe('0'.repeat(64)));
  });

  it('refuses a database whose applied 002_auth made users without name (the probe: migrated before checksums)', async () => {
    const { url, where } = await open();
    await withDb(url, async (db) => {
      await migrateToLatest(db);
      await sql`drop table lc_migration_checksums`.execute(db);
      await sql`alter table users drop column name`.execute(db);
    });
    await expectRefusedEverywhere(url, where, COLUMN_DROPPED);
    // No checksum recorded for a schema that is not this release's.
    await withDb(url, noChecksumTable);
  });

  it('fills in the checksums of a database migrated before they were recorded, once, and the doctor writes nothing', async () => {
    const { url } = await open();
    await withDb(url, async (db) => {
      await migrateToLatest(db);
      await sql`drop table lc_migration_checksums`.execute(db);
    });
    expect(await databaseCheck(url)).toEqual({ name: 'database', ok: true, summary: expect.stringMatching(/; schema up to date$/), problems: [] });
    await withDb(url, async (db) => {
      await noChecksumTable(db);
      expect(await migrateToLatest(db)).toEqual([]);
      expect(await checksums(db)).toEqual(await expected());
    });
    expect(await databaseCheck(url)).toMatchObject({ ok: true, problems: [] });
  });

  it('doctor --connect fails a table of ours with a column NOT NULL without a default, and lets nullable ones and defaults be', async () => {
    const { url, where } = await open();
    const postgres = url.startsWith('postgres');
    await withDb(url, async (db) => {
      await migrateToLatest(db);
      // Columns that fill themselves: nullable, a default, and the engine's own (an identity; the rowid).
      await sql`alter table users add column note text`.execute(db);
      await sql`alter table users add column flag integer not null default 0`.execute(db);
      if (postgres) await sql`alter table users add column seq integer generated always as identity`.execute(db);
      else {
        await sql`drop table password_resets`.execute(db);
        await sql`create table password_resets (n integer primary key not null, token_hash text not null, user_id text not null, expires_at bigint not null, used_at bigint, created_at bigint not null)`.execute(db);
      }
    });
    expect(await databaseCheck(url)).toMatchObject({ ok: true, problems: [] });
    await withDb(url, async (db) => {
      // SQLite adds no NOT NULL column without a default to a table: made again with one.
      if (postgres) await sql`alter table lc_kv add column owner text not null`.execute(db);
      else {
        await sql`drop table lc_kv`.execute(db);
        await sql`create table lc_kv (key text primary key not null, value text not null, expires_at bigint not null, owner text not null)`.execute(db);
      }
      // Why it fails: no insert of ours names the column.
      await expect(sql`insert into lc_kv (key, value, expires_at) values ('k', 'v', 1)`.execute(db)).rejects.toThrow(/owner/);
    });
    expect(await databaseCheck(url)).toMatchObject({
      ok: false,
      problems: [`DATABASE_URL: ${where}: table "lc_kv" has column owner NOT NULL without a default, which this release does not write: every insert into "lc_kv" would fail; give it a default or allow NULL in it`],
    });
    // Start-up is not refused: on PostgreSQL a trigger may fill such a column.
    await withDb(url, async (db) => expect(await migrateToLatest(db)).toEqual([]));
    if (!postgres) return;
    // And the doctor lets one be that a BEFORE INSERT row trigger fills; a disabled trigger fills nothing.
    await withDb(url, async (db) => {
      await sql`create function lc_test_fill_owner() returns trigger language plpgsql as $$ begin new.owner := 'app'; return new; end $$`.execute(db);
      await sql`create trigger lc_test_fill_owner before insert on lc_kv for each row execute function lc_test_fill_owner()`.execute(db);
      await sql`insert into lc_kv (key, value, expires_at) values ('k', 'v', 1)`.execute(db);
    });
    expect(await databaseCheck(url)).toMatchObject({ ok: true, problems: [] });
    await withDb(url, (db) => sql`alter table lc_kv disable trigger lc_test_fill_owner`.execute(db));
    expect(await databaseCheck(url)).toMatchObject({ ok: false, problems: [expect.stringContaining('table "lc_kv" has column owner NOT NULL without a default')] });
  });

  it('doctor --connect reports an index name a pending migration would meet, as migrate then fails on it', async () => {
    const { url, where } = await open();
    await withDb(url, async (db) => {
      await sql`create table legacy (x bigint)`.execute(db);
      await sql`create index refresh_tokens_expires_at_idx on legacy (x)`.execute(db);
      const index =
        '"refresh_tokens_expires_at_idx" already exists as an index on legacy(x), not an index on refresh_tokens(expires_at): the database holds an object of that name that LiveComponents did not create';
      expect(await migrationConflicts(db, await pendingMigrations(db))).toEqual([expect.stringContaining(`002_auth: ${index}`)]);
      const check = await databaseCheck(url);
      expect(check).toMatchObject({ ok: false, problems: [expect.stringContaining(`DATABASE_URL: ${where}: migration 002_auth: ${index}: point DATABASE_URL at`)] });
      await expect(migrateToLatest(db)).rejects.toThrow(`Migration "002_auth" failed: ${index}`);
    });
  });
}

describe('an applied migration that differs from this release\'s, on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-changed-'));
  let n = 0;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  changedChecks(() => {
    const url = `sqlite:${join(dir, `db-${++n}.sqlite`)}`;
    return Promise.resolve({ url, where: url });
  });

  it('doctor --connect fails an INTEGER PRIMARY KEY of a WITHOUT ROWID table: no rowid fills it (it passed as one, NOT NULL declared or not)', async () => {
    for (const declared of ['', ' not null']) {
      const url = `sqlite:${join(dir, `db-${++n}.sqlite`)}`;
      await withDb(url, async (db) => {
        await migrateToLatest(db);
        await sql`drop table lc_kv`.execute(db);
        await sql.raw(`create table lc_kv (n integer${declared} primary key, key text not null unique, value text not null, expires_at bigint not null) without rowid`).execute(db);
        await expect(sql`insert into lc_kv (key, value, expires_at) values ('k', 'v', 1)`.execute(db)).rejects.toThrow('NOT NULL constraint failed: lc_kv.n');
      });
      expect(await databaseCheck(url)).toMatchObject({
        ok: false,
        problems: [expect.stringContaining(`table "lc_kv" has column n NOT NULL without a default, which this release does not write`)],
      });
    }
  });
});

const pg = await postgresAvailability();
if (pg.state === 'skip') warnSkipped('src/sql/migrate-changed.test.ts › PostgreSQL (7 tests)', pg.reason);

describe.skipIf(pg.state === 'skip')('an applied migration that differs from this release\'s, on PostgreSQL', () => {
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const drop of drops) await drop();
  });
  const open = async () => {
    if (pg.state === 'fail') throw new Error(pg.reason);
    const { url, drop } = await createTestSchema('changed');
    drops.push(drop);
    const parsed = new URL(url);
    return { url, where: `postgres://${parsed.host}${parsed.pathname}` };
  };
  changedChecks(open);

  it('starts on a read-only standby migrated before checksums: nothing to fill in is no failure', async () => {
    const { url } = await open();
    await withDb(url, async (db) => {
      await migrateToLatest(db);
      await sql`drop table lc_migration_checksums`.execute(db);
    });
    const readOnly = new URL(url);
    readOnly.searchParams.set('options', `${readOnly.searchParams.get('options') ?? ''} -c default_transaction_read_only=on`);
    await withDb(readOnly.toString(), async (db) => {
      await expect(sql`create table probe (x int)`.execute(db)).rejects.toThrow(/read-only transaction/);
      expect(await migrateToLatest(db)).toEqual([]);
      await noChecksumTable(db);
    });
  });
});
