/**
 * `doctor --connect` on a database that already holds another tool's `users`: the pending
 * `002_auth` would fail on it, so the database check fails, naming the table (start-up would refuse
 * it too). Both engines; no Redis needed. And an SQLite file that cannot be opened (a folder): a FAIL
 * line in the report. And the key-value store's table: with PostgreSQL and no REDIS_URL the embedded
 * file was not looked at (a renamed column passed, and start-up stopped), and in either file a
 * `lc_kv` the store's statements fail on (`key` no primary key) passed as "schema up to date".
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../ops/config.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../sql/test-postgres.js';
import { runDoctorConnected } from './doctor.js';
import { runServiceChecks } from './doctor-services.js';

const database = async (url: string) => (await runServiceChecks(loadConfig({ DATABASE_URL: url }), { timeoutMs: 2_000 }))[1];

async function addForeignUsers(url: string): Promise<void> {
  const db = createDatabase(url);
  try {
    await db.schema.createTable('users').addColumn('id', 'text', (c) => c.primaryKey()).addColumn('email', 'text').addColumn('password', 'text').execute();
  } finally {
    await db.destroy();
  }
}

const CONFLICT = /: migration 002_auth: table "users" already exists with other columns \(missing password_hash, name, created_at, updated_at; unexpected password\)/;

describe('doctor --connect: a table another tool made', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-doctor-db-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fails an SQLite file whose `users` is not ours, and passes one with only pending migrations', async () => {
    const url = `sqlite:${join(dir, 'foreign.db')}`;
    await addForeignUsers(url);
    const result = await database(url);
    expect(result?.ok).toBe(false);
    expect(result?.problems).toEqual([expect.stringMatching(new RegExp(`^DATABASE_URL: ${url}${CONFLICT.source}`))]);

    const clean = `sqlite:${join(dir, 'clean.db')}`;
    await createDatabase(clean).destroy();
    expect(await database(clean)).toMatchObject({ ok: true, summary: `${clean} opens; 4 migration(s) pending (001_lc_kv, 002_auth, 003_refresh_binding, 004_lc_moved), applied at start-up or by livecomponents migrate` });
  });
});

describe('doctor --connect: an SQLite database that cannot be opened', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-doctor-open-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a DATABASE_URL naming a folder as a FAIL line of the whole checklist, not an abort', async () => {
    // SQLite answers "disk I/O error" opening a folder read-only; thrown outside the check, it ended
    // the doctor with that one line: no checklist, nothing for --json.
    const folder = join(dir, 'app.db');
    mkdirSync(folder);
    const report = await runDoctorConnected({ DATABASE_URL: `sqlite:${folder}` }, { timeoutMs: 2_000 });
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === 'database')?.problems).toEqual([`DATABASE_URL: sqlite:${folder} cannot be opened (disk I/O error): it is a folder, not an SQLite file`]);
    expect(report.checks.map((c) => c.name)).toEqual(expect.arrayContaining(['config', 'redis-server', 'database', 'clock', 'database-files']));
  });
});

describe('doctor --connect: the key-value store\'s SQLite table', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-doctor-kv-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;

  /** A folder whose `data/livecomponents.db` (the embedded file) is migrated, then given `statements`. */
  async function embeddedFile(statements: string[]): Promise<{ cwd: string; file: string }> {
    const cwd = join(dir, `app-${++n}`);
    const file = join(cwd, 'data', 'livecomponents.db');
    mkdirSync(dirname(file), { recursive: true });
    const db = createDatabase(`sqlite:${file}`);
    try {
      await migrateToLatest(db);
      for (const statement of statements) await sql.raw(statement).execute(db);
    } finally {
      await db.destroy();
    }
    return { cwd, file };
  }

  // An older layout: the migration's columns, but `key` no primary key. Start-up's migration takes it
  // as its own (the columns match), then the store's statements fail on it and start-up stops.
  const NO_PRIMARY_KEY = [
    'drop table lc_kv',
    'create table lc_kv (key text not null, value text not null, expires_at bigint not null)',
    'create index lc_kv_expires_at_idx on lc_kv (expires_at)',
  ];
  const NOT_THE_TABLE =
    ': table "lc_kv" is not the one migration 001_lc_kv makes: the key-value store\'s statements fail on it (ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint), so start-up would stop; restore a backup taken before it was changed';
  const EMBEDDED = 'REDIS_URL is not set, so sessions and state go to the embedded SQLite file: ';
  // No server is asked for the embedded file: a PostgreSQL URL nobody answers on will do.
  const POSTGRES = 'postgres://app@127.0.0.1:1/app';
  // What start-up does with the embedded file (src/runtime/backends.ts): migrate it, open the store on it.
  const startUpOn = async (file: string) => (await createSqliteStore({ url: `sqlite:${file}`, sweepIntervalMs: 0 })).close();
  const redisServer = async (cwd: string) => (await runServiceChecks(loadConfig({ DATABASE_URL: POSTGRES }), { timeoutMs: 2_000, cwd }))[0];

  it('PostgreSQL without REDIS_URL: checks the embedded file as start-up migrates it (a column renamed)', async () => {
    const { cwd, file } = await embeddedFile(['alter table lc_kv rename column value to val']);
    await expect(startUpOn(file)).rejects.toThrow('migration 001_lc_kv differs from the one applied to this database: table "lc_kv" lacks column value');
    expect(await redisServer(cwd)).toMatchObject({
      ok: false,
      problems: [
        `${EMBEDDED}sqlite:${file}: migration 001_lc_kv differs from the one applied to this database: table "lc_kv" lacks column value: a migration must not change once applied (a change goes in a new one): deploy the release that applied it, or restore a backup taken before it was applied`,
      ],
    });
  });

  it('PostgreSQL without REDIS_URL: fails an embedded lc_kv the store\'s statements fail on, as start-up does', async () => {
    const { cwd, file } = await embeddedFile(NO_PRIMARY_KEY);
    await expect(startUpOn(file)).rejects.toThrow('createSqliteStore: the lc_kv table is missing or unreadable');
    expect(await redisServer(cwd)).toMatchObject({ ok: false, problems: [`${EMBEDDED}sqlite:${file}${NOT_THE_TABLE}`] });
  });

  it('PostgreSQL without REDIS_URL: passes an embedded file that is current or not made yet, and writes nothing', async () => {
    const { cwd, file } = await embeddedFile([]);
    expect(await redisServer(cwd)).toEqual({
      name: 'redis-server',
      ok: true,
      summary: `no REDIS_URL: sessions and state go to the embedded SQLite file: sqlite:${file} opens; schema up to date`,
      problems: [],
    });
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(await redisServer(empty)).toMatchObject({
      ok: true,
      summary: `no REDIS_URL: sessions and state go to the embedded SQLite file: sqlite:${join(empty, 'data', 'livecomponents.db')} does not exist yet; start-up creates and migrates it`,
    });
    expect(readdirSync(empty)).toEqual([]);
  });

  it('leaves no -wal or -shm beside a file it checks (a read-only connection made both and could not remove them), and still reads a running app\'s', async () => {
    const { cwd, file } = await embeddedFile([]);
    expect(readdirSync(dirname(file))).toEqual(['livecomponents.db']);
    expect(await redisServer(cwd)).toMatchObject({ ok: true, summary: `no REDIS_URL: sessions and state go to the embedded SQLite file: sqlite:${file} opens; schema up to date` });
    expect(await database(`sqlite:${file}`)).toMatchObject({ ok: true, summary: `sqlite:${file} opens; schema up to date` });
    expect(readdirSync(dirname(file))).toEqual(['livecomponents.db']);
    // The app running (its -wal and -shm there): a commit still in the -wal is read.
    const app = createDatabase(`sqlite:${file}`);
    try {
      await sql.raw('alter table lc_kv rename column value to val').execute(app);
      expect(readdirSync(dirname(file)).sort()).toEqual(['livecomponents.db', 'livecomponents.db-shm', 'livecomponents.db-wal']);
      expect(await redisServer(cwd)).toMatchObject({ ok: false, problems: [expect.stringContaining('table "lc_kv" lacks column value')] });
    } finally {
      await app.destroy();
    }
    expect(readdirSync(dirname(file))).toEqual(['livecomponents.db']);
  });

  it('SQLite: fails a DATABASE_URL file whose lc_kv the store\'s statements fail on, unless the store is Redis', async () => {
    const { file } = await embeddedFile(NO_PRIMARY_KEY);
    const url = `sqlite:${file}`;
    expect(await database(url)).toMatchObject({ ok: false, problems: [`DATABASE_URL: ${url}${NOT_THE_TABLE}`] });
    // With Redis the store never opens lc_kv: nothing to refuse (Redis itself is not asked here).
    const withRedis = (await runServiceChecks(loadConfig({ DATABASE_URL: url, REDIS_URL: 'redis://127.0.0.1:1' }), { timeoutMs: 2_000 }))[1];
    expect(withRedis).toMatchObject({ ok: true, summary: `${url} opens; schema up to date` });
  });
});

const pg = await postgresAvailability();
if (pg.state === 'skip') warnSkipped('src/cli/doctor-database.test.ts › PostgreSQL (1 test)', pg.reason);

describe.skipIf(pg.state === 'skip')('doctor --connect: a table another tool made, on PostgreSQL', () => {
  it('fails a schema whose `users` is not ours', async () => {
    if (pg.state === 'fail') throw new Error(pg.reason);
    const { url, drop } = await createTestSchema('doctor_conflict');
    try {
      await addForeignUsers(url);
      const result = await database(url);
      expect(result?.ok).toBe(false);
      expect(result?.problems).toEqual([expect.stringMatching(CONFLICT)]);
    } finally {
      await drop();
    }
  });
});
