/**
 * `doctor --connect` reports a file `move-data` moved as one failing check of its own, `moved-data`,
 * and runs every other check all the same: the move's refusal used to be the file's only line, hiding
 * whatever else was wrong with it or the configuration.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { runDoctorConnected } from './doctor.js';
import { checkMovedData } from './move-data-doctor.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-moved-doctor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function markedFile(path: string, parts: readonly string[]): Promise<void> {
  mkdirSync(join(path, '..'), { recursive: true });
  const db = createDatabase(`sqlite:${path}`);
  try {
    await migrateToLatest(db);
    for (const part of parts) await sql`insert into lc_moved (part, target, moved_at) values (${part}, ${`somewhere for ${part}`}, '2026-12-05T10:00:00.000Z')`.execute(db);
  } finally {
    await db.destroy();
  }
}

describe('doctor --connect on a file move-data moved', () => {
  it('fails `moved-data` with the move, and still runs and reports the other checks', async () => {
    const path = join(dir, 'app', 'app.db');
    await markedFile(path, ['relational', 'key-value']);
    // Another problem of the configuration, which the doctor must still report.
    const report = await runDoctorConnected({ DATABASE_URL: `sqlite:${path}`, PORT: 'not-a-port' }, { cwd: dir, timeoutMs: 2_000 });
    const moved = report.checks.filter((c) => c.name === 'moved-data');
    expect(moved).toEqual([
      {
        name: 'moved-data',
        ok: false,
        summary: expect.any(String),
        problems: [expect.stringMatching(new RegExp(`^DATABASE_URL: sqlite:${path}: its sessions, .*somewhere for key-value.*; its users, tokens and password resets \\(the relational part\\) were moved to somewhere for relational .*: the app does not start on it`))],
      },
    ]);
    expect(report.ok).toBe(false);
    expect(report.lines.filter((l) => l.startsWith('FAIL moved-data: '))).toHaveLength(1);
    // The other checks ran: the file's folders, the listen address, the configuration's own problem.
    expect(report.checks.map((c) => c.name)).toEqual(expect.arrayContaining(['config', 'database', 'redis-server', 'listen', 'data-dir', 'database-files', 'log-file']));
    expect(report.lines.some((l) => l.startsWith('FAIL') && l.includes('PORT'))).toBe(true);
  });

  it('beside PostgreSQL without REDIS_URL: the embedded file\'s key-value part, named as REDIS_URL\'s to set; with REDIS_URL, no file is read', async () => {
    const cwd = join(dir, 'pg');
    await markedFile(join(cwd, 'data', 'livecomponents.db'), ['key-value']);
    const embedded = await checkMovedData({ DATABASE_URL: 'postgres://db.internal/app', REDIS_URL: undefined }, cwd);
    expect(embedded).toMatchObject({ name: 'moved-data', ok: false, problems: [expect.stringMatching(/^REDIS_URL: sqlite:.*livecomponents\.db: its sessions, .*\(the key-value part\) were moved to somewhere for key-value/)] });
    expect(await checkMovedData({ DATABASE_URL: 'postgres://db.internal/app', REDIS_URL: 'redis://redis.internal:6379' }, cwd)).toMatchObject({ ok: true, problems: [] });
    // The relational part only, with REDIS_URL set: the key-value part of that file is not used.
    const file = join(dir, 'kv-only', 'app.db');
    await markedFile(file, ['key-value']);
    expect(await checkMovedData({ DATABASE_URL: `sqlite:${file}`, REDIS_URL: 'redis://redis.internal:6379' }, cwd)).toMatchObject({ ok: true, summary: `sqlite:${file}: no part the app would use was moved by move-data` });
  });
});
