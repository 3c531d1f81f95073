import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ownDatabase } from '../../test/helpers/postgres-database.js';
import { createDatabase } from '../sql/database.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../sql/test-postgres.js';
import { migrateCommand } from './migrate.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-migrate-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the command, capturing what it prints. */
async function migrate(env: Record<string, string | undefined>, timeoutMs?: number) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await migrateCommand(env, { out: (l) => out.push(l), err: (l) => err.push(l), cwd: dir, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  return { code, out, err };
}

describe('migrateCommand on SQLite', () => {
  it('migrates the default database under ./data, one line per migration, then says it is up to date', async () => {
    expect(await migrate({})).toEqual({ code: 0, out: ['migrate: applied 001_lc_kv', 'migrate: applied 002_auth', 'migrate: applied 003_refresh_binding', 'migrate: applied 004_lc_moved'], err: [] });
    expect(existsSync(join(dir, 'data', 'livecomponents.db'))).toBe(true);
    const again = await migrate({ DATABASE_URL: '' });
    expect(again).toEqual({ code: 0, out: [`migrate: sqlite:${join(dir, 'data', 'livecomponents.db')} is up to date`], err: [] });
  });

  it('uses DATABASE_URL', async () => {
    const { code, out } = await migrate({ DATABASE_URL: 'sqlite:./other/app.db' });
    expect(code).toBe(0);
    expect(out).toHaveLength(4);
    expect(existsSync(join(dir, 'other', 'app.db'))).toBe(true);
  });

  it('exits 1 with one clear line when a migration fails, listing those that applied', async () => {
    const url = `sqlite:${join(dir, 'broken.db')}`;
    const db = createDatabase(url);
    await db.schema.createTable('access_tokens').addColumn('id', 'text').execute();
    await db.destroy();
    const { code, out, err } = await migrate({ DATABASE_URL: url });
    expect(code).toBe(1);
    expect(out).toEqual(['migrate: applied 001_lc_kv']);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/Migration "002_auth" failed: .*user_id/);
  });

  it("exits 1 naming the table when the database holds another tool's `users`", async () => {
    const url = `sqlite:${join(dir, 'foreign-users.db')}`;
    const db = createDatabase(url);
    await db.schema.createTable('users').addColumn('id', 'text', (c) => c.primaryKey()).addColumn('email', 'text').addColumn('password', 'text').execute();
    await db.destroy();
    const { code, out, err } = await migrate({ DATABASE_URL: url });
    expect(code).toBe(1);
    expect(out).toEqual(['migrate: applied 001_lc_kv']);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/Migration "002_auth" failed: table "users" already exists with other columns \(missing password_hash, name, created_at, updated_at; unexpected password\)/);
  });

  it('exits 1 on an unsupported URL without echoing it', async () => {
    const { code, err } = await migrate({ DATABASE_URL: 'mysql://root:secret@db/app' });
    expect(code).toBe(1);
    expect(err).toEqual(['migrate: DATABASE_URL: unsupported scheme mysql:; use sqlite:PATH or postgres://…']);
  });

  it('refuses an in-memory SQLite database: nothing it applied would persist', async () => {
    const { code, out, err } = await migrate({ DATABASE_URL: 'sqlite::memory:' });
    expect([code, out]).toEqual([1, []]);
    expect(err).toEqual([
      'migrate: DATABASE_URL is sqlite::memory:, which lives only inside one process; nothing would persist. Migrate a file or a PostgreSQL database (the app migrates its own in-memory one at start-up)',
    ]);
  });

  it('exits 1 when PostgreSQL cannot be reached, without printing the password', async () => {
    const { code, err } = await migrate({ DATABASE_URL: 'postgres://app:hunter2@127.0.0.1:1/app' });
    expect(code).toBe(1);
    expect(err[0]).toMatch(/^migrate: postgres:\/\/127\.0\.0\.1:1\/app: Migrations could not start/);
    expect(err.join('\n')).not.toContain('hunter2');
  });
});

const pgState = await postgresAvailability();
if (pgState.state === 'skip') warnSkipped('src/cli/migrate.test.ts › migrateCommand on PostgreSQL (4 tests)', pgState.reason);

describe.skipIf(pgState.state === 'skip')('migrateCommand on PostgreSQL', () => {
  it('migrates a schema, then says it is up to date', async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    const { url, drop } = await createTestSchema('cli');
    try {
      expect(await migrate({ DATABASE_URL: url })).toMatchObject({ code: 0, out: ['migrate: applied 001_lc_kv', 'migrate: applied 002_auth', 'migrate: applied 003_refresh_binding', 'migrate: applied 004_lc_moved'] });
      expect((await migrate({ DATABASE_URL: url })).out).toEqual(['migrate: postgres://127.0.0.1:5432/test is up to date']);
    } finally {
      await drop();
    }
  });

  it("exits 1 naming the table when the schema holds another tool's `users`, applying nothing", async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    const { url, schema, drop } = await createTestSchema('cli_conflict');
    const db = createDatabase(url);
    try {
      await db.schema.createTable('users').addColumn('id', 'text', (c) => c.primaryKey()).addColumn('email', 'text').addColumn('password', 'text').execute();
      const { code, out, err } = await migrate({ DATABASE_URL: url });
      expect([code, out]).toEqual([1, []]);
      expect(err[0]).toMatch(/Migration "002_auth" failed: table "users" already exists with other columns/);
      expect((await db.introspection.getTables()).filter((t) => t.schema === schema).map((t) => t.name)).toEqual(['users']);
    } finally {
      await db.destroy();
      await drop();
    }
  });
});

/** Kysely's migration lock on PostgreSQL (its PostgresAdapter): a session advisory lock, database-wide. */
const MIGRATION_LOCK = '3853314791062309107';

/**
 * Another process migrating: a connection holding the migration lock. A database of the test's own:
 * advisory locks are per database, and other suites migrate their schemas in the shared one.
 */
async function lockHolder(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`select pg_advisory_lock(${MIGRATION_LOCK})`);
  return client;
}

describe.skipIf(pgState.state === 'skip')('migrateCommand on PostgreSQL while another process migrates', () => {
  it('waits for it past the app’s query timeout (was: gave up after 9 s with "canceling statement due to statement timeout")', async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    const own = await ownDatabase('migrate_wait');
    const holder = await lockHolder(own.url);
    let released = false;
    // Longer than the app's 10 s query timeout (its statement_timeout: 9 s), which migrations ran under.
    const release = setTimeout(() => void holder.query(`select pg_advisory_unlock(${MIGRATION_LOCK})`).then(() => (released = true)), 10_500);
    try {
      const { code, out, err } = await migrate({ DATABASE_URL: own.url });
      expect({ code, out, err, released }).toEqual({ code: 0, out: ['migrate: applied 001_lc_kv', 'migrate: applied 002_auth', 'migrate: applied 003_refresh_binding', 'migrate: applied 004_lc_moved'], err: [], released: true });
    } finally {
      clearTimeout(release);
      await holder.end();
      await own.drop();
    }
  }, 60_000);

  it('says that another process is migrating when it gives up waiting (was: "Migrations failed: PostgreSQL failed: canceling statement due to statement timeout")', async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    const own = await ownDatabase('migrate_gives_up');
    const holder = await lockHolder(own.url);
    try {
      const { code, out, err } = await migrate({ DATABASE_URL: own.url }, 1_500);
      const name = new URL(own.url).pathname;
      expect({ code, out, err }).toEqual({
        code: 1,
        out: [],
        err: [
          `migrate: postgres://127.0.0.1:5432${name}: Migrations waited about 1.5 s for another process that is migrating this database (its migrator holds the migration lock until its run ends) and gave up (PostgreSQL: canceling statement due to statement timeout): let that migration finish, then start again or run \`livecomponents migrate\``,
        ],
      });
    } finally {
      await holder.end();
      await own.drop();
    }
  }, 60_000);
});
