import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../core/clock.js';
import { createDatabase, sqliteConnectionOf, WAL_AUTOCHECKPOINT_PAGES } from '../../sql/database.js';
import { migrateToLatest } from '../../sql/migrate.js';
import { startCheckpointer } from './checkpointer.js';
import { createSqliteStore } from './index.js';
import * as SQL from './statements.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-sqlite-checkpointer-'));
let files = 0;
const filePath = () => join(dir, `db-${++files}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A WAL-mode file with a table, on a connection that never checkpoints by itself. */
function walFile(path = filePath()): BetterSqlite3.Database {
  const native = new BetterSqlite3(path);
  native.pragma('journal_mode = WAL');
  native.pragma('wal_autocheckpoint = 1234');
  native.exec('CREATE TABLE t (v TEXT)');
  return native;
}

/** The wal-index header: frames in the WAL since it last started over (mxFrame), and copied back (nBackfill). */
function walState(path: string): { frames: number; copied: number } {
  const header = Buffer.alloc(100);
  const fd = openSync(`${path}-shm`, 'r');
  try {
    readSync(fd, header, 0, 100, 0);
  } finally {
    closeSync(fd);
  }
  const u32 = (offset: number) => (endianness() === 'LE' ? header.readUInt32LE(offset) : header.readUInt32BE(offset));
  return { frames: u32(16), copied: u32(96) };
}

const framesToCopy = (path: string) => walState(path).frames - walState(path).copied;

function writePages(native: BetterSqlite3.Database, rows: number): void {
  const insert = native.prepare('INSERT INTO t (v) VALUES (?)');
  for (let i = 0; i < rows; i++) insert.run('x'.repeat(4_000));
}

const noMainThreadTruncate = () => Promise.reject(new Error('the main thread must not checkpoint'));

describe('sqlite WAL checkpointer (worker thread)', () => {
  it('turns the automatic checkpoint off, copies the WAL back from its thread past the threshold (the WAL starts over), and gives the setting back on close', async () => {
    const path = filePath();
    const native = walFile(path);
    const onError = vi.fn();
    const checkpointer = startCheckpointer(native, { truncateOnMainThread: noMainThreadTruncate, onError, thresholdFrames: 20 });
    expect(native.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    writePages(native, 50);
    expect(framesToCopy(path)).toBeGreaterThanOrEqual(50);
    // Nothing runs on this thread: the worker's PASSIVE checkpoint copies every frame back.
    await vi.waitFor(() => expect(framesToCopy(path)).toBe(0), { timeout: 10_000, interval: 20 });
    // And the next write transaction starts the WAL over instead of growing it.
    writePages(native, 1);
    expect(walState(path).frames).toBeLessThan(5);
    await checkpointer.close();
    expect(native.pragma('wal_autocheckpoint', { simple: true })).toBe(1234);
    expect(onError).not.toHaveBeenCalled();
    native.close();
  });

  it('truncates the WAL on its thread when asked, and stops its thread on close (the last connection then deletes the WAL)', async () => {
    const path = filePath();
    const native = walFile(path);
    const checkpointer = startCheckpointer(native, { truncateOnMainThread: noMainThreadTruncate, onError: vi.fn() });
    writePages(native, 50);
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(200_000);
    await checkpointer.truncate();
    expect(statSync(`${path}-wal`).size).toBe(0);
    await checkpointer.close();
    await checkpointer.close();
    native.close();
    // Still open in a thread, the worker's connection would have kept them.
    expect(existsSync(`${path}-wal`)).toBe(false);
    expect(existsSync(`${path}-shm`)).toBe(false);
  });

  it('falls back to the main thread when the worker dies (here: at start, its file gone), and says so', async () => {
    const path = filePath();
    const native = walFile(path);
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
    const onError = vi.fn();
    const truncateOnMainThread = vi.fn(() => Promise.resolve());
    const checkpointer = startCheckpointer(native, { truncateOnMainThread, onError });
    await vi.waitFor(() => expect(onError).toHaveBeenCalledTimes(1), { timeout: 10_000, interval: 20 });
    expect(String((onError.mock.calls[0] as [Error])[0].message)).toMatch(/^SQLite store: the WAL checkpoint worker stopped \(exit code 1\).*checkpoints run on the main thread/);
    expect(native.pragma('wal_autocheckpoint', { simple: true })).toBe(1234);
    await checkpointer.truncate();
    expect(truncateOnMainThread).toHaveBeenCalledTimes(1);
    await checkpointer.close();
    native.close();
  });

  it('starts no worker for an in-memory database', async () => {
    const native = new BetterSqlite3(':memory:');
    const truncateOnMainThread = vi.fn(() => Promise.resolve());
    const checkpointer = startCheckpointer(native, { truncateOnMainThread, onError: vi.fn() });
    expect(native.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await checkpointer.truncate();
    expect(truncateOnMainThread).toHaveBeenCalledTimes(1);
    await checkpointer.close();
    native.close();
  });
});

describe('sqlite store checkpoints', () => {
  it("the store's connection never checkpoints by itself while the store is open (a worker does); two stores on one connection share that", async () => {
    const db = createDatabase(`sqlite:${filePath()}`);
    await migrateToLatest(db);
    const native = sqliteConnectionOf(db) as BetterSqlite3.Database;
    expect(native.pragma('wal_autocheckpoint', { simple: true })).toBe(WAL_AUTOCHECKPOINT_PAGES);
    const first = await createSqliteStore({ db, sweepIntervalMs: 0 });
    const second = await createSqliteStore({ db, sweepIntervalMs: 0 });
    expect(native.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    await first.close();
    expect(native.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    await second.close();
    expect(native.pragma('wal_autocheckpoint', { simple: true })).toBe(WAL_AUTOCHECKPOINT_PAGES);
    await db.destroy();
  });

  it('close() stops the worker: the store opened by URL leaves no -wal or -shm behind', async () => {
    const path = filePath();
    const store = await createSqliteStore({ url: `sqlite:${path}`, sweepIntervalMs: 0 });
    await store.set('k', 'v', 60_000);
    await store.sweepExpired();
    await store.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    expect(existsSync(`${path}-shm`)).toBe(false);
  });

  it('a sweep of large expired values still deletes them all, in chunks of at most 16 MiB of values', async () => {
    const clock = manualClock();
    const store = await createSqliteStore({ url: `sqlite:${filePath()}`, clock, sweepIntervalMs: 0 });
    const big = 'v'.repeat(1_000_000);
    for (let i = 0; i < 40; i++) await store.set(`big-${i}`, big, 1_000);
    await store.set('young', 'v', 60_000);
    clock.advance(1_000);
    expect(await store.sweepExpired()).toBe(40);
    expect(await store.get('young')).toBe('v');
    await store.close();
  });
});

describe('sweep statement', () => {
  it('ends a chunk after the row that brings the bytes deleted past the limit (at least one row), within the row limit', () => {
    const native = new BetterSqlite3(':memory:');
    native.exec('CREATE TABLE lc_kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL, expires_at BIGINT NOT NULL)');
    const insert = native.prepare('INSERT INTO lc_kv VALUES (?, ?, ?)');
    for (let i = 0; i < 10; i++) insert.run(`old-${i}`, 'x'.repeat(1_000), 10);
    insert.run('young', 'x'.repeat(1_000), 100);
    const sweep = native.prepare(SQL.SWEEP);
    const anyExpired = native.prepare(SQL.ANY_EXPIRED).pluck();
    expect(sweep.run(50, 500, 2_500).changes).toBe(3); // 0 + 1,000 + 2,000 bytes before each: under 2,500
    expect(sweep.run(50, 500, 1).changes).toBe(1);
    expect(sweep.run(50, 2, 1_000_000).changes).toBe(2);
    expect(anyExpired.get(50)).toBe(1);
    expect(sweep.run(50, 500, 1_000_000).changes).toBe(4);
    expect(anyExpired.get(50)).toBeUndefined();
    expect(native.prepare('SELECT key FROM lc_kv').pluck().all()).toEqual(['young']);
    native.close();
  });
});
