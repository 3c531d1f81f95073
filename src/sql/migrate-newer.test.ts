/**
 * A database a newer release migrated (a rollback across a migration): `doctor --connect` said
 * "schema up to date", then `migrate` and start-up failed with Kysely's "corrupted migrations:
 * previously executed migration 003_future is missing". All three now refuse it in one wording.
 * Both engines.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { runServiceChecks } from '../cli/doctor-services.js';
import { migrateCommand } from '../cli/migrate.js';
import { loadConfig } from '../ops/config.js';
import { openBackends } from '../runtime/backends.js';
import { createDatabase } from './database.js';
import { migrateToLatest, MigrationError, newerMigrations } from './migrate.js';
import { createTestSchema, postgresAvailability, warnSkipped } from './test-postgres.js';

const NEWER = /the database was migrated by a newer release \(003_future, 004_later\); this release cannot run on it: deploy that release, or restore a backup taken before it migrated$/;

/** Migrates `url`, then records two migrations this release does not know, as a newer one would. */
async function migratedByNewerRelease(url: string): Promise<void> {
  const db = createDatabase(url);
  try {
    await migrateToLatest(db);
    expect(await newerMigrations(db)).toEqual([]);
    await sql`insert into kysely_migration (name, timestamp) values ('004_later', '2030-01-02T00:00:00.000Z'), ('003_future', '2030-01-01T00:00:00.000Z')`.execute(db);
  } finally {
    await db.destroy();
  }
}

async function expectRefusedEverywhere(url: string, where: string): Promise<void> {
  const db = createDatabase(url);
  try {
    expect(await newerMigrations(db)).toEqual(['003_future', '004_later']);
    const error = await migrateToLatest(db).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toMatch(NEWER);
  } finally {
    await db.destroy();
  }
  const database = (await runServiceChecks(loadConfig({ DATABASE_URL: url }), { timeoutMs: 2_000 }))[1];
  expect(database).toMatchObject({ ok: false, problems: [expect.stringMatching(new RegExp(`^DATABASE_URL: ${where}: ${NEWER.source}`))] });
  const err: string[] = [];
  expect(await migrateCommand({ DATABASE_URL: url }, { out: () => undefined, err: (l) => err.push(l) })).toBe(1);
  expect(err).toEqual([expect.stringMatching(new RegExp(`^migrate: ${where}: ${NEWER.source}`))]);
  // Start-up: the app's openBackends migrates first.
  await expect(openBackends({ databaseUrl: url })).rejects.toThrow(NEWER);
}

describe('a database a newer release migrated, on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lc-newer-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is refused by doctor --connect, migrate and start-up, naming the migrations it does not know', async () => {
    const url = `sqlite:${join(dir, 'newer.db')}`;
    await migratedByNewerRelease(url);
    await expectRefusedEverywhere(url, url);
  });

  it('a database without migrations has none this release does not know', async () => {
    const db = createDatabase(`sqlite:${join(dir, 'empty.db')}`);
    try {
      expect(await newerMigrations(db)).toEqual([]);
    } finally {
      await db.destroy();
    }
  });
});

const pg = await postgresAvailability();
if (pg.state === 'skip') warnSkipped('src/sql/migrate-newer.test.ts › PostgreSQL (1 test)', pg.reason);

describe.skipIf(pg.state === 'skip')('a database a newer release migrated, on PostgreSQL', () => {
  it('is refused by doctor --connect, migrate and start-up, in this schema only', async () => {
    if (pg.state === 'fail') throw new Error(pg.reason);
    const other = await createTestSchema('newer_other');
    const { url, drop } = await createTestSchema('newer');
    try {
      // Another schema's bookkeeping (another app, or the same on its own schema) is not ours.
      await migratedByNewerRelease(other.url);
      const db = createDatabase(url);
      try {
        expect(await newerMigrations(db)).toEqual([]);
      } finally {
        await db.destroy();
      }
      await migratedByNewerRelease(url);
      const parsed = new URL(url);
      await expectRefusedEverywhere(url, `postgres://${parsed.host}${parsed.pathname}`);
    } finally {
      await drop();
      await other.drop();
    }
  });
});
