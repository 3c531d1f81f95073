/**
 * The SQLite store waits for another connection's write lock off the event loop (`src/sql/sqlite-lock-wait.ts`).
 * The lock is held by a worker thread's own connection (another process, as far as SQLite knows):
 * its `BEGIN IMMEDIATE` is what a second app process, the checkpoint worker's TRUNCATE or another
 * process's sweep looks like to this one. The loop's freedom is measured by a 5 ms interval timer:
 * before the fix a write held it for the whole wait (≥ 1,000 ms here), now it never stalls for long.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../core/errors.js';
import { createDatabase, sqliteConnectionOf } from '../../sql/database.js';
import { migrateToLatest } from '../../sql/migrate.js';
import type { DatabaseSchema } from '../../sql/schema.js';
import type { Store } from '../types.js';
import { createSqliteStore, type SqliteStore } from './index.js';
import { holdWriteLock, loopWatch, MAX_STALL_MS } from '../../../test/helpers/sqlite-lock.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-sqlite-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;


const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe.each(['shared db', 'url'] as const)('sqlite store (%s): another connection holds the write lock', (how) => {
  let path: string;
  let db: Kysely<DatabaseSchema> | undefined;
  let store: SqliteStore;

  async function open(timeoutMs?: number): Promise<SqliteStore> {
    path = join(dir, `lock-${++files}.db`);
    if (how === 'url') {
      store = await createSqliteStore({ url: `sqlite:${path}`, timeoutMs, sweepIntervalMs: 0 });
    } else {
      db = createDatabase(`sqlite:${path}`);
      await migrateToLatest(db);
      store = await createSqliteStore({ db, timeoutMs, sweepIntervalMs: 0 });
    }
    return store;
  }

  afterEach(async () => {
    await store.close();
    await db?.destroy();
    db = undefined;
  });

  it('waits for it off the event loop, then writes; the calls keep their order and their atomicity', async () => {
    await open();
    await store.set('expired', 'x', 1);
    const policy = { algorithm: 'gcra' as const, limit: 1, windowMs: 60_000 };
    const lock = await holdWriteLock(path, 1_500);
    let writtenAt = 0;
    const watch = loopWatch();

    const first = store.set('k', 'a', 60_000);
    await nextTurn();
    // One group of its own (two jobs in one transaction), behind the first.
    const second = store.set('k', 'b', 60_000);
    const claimed = store.claim('c', 'first', 60_000);
    const allowed = store.rateLimit('rl', policy, Date.now());
    await nextTurn();
    const taken = store.claim('c', 'second', 60_000);
    const refused = store.rateLimit('rl', policy, Date.now());
    const read = store.get('k');
    const batch = store.batch([
      { op: 'get', key: 'k' },
      { op: 'deleteIfEquals', key: 'c', expected: 'first' },
      { op: 'claim', key: 'c', value: 'third', ttlMs: 60_000 },
    ]);
    const swept = store.sweepExpired();
    void first.then(() => (writtenAt = Date.now()));

    const results = await Promise.all([first, second, claimed, allowed, taken, refused, read, batch, swept]);
    const stall = watch.stop();
    expect(writtenAt).toBeGreaterThanOrEqual(await lock.released);
    expect(results.map((r) => (typeof r === 'object' && r !== null && 'allowed' in r ? r.allowed : r))).toEqual([
      undefined,
      undefined,
      null,
      true,
      'first',
      false,
      'b',
      ['b', true, null],
      1,
    ]);
    expect(await store.getMany(['k', 'c', 'expired'])).toEqual(['b', 'third', null]);
    expect(stall).toBeLessThan(MAX_STALL_MS);
  });

  it('held past timeoutMs: the write fails with the error it always had, nothing half-written, and the loop stays free', async () => {
    await open(1_000);
    const lock = await holdWriteLock(path);
    const watch = loopWatch();
    const started = performance.now();
    const outcomes = await Promise.allSettled([
      store.set('k', 'v', 60_000),
      store.batch([
        { op: 'set', key: 'a', value: 'A', ttlMs: 60_000 },
        { op: 'claim', key: 'c', value: 'C', ttlMs: 60_000 },
      ]),
      store.health(),
    ]);
    const waited = performance.now() - started;
    const stall = watch.stop();
    lock.release();
    await lock.released;

    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      const error = (outcome as PromiseRejectedResult).reason as StoreUnavailableError;
      expect(error).toBeInstanceOf(StoreUnavailableError);
      // SQLite's own words for a busy timeout that ran out, as before.
      expect(error.message).toBe('SQLite store: database is locked');
      expect((error.cause as { code?: string }).code).toBe('SQLITE_BUSY');
    }
    expect(waited).toBeGreaterThanOrEqual(990);
    expect(await store.getMany(['k', 'a', 'c'])).toEqual([null, null, null]);
    // Free again: the next write goes through at once.
    await store.set('k', 'after', 60_000);
    expect(await store.get('k')).toBe('after');
    expect(stall).toBeLessThan(MAX_STALL_MS);
  });

  it('close() lets a write already waiting for the lock finish first', async () => {
    await open();
    const lock = await holdWriteLock(path, 300);
    const write = store.set('k', 'kept', 60_000);
    await nextTurn();
    await store.close();
    await expect(write).resolves.toBeUndefined();
    await lock.released;
    const reader = new BetterSqlite3(path, { readonly: true });
    expect(reader.prepare('SELECT value FROM lc_kv WHERE key = ?').pluck().get('k')).toBe('kept');
    reader.close();
    await expect(store.get('k')).rejects.toThrow('SQLite store: the store is closed');
  });

  it('Kysely sharing the connection waits for the lock off the event loop too (its busy_timeout is 0)', async () => {
    await open();
    const lock = await holdWriteLock(path, 1_000);
    const watch = loopWatch();
    const kysely = db?.insertInto('lc_kv').values({ key: 'kysely', value: 'w', expires_at: Date.now() + 60_000 }).execute();
    await Promise.all([store.set('k', 'v', 60_000), kysely]);
    const stall = watch.stop();
    await lock.released;
    const native = how === 'url' ? undefined : sqliteConnectionOf(db as Kysely<DatabaseSchema>);
    if (native !== undefined) expect(native.pragma('busy_timeout', { simple: true })).toBe(0);
    expect(await (store as Store).getMany(['k', 'kysely'])).toEqual(['v', how === 'url' ? null : 'w']);
    expect(stall).toBeLessThan(MAX_STALL_MS);
  });
});
