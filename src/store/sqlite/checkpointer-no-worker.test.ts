import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { afterAll, expect, it, vi } from 'vitest';
import { createDatabase, sqliteConnectionOf, WAL_AUTOCHECKPOINT_PAGES } from '../../sql/database.js';
import { migrateToLatest } from '../../sql/migrate.js';
import { createSqliteStore } from './index.js';

// As under a bundler without worker support: the Worker constructor throws.
vi.mock('node:worker_threads', () => ({
  Worker: class {
    constructor() {
      throw new Error('worker_threads is not supported here');
    }
  },
}));

const dir = mkdtempSync(join(tmpdir(), 'lc-sqlite-no-worker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('a worker that cannot start: the store says so through onSweepError and checkpoints on the main thread, as before', async () => {
  const path = join(dir, 'store.db');
  const db = createDatabase(`sqlite:${path}`);
  await migrateToLatest(db);
  const onSweepError = vi.fn();
  const store = await createSqliteStore({ db, sweepIntervalMs: 0, onSweepError });
  expect(onSweepError).toHaveBeenCalledTimes(1);
  expect(String((onSweepError.mock.calls[0] as [Error])[0].message)).toBe(
    `SQLite store: the WAL checkpoint worker could not start: worker_threads is not supported here; checkpoints run on the main thread (wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES})`,
  );
  const native = sqliteConnectionOf(db) as BetterSqlite3.Database;
  expect(native.pragma('wal_autocheckpoint', { simple: true })).toBe(WAL_AUTOCHECKPOINT_PAGES);
  for (let i = 0; i < 100; i++) await store.set(`k${i}`, 'x'.repeat(2_000), 60_000);
  expect(statSync(`${path}-wal`).size).toBeGreaterThan(200_000);
  await store.sweepExpired();
  expect(statSync(`${path}-wal`).size).toBe(0);
  await store.close();
  await db.destroy();
});
