import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ownDatabase } from '../../test/helpers/postgres-database.js';
import { StoreUnavailableError } from '../core/errors.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest, MigrationError } from '../sql/migrate.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../sql/test-postgres.js';
import { openBackends } from './backends.js';
import { waitUntil } from '../../test/helpers/wait-until.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-backends-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('openBackends on SQLite', () => {
  it('reports each sweep that another connection’s write lock made fail, once, through onSweepError; the next sweep retries', async () => {
    const file = join(dir, 'sweep.db');
    const errors: unknown[] = [];
    // Another connection on the file, as another process would be: its BEGIN IMMEDIATE makes the
    // sweep's DELETE wait out the busy timeout, then fail with "database is locked".
    let holder: BetterSqlite3.Database | undefined;
    const backends = await openBackends({
      databaseUrl: `sqlite:${file}`,
      sweepIntervalMs: 50,
      onSweepError: (error) => {
        errors.push(error);
        // Let go after the second failed run: the run after it must succeed, and report nothing.
        if (errors.length === 2) holder?.exec('ROLLBACK');
      },
    });
    try {
      await backends.store.set('expired', 'v', 1);
      holder = new BetterSqlite3(file);
      holder.exec('BEGIN IMMEDIATE');
      const rows = holder.prepare('SELECT count(*) AS n FROM lc_kv WHERE key = ?');
      // Each failed run blocks for the 2 s busy timeout: polled until the test's own timeout (60 s).
      await waitUntil('two failed sweeps, then the expired row swept', () => errors.length >= 2 && (rows.get('expired') as { n: number }).n === 0, {
        seen: () => `${errors.length} failed sweeps, expired row ${(rows.get('expired') as { n: number }).n === 0 ? 'gone' : 'still there'}`,
      });
      expect((rows.get('expired') as { n: number }).n).toBe(0);
      await sleep(300); // a few more sweeps, which succeed
      expect(errors).toHaveLength(2);
      for (const error of errors) {
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect((error as Error).message).toMatch(/database is locked/);
      }
    } finally {
      if (holder?.inTransaction) holder.exec('ROLLBACK');
      holder?.close();
      await backends.close();
    }
  }, 60_000);
});

describe('openBackends when DATABASE_URL names an SQLite file it cannot open', () => {
  it('names DATABASE_URL before the file and the reason (was: "SQLite: cannot open …" alone)', async () => {
    const file = join(dir, 'not-a-database.db');
    writeFileSync(file, 'not a database, but long enough to have a header '.repeat(4));
    await expect(openBackends({ databaseUrl: `sqlite:${file}` })).rejects.toThrow(
      new Error(`DATABASE_URL: SQLite: cannot open ${file} (file is not a database): it is not an SQLite database; name the app's database file, or a new file to create`),
    );
  });

  it('a folder: names DATABASE_URL and says it is a folder', async () => {
    const folder = mkdtempSync(join(dir, 'folder-'));
    await expect(openBackends({ databaseUrl: `sqlite:${folder}` })).rejects.toThrow(
      new Error(`DATABASE_URL: SQLite: cannot open ${folder} (unable to open database file): it is a folder, not an SQLite file; name a file in it, such as sqlite:${folder}/app.db`),
    );
  });

  it('a DATABASE_URL that does not parse is named once, with REDIS_URL set or not (was "DATABASE_URL: DATABASE_URL: …" with it)', async () => {
    for (const [url, words] of [
      ['mysql://db/app', 'DATABASE_URL: unsupported scheme mysql:; use sqlite:PATH or postgres://…'],
      ['sqlite:', 'DATABASE_URL: "sqlite:" needs a file path, for example sqlite:./data/app.db'],
    ]) {
      // The database is opened before the store: Redis is never reached.
      await expect(openBackends({ databaseUrl: url, redisUrl: 'redis://127.0.0.1:1' })).rejects.toThrow(new TypeError(words));
      await expect(openBackends({ databaseUrl: url })).rejects.toThrow(new TypeError(words));
    }
  });

  it('a migration failure names DATABASE_URL too (was: the file and what it holds only)', async () => {
    const file = join(dir, 'newer.db');
    await migratedByNewerRelease(`sqlite:${file}`);
    const error = await openBackends({ databaseUrl: `sqlite:${file}` }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toBe(`DATABASE_URL: sqlite:${file} (users, tokens and the key-value store): ${NEWER}`);
  });
});

/** Migrates `url`, then records a migration this release does not know, as a newer release would. */
async function migratedByNewerRelease(url: string): Promise<void> {
  const db = createDatabase(url);
  try {
    await migrateToLatest(db);
    await sql`insert into kysely_migration (name, timestamp) values ('003_future', '2030-01-01T00:00:00.000Z')`.execute(db);
  } finally {
    await db.destroy();
  }
}

const NEWER = 'the database was migrated by a newer release (003_future); this release cannot run on it: deploy that release, or restore a backup taken before it migrated';

describe('openBackends on the embedded default file a newer release migrated', () => {
  it('outside production adds that deleting the data folder (or pointing DATABASE_URL at another file) starts afresh (was: production\'s words only)', async () => {
    const cwd = mkdtempSync(join(dir, 'dev-newer-'));
    const file = join(cwd, 'data', 'livecomponents.db');
    await migratedByNewerRelease(`sqlite:${file}`);
    const error = await openBackends({ cwd, production: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toBe(
      `DATABASE_URL: sqlite:${file} (users, tokens and the key-value store): ${NEWER}; in development, deleting ${join(cwd, 'data')}/ (or pointing DATABASE_URL at another file) starts afresh`,
    );
  });

  it('in production, or on a file of its own choosing, keeps production\'s words', async () => {
    const cwd = mkdtempSync(join(dir, 'prod-newer-'));
    const file = join(cwd, 'data', 'livecomponents.db');
    await migratedByNewerRelease(`sqlite:${file}`);
    const error = await openBackends({ cwd, production: true }).catch((e: unknown) => e);
    expect((error as Error).message).toBe(`DATABASE_URL: sqlite:${file} (users, tokens and the key-value store): ${NEWER}`);
    const own = join(cwd, 'own.db');
    await migratedByNewerRelease(`sqlite:${own}`);
    const ownError = await openBackends({ cwd, databaseUrl: `sqlite:${own}`, production: false }).catch((e: unknown) => e);
    expect((ownError as Error).message).toBe(`DATABASE_URL: sqlite:${own} (users, tokens and the key-value store): ${NEWER}`);
  });
});
const KV_FILE = '(the embedded key-value store, as REDIS_URL is not set: sessions, state, idempotency records)';

const pgState = await postgresAvailability();
if (pgState.state === 'skip') warnSkipped('src/runtime/backends.test.ts › openBackends on PostgreSQL without Redis (4 tests)', pgState.reason);

describe.skipIf(pgState.state === 'skip')('openBackends on PostgreSQL without Redis: two databases migrated at start-up', () => {
  it('a failure of the embedded key-value file names that file (was: the same words as for PostgreSQL, naming neither)', async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    const cwd = mkdtempSync(join(dir, 'kv-newer-'));
    const { url, drop } = await createTestSchema('backends_kv_newer');
    try {
      await migratedByNewerRelease(`sqlite:${join(cwd, 'data', 'livecomponents.db')}`);
      const error = await openBackends({ databaseUrl: url, cwd }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MigrationError);
      // Outside production (vitest's NODE_ENV is 'test'): how to start afresh, no DATABASE_URL to point elsewhere.
      expect((error as Error).message).toBe(`sqlite:${join(cwd, 'data', 'livecomponents.db')} ${KV_FILE}: ${NEWER}; in development, deleting ${join(cwd, 'data')}/ starts afresh`);
    } finally {
      await drop();
    }
  });

  it('warns of a table of ours with a NOT NULL column without a default, which doctor --connect fails, and starts (was: silent until every insert failed)', async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    const cwd = mkdtempSync(join(dir, 'pg-unfilled-'));
    const { url, drop } = await createTestSchema('backends_pg_unfilled');
    try {
      const warnings: string[] = [];
      const first = await openBackends({ databaseUrl: url, cwd, onSchemaWarning: (m) => warnings.push(m) });
      await sql`alter table users add column tenant text not null`.execute(first.db);
      await first.close();
      expect(warnings).toEqual([]);
      const again = await openBackends({ databaseUrl: url, cwd, onSchemaWarning: (m) => warnings.push(m) });
      await again.close();
      expect(warnings).toEqual([
        'DATABASE_URL: postgres://127.0.0.1:5432/test (users and tokens): table "users" has column tenant NOT NULL without a default, which this release does not write: every insert into "users" would fail; give it a default or allow NULL in it',
      ]);
    } finally {
      await drop();
    }
  });

  it('a failure of PostgreSQL names DATABASE_URL, the database and what it holds', async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    const cwd = mkdtempSync(join(dir, 'pg-newer-'));
    const { url, drop } = await createTestSchema('backends_pg_newer');
    try {
      await migratedByNewerRelease(url);
      const error = await openBackends({ databaseUrl: url, cwd }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as Error).message).toBe(`DATABASE_URL: postgres://127.0.0.1:5432/test (users and tokens): ${NEWER}`);
    } finally {
      await drop();
    }
  });

  it('says that another process is migrating PostgreSQL when it gives up waiting for it (was: "Migrations failed: … statement timeout", after 9 s)', async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    const cwd = mkdtempSync(join(dir, 'pg-lock-'));
    // A database of its own: the migration lock (Kysely's advisory lock) is database-wide.
    const own = await ownDatabase('backends_lock');
    const holder = new pg.Client({ connectionString: own.url });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock(3853314791062309107)');
      const error = await openBackends({ databaseUrl: own.url, cwd, migrationTimeoutMs: 1_500 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as Error).message).toBe(
        `DATABASE_URL: postgres://127.0.0.1:5432${new URL(own.url).pathname} (users and tokens): Migrations waited about 1.5 s for another process that is migrating this database (its migrator holds the migration lock until its run ends) and gave up (PostgreSQL: canceling statement due to statement timeout): let that migration finish, then start again or run \`livecomponents migrate\``,
      );
    } finally {
      await holder.end();
      await own.drop();
    }
  }, 60_000);
});
