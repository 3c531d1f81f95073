import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../core/clock.js';
import { StoreUnavailableError } from '../../core/errors.js';
import { createDatabase, sqliteConnectionOf } from '../../sql/database.js';
import { migrateToLatest } from '../../sql/migrate.js';
import type { DatabaseSchema } from '../../sql/schema.js';
import { runStoreContract } from '../contract.js';
import { createSqliteStore } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-sqlite-store-'));
let files = 0;
/** A fresh file URL in this run's temporary folder. */
const fileUrl = () => `sqlite:${join(dir, `store-${++files}.db`)}`;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function migratedDb(url = fileUrl()): Promise<Kysely<DatabaseSchema>> {
  const db = createDatabase(url);
  await migrateToLatest(db);
  return db;
}

async function rowCount(db: Kysely<DatabaseSchema>): Promise<number> {
  const { n } = await db.selectFrom('lc_kv').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return n;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// One shared, migrated file for the manual-clock run (the contract's keys are unique per run).
const shared = await migratedDb();
afterAll(() => shared.destroy());
runStoreContract('sqlite', async (clock) => createSqliteStore({ db: shared, clock }));
// Its own file per test, opened by URL (migrated on open), TTLs on the system clock.
runStoreContract('sqlite on the system clock, opened by URL', async () => createSqliteStore({ url: fileUrl() }), { realTimeTtl: true });

describe('sqlite store', () => {
  let db: Kysely<DatabaseSchema>;
  beforeEach(async () => {
    db = await migratedDb();
  });
  afterEach(async () => {
    vi.useRealTimers();
    await db.destroy();
  });

  it('is kind "sqlite" and works on the WAL journal', async () => {
    const url = fileUrl();
    const store = await createSqliteStore({ url });
    expect(store.kind).toBe('sqlite');
    await store.set('k', 'v', 60_000);
    const probe = createDatabase(url);
    const { rows } = await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(probe);
    expect(rows[0]?.journal_mode).toBe('wal');
    expect(existsSync(`${url.slice('sqlite:'.length)}-wal`)).toBe(true);
    await probe.destroy();
    await store.close();
  });

  it('keeps data across closing and reopening the file (restart durability)', async () => {
    const url = fileUrl();
    const clock = manualClock();
    const policy = { algorithm: 'gcra' as const, limit: 1, windowMs: 60_000 };
    const first = await createSqliteStore({ url, clock });
    await first.set('lc:{s:a}:session', '{"user":"ada"}', 3_600_000);
    expect(await first.claim('lc:{i:x}:idem:y', 'pending', 3_600_000)).toBeNull();
    expect((await first.rateLimit('lc:{r:c}:rl:counter:increment', policy, clock.now())).allowed).toBe(true);
    await first.set('brief', 'gone after restart', 1_000);
    await first.close();

    clock.advance(1_000);
    const second = await createSqliteStore({ url, clock });
    expect(await second.get('lc:{s:a}:session')).toBe('{"user":"ada"}');
    expect(await second.claim('lc:{i:x}:idem:y', 'other', 3_600_000)).toBe('pending');
    // A restart does not hand out a fresh rate-limit budget.
    expect((await second.rateLimit('lc:{r:c}:rl:counter:increment', policy, clock.now())).allowed).toBe(false);
    expect(await second.get('brief')).toBeNull();
    await second.close();
  });

  it('sweeps expired rows in chunks, on demand and on its timer', async () => {
    const clock = manualClock();
    const store = await createSqliteStore({ db, clock, sweepIntervalMs: 0 });
    await store.batch(Array.from({ length: 1_200 }, (_, i) => ({ op: 'set' as const, key: `old-${i}`, value: 'v', ttlMs: 1_000 })));
    await store.set('young', 'v', 60_000);
    expect(await rowCount(db)).toBe(1_201);
    expect(await store.sweepExpired()).toBe(0);
    clock.advance(1_000);
    // Expired rows read as absent before any sweep.
    expect(await store.getMany(['old-0', 'young'])).toEqual([null, 'v']);
    expect(await rowCount(db)).toBe(1_201);
    expect(await store.sweepExpired()).toBe(1_200);
    expect(await rowCount(db)).toBe(1);
    await store.close();

    vi.useFakeTimers();
    const timed = await createSqliteStore({ db, clock, sweepIntervalMs: 5_000 });
    await timed.set('soon', 'v', 1_000);
    expect(vi.getTimerCount()).toBe(1);
    clock.advance(1_000);
    expect(await rowCount(db)).toBe(2);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await rowCount(db)).toBe(1);
    await timed.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never joins a transaction that other code holds on the shared connection', async () => {
    const store = await createSqliteStore({ db });
    let pending: Promise<void> | undefined;
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.insertInto('lc_kv').values({ key: 'in-trx', value: 'x', expires_at: Date.now() + 60_000 }).execute();
        expect(sqliteConnectionOf(db)?.inTransaction).toBe(true);
        pending = store.set('outside', 'kept', 60_000);
        await sleep(20);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    await pending;
    expect(await store.getMany(['in-trx', 'outside'])).toEqual([null, 'kept']);
    await store.close();
  });

  it('rejects with StoreUnavailableError when that transaction outlasts timeoutMs', async () => {
    const store = await createSqliteStore({ db, timeoutMs: 30 });
    await db.transaction().execute(async () => {
      const late = store.get('k');
      await expect(late).rejects.toBeInstanceOf(StoreUnavailableError);
    });
    expect(await store.get('k')).toBeNull();
    await store.close();
  });

  it('maps driver failures to StoreUnavailableError, and a failed batch writes nothing', async () => {
    const store = await createSqliteStore({ db });
    await sql`CREATE TRIGGER lc_kv_boom BEFORE INSERT ON lc_kv WHEN NEW.key = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`.execute(db);
    const batch = store.batch([
      { op: 'set', key: 'a', value: 'A', ttlMs: 60_000 },
      { op: 'claim', key: 'c', value: 'C', ttlMs: 60_000 },
      { op: 'set', key: 'boom', value: 'B', ttlMs: 60_000 },
    ]);
    await expect(batch).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.set('boom', 'B', 60_000)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await store.getMany(['a', 'c', 'boom'])).toEqual([null, null, null]);
    // Caller bugs stay TypeErrors, not 503s.
    const bad = { algorithm: 'gcra' as const, limit: 0, windowMs: 1_000 };
    await expect(store.rateLimit('rl', bad, Date.now())).rejects.toBeInstanceOf(TypeError);
    await store.close();
  });

  it("commits a turn's calls without a savepoint each, and a call that throws among them still fails alone", async () => {
    const own = await migratedDb();
    const store = await createSqliteStore({ db: own });
    await sql`CREATE TRIGGER lc_kv_boom BEFORE INSERT ON lc_kv WHEN NEW.key = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`.execute(own);
    const policy = { algorithm: 'gcra' as const, limit: 5, windowMs: 60_000 };
    // Every statement the driver runs, the transaction's own (BEGIN, SAVEPOINT, COMMIT…) included.
    const statement = Object.getPrototypeOf(sqliteConnectionOf(own)?.prepare('SELECT 1')) as { run: (...args: unknown[]) => unknown };
    const ran: string[] = [];
    const transactions = () => ran.filter((source) => ['BEGIN IMMEDIATE', 'COMMIT', 'ROLLBACK'].includes(source));
    const run = statement.run;
    const spy = vi.spyOn(statement, 'run').mockImplementation(function (this: { source: string }, ...args: unknown[]) {
      ran.push(this.source);
      return run.apply(this, args);
    });
    try {
      // One turn, no call failing: one transaction, no savepoint.
      const [, claimed, step] = await Promise.all([
        store.set('x', 'X', 60_000),
        store.claim('c', 'C', 60_000),
        store.rateLimit('rl', policy, Date.now()),
      ]);
      expect([claimed, step.remaining]).toEqual([null, 4]);
      expect(ran.filter((source) => source.startsWith('SAVEPOINT'))).toEqual([]);
      expect(transactions()).toEqual(['BEGIN IMMEDIATE', 'COMMIT']);

      // One turn, its second call failing: that call rolls back alone, the others commit once each.
      ran.length = 0;
      const results = await Promise.allSettled([
        store.claim('c2', 'C2', 60_000),
        store.batch([
          { op: 'set', key: 'a', value: 'A', ttlMs: 60_000 },
          { op: 'set', key: 'boom', value: 'B', ttlMs: 60_000 },
        ]),
        store.rateLimit('rl', policy, Date.now()),
        store.set('y', 'Y', 60_000),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect((results[0] as PromiseFulfilledResult<unknown>).value).toBeNull();
      expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
      // The step was taken once (the first try's was rolled back with it).
      expect(((results[2] as PromiseFulfilledResult<unknown>).value as { remaining: number }).remaining).toBe(3);
      // Tried together and rolled back, then once more with a savepoint per call.
      expect(transactions()).toEqual(['BEGIN IMMEDIATE', 'ROLLBACK', 'BEGIN IMMEDIATE', 'COMMIT']);
      expect(ran.filter((source) => source.startsWith('SAVEPOINT'))).toHaveLength(4);
    } finally {
      spy.mockRestore();
    }
    expect(await store.getMany(['x', 'c', 'c2', 'a', 'boom', 'y'])).toEqual(['X', 'C', 'C2', null, null, 'Y']);
    expect(await store.claim('c2', 'again', 60_000)).toBe('C2');
    expect((await store.rateLimit('rl', policy, Date.now())).remaining).toBe(2);
    await store.close();
    await own.destroy();
  });

  it('rejects with StoreUnavailableError once the owner closed the database', async () => {
    const own = await migratedDb();
    const store = await createSqliteStore({ db: own });
    await own.destroy();
    await expect(store.get('k')).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.health()).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.close()).resolves.toBeUndefined();
  });

  it('health is a real write: it fails while writes fail (a full disk, here query_only), and passes again after', async () => {
    const own = await migratedDb();
    const store = await createSqliteStore({ db: own });
    await expect(store.health()).resolves.toBeUndefined();
    sqliteConnectionOf(own)?.pragma('query_only = ON');
    await expect(store.health()).rejects.toBeInstanceOf(StoreUnavailableError);
    sqliteConnectionOf(own)?.pragma('query_only = OFF');
    await expect(store.health()).resolves.toBeUndefined();
    await store.close();
    await own.destroy();
  });

  it('health fails when the database file was deleted or replaced under the running store', async () => {
    const url = fileUrl();
    const own = await migratedDb(url);
    const store = await createSqliteStore({ db: own });
    await store.set('k', 'v', 60_000);
    const path = url.slice('sqlite:'.length);
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
    await expect(store.health()).rejects.toThrow(/was deleted or replaced while the app ran/);
    await store.close();
    await own.destroy();
  });

  it('a sweep checkpoints the WAL and truncates it (the automatic checkpoint never shrinks it)', async () => {
    const url = fileUrl();
    const own = await migratedDb(url);
    const store = await createSqliteStore({ db: own, sweepIntervalMs: 0 });
    for (let i = 0; i < 200; i++) await store.set(`k${i}`, 'x'.repeat(2_000), 60_000);
    const wal = `${url.slice('sqlite:'.length)}-wal`;
    expect(statSync(wal).size).toBeGreaterThan(400_000);
    await store.sweepExpired();
    expect(statSync(wal).size).toBe(0);
    expect(await store.get('k199')).toBe('x'.repeat(2_000));
    await store.close();
    await own.destroy();
  });

  it('a database that cannot be opened is named in the error, with what to fix', () => {
    const file = join(dir, 'not-a-folder');
    writeFileSync(file, 'x');
    expect(() => createDatabase(`sqlite:${file}/app.db`)).toThrow(
      new RegExp(`^SQLite: cannot open ${file}/app\\.db \\(.+\\): the file and its folder must be writable by this process`),
    );
  });

  // No timed assertion (shared, noisy machines): the connection's busy timeout is a minute, far beyond
  // the test's 10 s timeout, so a sweep that waited for the reader on it fails the test (the wait
  // blocks the event loop; the test runner fails a test that returns past its timeout).
  it("the sweep's checkpoint does not wait for another process's reader (the driver would block the event loop)", { timeout: 10_000 }, async () => {
    const url = fileUrl();
    const own = await migratedDb(url);
    const store = await createSqliteStore({ db: own, sweepIntervalMs: 0 });
    for (let i = 0; i < 50; i++) await store.set(`k${i}`, 'x'.repeat(2_000), 60_000);
    // Another connection (another process, as far as SQLite knows) holds a read snapshot open.
    const other = new BetterSqlite3(url.slice('sqlite:'.length));
    other.exec('BEGIN');
    other.prepare('SELECT count(*) FROM lc_kv').get();
    await store.set('after', 'y', 60_000);
    const native = sqliteConnectionOf(own);
    native?.pragma('busy_timeout = 60000');
    await store.sweepExpired();
    expect(native?.pragma('busy_timeout', { simple: true })).toBe(60000);
    other.exec('COMMIT');
    other.close();
    await store.sweepExpired();
    expect(statSync(`${url.slice('sqlite:'.length)}-wal`).size).toBe(0);
    await store.close();
    await own.destroy();
  });

  it('keeps NUL characters, empty strings and long keys intact', async () => {
    const store = await createSqliteStore({ db });
    const key = `k\u0000${'x'.repeat(2_000)}`;
    await store.set(key, 'a\u0000b', 60_000);
    await store.set('empty', '', 60_000);
    expect(await store.getMany([key, 'empty', 'k'])).toEqual(['a\u0000b', '', null]);
    expect(await store.deleteIfEquals(key, 'a')).toBe(false);
    expect(await store.deleteIfEquals(key, 'a\u0000b')).toBe(true);
    await store.close();
  });

  it('takes the longest timeout and sweep interval a timer and SQLite can wait', async () => {
    const store = await createSqliteStore({ url: fileUrl(), timeoutMs: 2 ** 31 - 1, sweepIntervalMs: 2 ** 31 - 1 });
    try {
      await store.set('k', 'v', 60_000);
      expect(await store.get('k')).toBe('v');
    } finally {
      await store.close();
    }
    const shared = await createSqliteStore({ db, timeoutMs: 2 ** 31 - 1, sweepIntervalMs: 2 ** 31 - 1 });
    await shared.close();
  });

  it('checks its options and its database', async () => {
    await expect(createSqliteStore({ db, timeoutMs: 0 })).rejects.toBeInstanceOf(TypeError);
    await expect(createSqliteStore({ db, sweepIntervalMs: -1 })).rejects.toBeInstanceOf(TypeError);
    // Node runs an interval of more than 2^31 − 1 ms every 1 ms: the sweep would run in a busy loop.
    await expect(createSqliteStore({ db, sweepIntervalMs: 2 ** 31 })).rejects.toThrow(/^createSqliteStore: sweepIntervalMs must be a number of ms from 0 \(no sweep\) to 2147483647 ms/);
    // …and a fraction below 1 every 1 ms too: 0.5 was taken, and swept in a busy loop.
    await expect(createSqliteStore({ db, sweepIntervalMs: 0.5 })).rejects.toThrow(/^createSqliteStore: sweepIntervalMs must be .*, and not between 0 and 1 /);
    // SQLite's busy timeout counts whole ms: 0.5 became 1.
    await expect(createSqliteStore({ db, timeoutMs: 0.5 })).rejects.toThrow(/^createSqliteStore: timeoutMs must be a positive number of ms, at most 2147483647 .*, and at least 1$/);
    // SQLite's busy timeout is an int: by URL more failed to open the file, blaming its permissions.
    for (const options of [{ db }, { url: fileUrl() }]) {
      await expect(createSqliteStore({ ...options, timeoutMs: 2 ** 31 })).rejects.toThrow(/^createSqliteStore: timeoutMs must be a positive number of ms, at most 2147483647 /);
    }
    const unmigrated = createDatabase(fileUrl());
    await expect(createSqliteStore({ db: unmigrated })).rejects.toThrow(/run migrateToLatest/);
    await unmigrated.destroy();
    const postgres = createDatabase('postgres://postgres@127.0.0.1:5432/test');
    await expect(createSqliteStore({ db: postgres })).rejects.toThrow(/SQLite database from createDatabase/);
    await postgres.destroy();
    expect(sqliteConnectionOf(db)?.open).toBe(true);
  });
});
