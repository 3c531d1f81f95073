/**
 * `doctor --connect` on a database that already holds another tool's `users`: the pending
 * `002_auth` would fail on it, so the database check fails, naming the table (start-up would refuse
 * it too). Both engines; no Redis needed. And an SQLite file that cannot be opened (a folder): a FAIL
 * line in the report.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../ops/config.js';
import { createDatabase } from '../sql/database.js';
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
    expect(await database(clean)).toMatchObject({ ok: true, summary: `${clean} opens; 2 migration(s) pending (001_lc_kv, 002_auth), applied at start-up or by livecomponents migrate` });
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
