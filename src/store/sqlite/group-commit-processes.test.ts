/**
 * Two app processes on one SQLite file, each group commit of both made to throw once and run again
 * (`commitJobs`): between one process's ROLLBACK and its retry the other may write. The guarantees
 * that must hold whatever the other wrote meanwhile, exactly: every idempotency key claimed by one
 * process only (and holding its value), and a rate limit admitting exactly its limit in all.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../sql/database.js';
import { migrateToLatest } from '../../sql/migrate.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-group-commit-processes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface ChildReport {
  label: string;
  won: string[];
  admitted: number;
  refused: number;
  boomRejected: number;
  rollbacks: number;
  unexpected: string[];
}

const ROUNDS = 40;
const CLAIMS = 5;
const STEPS = 3;
const LIMIT = 50;

/** test/helpers/group-commit-child.mjs in another process; resolves its report once it exits. */
function child(url: string, label: string): { ready: Promise<void>; go(): void; done: Promise<ChildReport> } {
  const script = fileURLToPath(new URL('../../../test/helpers/group-commit-child.mjs', import.meta.url));
  const proc = fork(script, [url, label, String(ROUNDS), String(CLAIMS), String(STEPS)], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, LC_TEST_LIMIT: String(LIMIT) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  proc.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // A liveness bound, not a timing assertion: a child that hangs is killed and the test fails below.
  const kill = setTimeout(() => proc.kill('SIGKILL'), 90_000);
  const ready = new Promise<void>((resolve) => proc.once('message', () => resolve()));
  const done = new Promise<ChildReport>((resolve, reject) => {
    proc.once('exit', (code, signal) => {
      clearTimeout(kill);
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as ChildReport);
      } catch {
        reject(new Error(`child ${label} exited ${code ?? signal}: ${line}\n${stderr}`));
      }
    });
  });
  return { ready, go: () => proc.send('go'), done };
}

describe('sqlite group commit across processes', () => {
  it('two processes whose every group throws once and runs again: each key claimed once, the limit admitted exactly', async () => {
    const path = join(dir, 'shared.db');
    const url = `sqlite:${path}`;
    const db = createDatabase(url);
    await migrateToLatest(db);
    await sql`CREATE TRIGGER lc_kv_boom BEFORE INSERT ON lc_kv WHEN NEW.key = 'lc-test-boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`.execute(db);
    try {
      const children = [child(url, 'A'), child(url, 'B')];
      await Promise.all(children.map((c) => c.ready));
      for (const c of children) c.go();
      const reports = await Promise.all(children.map((c) => c.done));

      for (const report of reports) {
        expect(report.unexpected).toEqual([]);
        // Every round's refused write failed alone, once per round.
        expect(report.boomRejected).toBe(ROUNDS);
        // Each group rolled back whole once at least (its first try), then ran apart: the path under test.
        expect(report.rollbacks).toBeGreaterThanOrEqual(ROUNDS);
      }
      // Every key won by exactly one process, and held by it.
      const [a, b] = reports as [ChildReport, ChildReport];
      const all = [...a.won, ...b.won].sort();
      expect(all).toHaveLength(ROUNDS * CLAIMS);
      expect(new Set(all).size).toBe(ROUNDS * CLAIMS);
      const rows = await db.selectFrom('lc_kv').select(['key', 'value']).where('key', 'like', 'idem:%').execute();
      const holder = new Map(rows.map((row) => [row.key, row.value]));
      expect(rows).toHaveLength(ROUNDS * CLAIMS);
      for (const key of a.won) expect(holder.get(key)).toBe('A');
      for (const key of b.won) expect(holder.get(key)).toBe('B');
      // 240 steps of a limit of 50 per hour (one more every 72 s): exactly 50 admitted in all.
      expect(a.admitted + b.admitted).toBe(LIMIT);
      expect(a.refused + b.refused).toBe(2 * ROUNDS * STEPS - LIMIT);
    } finally {
      await db.destroy();
    }
  }, 120_000);
});
