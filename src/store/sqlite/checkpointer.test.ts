import { fork } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase, sqliteConnectionOf, WAL_AUTOCHECKPOINT_PAGES } from '../../sql/database.js';
import { migrateToLatest } from '../../sql/migrate.js';
import type { DatabaseSchema } from '../../sql/schema.js';
import { CHECKPOINT_PAGES, checkpointerOf, WAL_BACKSTOP_FACTOR, type Checkpointer } from './checkpointer.js';
import { createSqliteStore } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-sqlite-checkpointer-'));
let files = 0;
const newPath = () => join(dir, `db-${++files}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bytes of `pages` WAL frames (4 KiB pages, 24-byte frame headers) and the WAL header. */
const walBytes = (pages: number) => 32 + pages * (4_096 + 24);
const walSize = (path: string) => statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Small, so that a few MB of writes cross it many times. */
const PAGES = 256;

function checkpointer(db: Kysely<DatabaseSchema>): Checkpointer {
  const native = sqliteConnectionOf(db);
  const found = native === undefined ? undefined : checkpointerOf(native);
  if (found === undefined) throw new Error('no checkpointer');
  return found;
}

/** Runs checkpointer.child.mjs in another process (tsx, from the sources); resolves its exit and its JSON line. */
function child(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: unknown; stderr: string }> {
  const script = fileURLToPath(new URL('./checkpointer.child.mjs', import.meta.url));
  const proc = fork(script, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  proc.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Generous: a liveness bound, not a timing assertion (a child that hangs is killed and fails below).
  const kill = setTimeout(() => proc.kill('SIGKILL'), 90_000);
  return new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      clearTimeout(kill);
      const line = stdout.trim().split('\n').pop() ?? '';
      let out: unknown;
      try {
        out = JSON.parse(line);
      } catch {
        out = line;
      }
      resolve({ code, signal, out, stderr });
    });
  });
}

describe('the WAL checkpoint worker', () => {
  it('two processes writing one file while both checkpoint: no SIGBUS, no corruption, every row there, the WAL bounded', async () => {
    const path = newPath();
    const url = `sqlite:${path}`;
    const db = createDatabase(url, { walCheckpointPages: PAGES });
    await migrateToLatest(db);
    const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
    const rows = 2_000;
    const value = 'p'.repeat(8_000);
    const other = child(['writer', url, String(rows), '8000', String(PAGES)]);
    let walMax = 0;
    const sampler = setInterval(() => (walMax = Math.max(walMax, walSize(path))), 5);
    for (let i = 0; i < rows; i += 10) {
      const writes: Promise<void>[] = [];
      for (let j = i; j < i + 10; j++) writes.push(store.set(`parent:${j}`, value, 3_600_000));
      await Promise.all(writes);
      walMax = Math.max(walMax, walSize(path));
      await sleep(5);
    }
    const done = await other;
    clearInterval(sampler);

    expect(done.stderr).toBe('');
    expect({ code: done.code, signal: done.signal }).toEqual({ code: 0, signal: null });
    const out = done.out as { committed: number; reopened: number; stats: { truncated: number } };
    expect(out.committed).toBe(rows);
    expect(out.reopened).toBe(rows / 100);
    const native = sqliteConnectionOf(db);
    expect(native?.pragma('integrity_check', { simple: true })).toBe('ok');
    const count = (prefix: string) => native?.prepare('SELECT count(*) FROM lc_kv WHERE key GLOB ?').pluck().get(`${prefix}:*`);
    expect([count('parent'), count('child')]).toEqual([rows, rows]);
    // 32 MB written: the workers checkpointed it (both processes had one), and the file stayed within
    // twice the backstop's size (~8 MB here; the old automatic checkpoint let it reach ~40 MB). Not
    // the backstop itself: with two processes writing, a TRUNCATE waits for a moment when neither
    // reads, and a loaded machine (CI) saw 4.49 MB against a 4.47 MB backstop.
    expect(checkpointer(db).stats().truncated + out.stats.truncated).toBeGreaterThan(0);
    expect(walMax).toBeLessThan(2 * walBytes(WAL_BACKSTOP_FACTOR * PAGES));
    expect(checkpointer(db).stats().failed).toBe(0);
    await store.close();
    await db.destroy();
  });

  it('the worker, not the main connection, checkpoints: the WAL is reset each time it crosses the threshold, never nearing the backstop', async () => {
    const path = newPath();
    const db = createDatabase(`sqlite:${path}`, { walCheckpointPages: PAGES });
    await migrateToLatest(db);
    const native = sqliteConnectionOf(db);
    expect(native?.pragma('wal_autocheckpoint', { simple: true })).toBe(WAL_BACKSTOP_FACTOR * PAGES);
    const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
    const value = 'w'.repeat(16_000);
    let walMax = 0;
    let n = 0;
    for (let cycle = 1; cycle <= 5; cycle++) {
      while (walSize(path) < walBytes(PAGES)) {
        await store.set(`k${n++ % 50}`, value, 3_600_000);
        walMax = Math.max(walMax, walSize(path));
      }
      // Only a TRUNCATE shrinks the file, and the main thread runs none here (no sweep).
      for (let waited = 0; walSize(path) >= walBytes(PAGES); waited += 10) {
        if (waited > 60_000) throw new Error(`cycle ${cycle}: the WAL was never reset`);
        await sleep(10);
      }
    }
    // The main connection's automatic checkpoint runs at a commit that leaves WAL_BACKSTOP_FACTOR ×
    // PAGES frames in the WAL; every commit left fewer (the file holds at least its frames).
    expect(walMax).toBeLessThan(walBytes(WAL_BACKSTOP_FACTOR * PAGES));
    // The worker's report of the last TRUNCATE may arrive after the file was seen cut.
    for (let waited = 0; checkpointer(db).stats().truncated < 5 && waited < 10_000; waited += 10) await sleep(10);
    const stats = checkpointer(db).stats();
    expect(stats.truncated).toBeGreaterThanOrEqual(5);
    expect(stats.auto).toBeGreaterThanOrEqual(5);
    await store.close();
    await db.destroy();
  });

  it('is one per file per process, stops with the last connection, and waits for its thread', async () => {
    const path = newPath();
    const first = createDatabase(`sqlite:${path}`);
    await migrateToLatest(first);
    const second = createDatabase(`sqlite:${path}`);
    const shared = checkpointer(first);
    expect(checkpointer(second)).toBe(shared);
    expect(shared.running).toBe(true);
    await first.destroy();
    expect(shared.running).toBe(true);
    // The sweep's TRUNCATE runs there.
    const store = await createSqliteStore({ db: second, sweepIntervalMs: 0 });
    for (let i = 0; i < 50; i++) await store.set(`k${i}`, 'x'.repeat(4_000), 60_000);
    expect(walSize(path)).toBeGreaterThan(200_000);
    await store.sweepExpired();
    expect(walSize(path)).toBe(0);
    expect(shared.stats()).toMatchObject({ auto: 0, truncated: 1 });
    await store.close();
    await second.destroy();
    expect(shared.running).toBe(false);
    // In memory: none, and the defaults.
    const memory = createDatabase('sqlite::memory:');
    expect(checkpointerOf(sqliteConnectionOf(memory) as NonNullable<ReturnType<typeof sqliteConnectionOf>>)).toBeUndefined();
    expect(WAL_AUTOCHECKPOINT_PAGES).toBe(WAL_BACKSTOP_FACTOR * CHECKPOINT_PAGES);
    await memory.destroy();
  });

  it('a process that opens a store and never closes it still exits by itself', async () => {
    const done = await child(['never-closed', `sqlite:${newPath()}`]);
    expect(done.stderr).toBe('');
    expect({ code: done.code, signal: done.signal, out: done.out }).toEqual({ code: 0, signal: null, out: { running: true } });
  });

  it("a script whose last work is `await store.sweepExpired()` gets its answer (the worker is held while the sweep's TRUNCATE is awaited)", async () => {
    const done = await child(['sweep-only', `sqlite:${newPath()}`]);
    expect(done.stderr).toBe('');
    expect({ code: done.code, signal: done.signal, out: done.out }).toEqual({ code: 0, signal: null, out: { swept: 50, closed: true } });
  });

  it('a worker that dies is reported through onSweepError; the store keeps working, the sweep truncates on the main thread', async () => {
    const path = newPath();
    const setup = createDatabase(`sqlite:${path}`);
    await migrateToLatest(setup);
    await setup.destroy();
    const errors: unknown[] = [];
    const db = createDatabase(`sqlite:${path}`);
    const opening = createSqliteStore({ db, sweepIntervalMs: 0, onSweepError: (error) => errors.push(error) });
    // Before the new thread gets to open it (it loads its modules first): it finds no file and dies.
    // This connection keeps the file it opened.
    renameSync(path, `${path}.moved`);
    const store = await opening;
    for (let waited = 0; checkpointer(db).running; waited += 10) {
      if (waited > 60_000) throw new Error('the worker did not die');
      await sleep(10);
    }
    expect(errors).toHaveLength(1);
    expect(String((errors[0] as Error).message)).toMatch(/^SQLite: the WAL checkpoint worker of .+ stopped \(exit code 1\): .+; the automatic checkpoint on the main thread bounds the WAL from now on$/);
    for (let i = 0; i < 50; i++) await store.set(`k${i}`, 'x'.repeat(4_000), 60_000);
    expect(await store.get('k49')).toBe('x'.repeat(4_000));
    expect(walSize(path)).toBeGreaterThan(200_000);
    await store.sweepExpired();
    expect(walSize(path)).toBe(0);
    expect(errors).toHaveLength(1);
    renameSync(`${path}.moved`, path);
    await store.close();
    await db.destroy();
  });
});
