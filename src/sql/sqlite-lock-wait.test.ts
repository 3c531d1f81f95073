/**
 * Another connection's write lock is waited for off the event loop (`./sqlite-lock-wait.ts`): here
 * Kysely's side, the auth service's SQL (`./sqlite-outage.ts`); the SQLite store's side is
 * `src/store/sqlite/lock-wait.test.ts`. The lock is held by a worker thread's own connection
 * (another process, as far as SQLite knows). The loop's freedom is measured by a 5 ms interval
 * timer: before, a write held it in SQLite's busy handler for the whole wait (≥ 1,000 ms here).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createAuthRepository, type AuthRepository, type TokenGrant } from '../auth/repository.js';
import { StoreUnavailableError } from '../core/errors.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import { createDatabase, sqliteConnectionOf } from './database.js';
import { migrateToLatest } from './migrate.js';
import type { DatabaseSchema } from './schema.js';
import { busyPauseMs, isBusy } from './sqlite-lock-wait.js';
import { holdWriteLock, loopWatch, MAX_STALL_MS } from '../../test/helpers/sqlite-lock.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-sql-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const HOUR = 3_600_000;

describe('busyPauseMs', () => {
  it('doubles from 1 ms to 32 ms, each pause between half and all of it', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((n) => busyPauseMs(n, () => 0.999_999))).toEqual([1, 2, 4, 8, 16, 32, 32, 32].map((ms) => expect.closeTo(ms, 3)));
    expect([1, 2, 6, 50].map((n) => busyPauseMs(n, () => 0))).toEqual([0.5, 1, 16, 16]);
  });
});

describe('isBusy', () => {
  it('is SQLITE_BUSY and its extended codes, from the driver only', () => {
    const sqlite = (code: string) => new BetterSqlite3.SqliteError('x', code);
    expect(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_RECOVERY'].map((code) => isBusy(sqlite(code)))).toEqual([true, true, true]);
    expect(['SQLITE_LOCKED', 'SQLITE_BUSYX', 'SQLITE_FULL'].map((code) => isBusy(sqlite(code)))).toEqual([false, false, false]);
    expect(isBusy(Object.assign(new Error('x'), { code: 'SQLITE_BUSY' }))).toBe(false);
  });
});

describe('Kysely on SQLite: another connection holds the write lock', () => {
  let path: string;
  let db: Kysely<DatabaseSchema> | undefined;

  async function open(busyTimeoutMs?: number): Promise<{ db: Kysely<DatabaseSchema>; repo: AuthRepository; userId: string }> {
    path = join(dir, `lock-${++files}.db`);
    db = createDatabase(`sqlite:${path}`, busyTimeoutMs === undefined ? {} : { busyTimeoutMs });
    await migrateToLatest(db);
    const repo = createAuthRepository(db);
    const user = await repo.insertUser({ email: 'ada@example.com', passwordHash: 'h', name: null }, Date.now());
    if (user === 'taken') throw new Error('taken');
    return { db, repo, userId: user.id };
  }

  afterEach(async () => {
    await db?.destroy();
    db = undefined;
  });

  const grant = (userId: string): TokenGrant => ({
    userId,
    familyId: randomUUID(),
    accessHash: randomUUID(),
    accessExpiresAt: Date.now() + HOUR,
    refreshHash: randomUUID(),
    refreshExpiresAt: Date.now() + HOUR,
    familyExpiresAt: Date.now() + 24 * HOUR,
    parentId: null,
  });

  /** Rows per table, to see exactly what was written. */
  async function counts(of: Kysely<DatabaseSchema>): Promise<{ users: number; access: number; refresh: number; kv: number }> {
    const { rows } = await sql<{ users: number; access: number; refresh: number; kv: number }>`select
      (select count(*) from users) as users, (select count(*) from access_tokens) as access,
      (select count(*) from refresh_tokens) as refresh, (select count(*) from lc_kv) as kv`.execute(of);
    return rows[0]!;
  }

  it('register, sign-in and a raw transaction wait for it off the event loop and write once it is released; reads do not wait', async () => {
    const { db, repo, userId } = await open();
    // Another instance's connection, for a read that nothing is queued ahead of.
    const reader = createDatabase(`sqlite:${path}`);
    const lock = await holdWriteLock(path, 1_500);
    const events: string[] = [];
    let writtenAt = 0;
    const watch = loopWatch();
    let callbacks = 0;

    const registered = repo.insertUser({ email: 'bob@example.com', passwordHash: 'h', name: null }, Date.now());
    const signedIn = repo.createGrant(grant(userId), Date.now(), 'h');
    // Reads before it writes (the snapshot a deferred BEGIN would have taken too early).
    const transaction = db.transaction().execute(async (trx) => {
      callbacks++;
      const { n } = await trx.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      await trx.insertInto('lc_kv').values({ key: 'users', value: String(n), expires_at: Date.now() + HOUR }).execute();
    });
    void registered.then(() => ((writtenAt = Date.now()), events.push('written')));
    // Reads outside a transaction never wait for a writer (WAL).
    const read = await reader.selectFrom('users').select('email').execute();
    events.push('read');
    const readAt = Date.now();
    await reader.destroy();

    await Promise.all([registered, signedIn, transaction]);
    const stall = watch.stop();
    // The read is in before the lock is given up; the write only after.
    expect(events).toEqual(['read', 'written']);
    const releasedAt = await lock.released;
    expect([readAt < releasedAt, writtenAt >= releasedAt]).toEqual([true, true]);
    expect(read).toEqual([{ email: 'ada@example.com' }]);
    expect(await signedIn).toBe(true);
    // The transaction's callback ran once: after BEGIN IMMEDIATE got the lock, never before.
    expect(callbacks).toBe(1);
    expect(await counts(db)).toEqual({ users: 2, access: 1, refresh: 1, kv: 1 });
    expect(await db.selectFrom('lc_kv').select('value').executeTakeFirst()).toEqual({ value: '2' });
    expect(stall).toBeLessThan(MAX_STALL_MS);
  });

  it('held past busyTimeoutMs: the same 503 as before (database is locked), nothing half-written, and the loop stays free', async () => {
    const { db, repo, userId } = await open(1_000);
    const lock = await holdWriteLock(path);
    const watch = loopWatch();
    const started = performance.now();
    let callbacks = 0;
    const outcomes = await Promise.allSettled([
      repo.insertUser({ email: 'bob@example.com', passwordHash: 'h', name: null }, Date.now()),
      repo.createGrant(grant(userId), Date.now(), 'h'),
      db.transaction().execute(async (trx) => {
        callbacks++;
        await trx.insertInto('lc_kv').values({ key: 'k', value: 'v', expires_at: Date.now() + HOUR }).execute();
      }),
      repo.deleteDead(Date.now()),
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
      expect(error.message).toBe('SQLite failed: database is locked');
      expect((error.cause as { code?: string }).code).toBe('SQLITE_BUSY');
    }
    // Each waited its own busyTimeoutMs, one after the other (one connection: Kysely's mutex).
    expect(waited).toBeGreaterThanOrEqual(990);
    expect(callbacks).toBe(0);
    expect(await counts(db)).toEqual({ users: 1, access: 0, refresh: 0, kv: 0 });
    expect(sqliteConnectionOf(db)?.inTransaction).toBe(false);
    // Free again: the next sign-in goes through at once.
    expect(await repo.createGrant(grant(userId), Date.now(), 'h')).toBe(true);
    expect(await counts(db)).toEqual({ users: 1, access: 1, refresh: 1, kv: 0 });
    expect(stall).toBeLessThan(MAX_STALL_MS);
  }, 15_000);

  it('busyTimeoutMs 0: a write fails at once, as with SQLite busy_timeout 0', async () => {
    const { repo, userId } = await open(0);
    const lock = await holdWriteLock(path);
    const started = performance.now();
    const failure = await repo.createGrant(grant(userId), Date.now(), 'h').catch((error: unknown) => error);
    const waited = performance.now() - started;
    lock.release();
    await lock.released;
    expect(failure).toBeInstanceOf(StoreUnavailableError);
    expect(((failure as Error).cause as { code?: string }).code).toBe('SQLITE_BUSY');
    expect(waited).toBeLessThan(MAX_STALL_MS);
  });

  it("nothing on the connection waits in SQLite's busy handler: migrations and the store sharing it wait off the loop too", async () => {
    path = join(dir, `lock-${++files}.db`);
    db = createDatabase(`sqlite:${path}`);
    // A new file another process holds: every migration has to wait for it.
    const lock = await holdWriteLock(path, 1_000);
    const watch = loopWatch();
    const native = sqliteConnectionOf(db);
    expect(native?.pragma('busy_timeout', { simple: true })).toBe(0);
    const applied = await migrateToLatest(db);
    const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
    await store.set('k', 'v', HOUR);
    const stall = watch.stop();
    await lock.released;
    await store.close();
    expect(applied.length).toBeGreaterThan(0);
    expect(await db.selectFrom('lc_kv').select(['key', 'value']).execute()).toEqual([{ key: 'k', value: 'v' }]);
    expect(stall).toBeLessThan(MAX_STALL_MS);
  });
});
