import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../core/errors.js';
import { openBackends } from './backends.js';

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
      // A liveness bound, not a timing assertion: each failed run blocks for the 2 s busy timeout.
      const deadline = Date.now() + 50_000;
      while ((errors.length < 2 || (rows.get('expired') as { n: number }).n > 0) && Date.now() < deadline) await sleep(20);
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
