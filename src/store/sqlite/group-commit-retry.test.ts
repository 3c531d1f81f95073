/**
 * The group commit's retry (`commitJobs`): a turn's calls run in one transaction without savepoints;
 * when one throws, that transaction rolls back and the calls run again, each in its own savepoint.
 * These tests attack what may differ between the two runs: the clock read again, another connection
 * (another process, as far as SQLite knows) writing or taking the lock between the ROLLBACK and the
 * retry, a disk that fills up in the retry, a failure that does not come back, and the whole store
 * contract with every group of calls made to fail once and run again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../core/clock.js';
import { StoreUnavailableError } from '../../core/errors.js';
import { rateLimitStep } from '../../pipeline/rate-limit/algorithms.js';
import { createDatabase, sqliteConnectionOf } from '../../sql/database.js';
import { migrateToLatest } from '../../sql/migrate.js';
import type { DatabaseSchema } from '../../sql/schema.js';
import { runStoreContract } from '../contract.js';
import type { Store } from '../types.js';
import { createSqliteStore } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-group-commit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** A key whose every insert a trigger refuses (SQLITE_CONSTRAINT_TRIGGER): the call that throws. */
const BOOM = 'lc-test-boom';

async function migratedFile(trigger = true): Promise<{ path: string; db: Kysely<DatabaseSchema>; native: BetterSqlite3.Database }> {
  const path = join(dir, `group-${++files}.db`);
  const db = createDatabase(`sqlite:${path}`);
  await migrateToLatest(db);
  if (trigger) await sql.raw(`CREATE TRIGGER lc_kv_boom BEFORE INSERT ON lc_kv WHEN NEW.key = '${BOOM}' BEGIN SELECT RAISE(ABORT, 'boom'); END`).execute(db);
  const native = sqliteConnectionOf(db);
  if (native === undefined) throw new Error('not SQLite');
  return { path, db, native };
}

// Every statement better-sqlite3 runs in this file (the transaction's own BEGIN, SAVEPOINT, ROLLBACK…
// included), and a hook run right after one (`after`), for the whole file.
const statement = Object.getPrototypeOf(new BetterSqlite3(':memory:').prepare('SELECT 1')) as { run: (...args: unknown[]) => unknown };
const realRun = statement.run;
const ran: string[] = [];
let after: ((source: string) => void) | undefined;
vi.spyOn(statement, 'run').mockImplementation(function (this: { source: string }, ...args: unknown[]) {
  ran.push(this.source);
  try {
    return realRun.apply(this, args);
  } finally {
    after?.(this.source);
  }
});
const transactions = () => ran.filter((source) => ['BEGIN IMMEDIATE', 'COMMIT', 'ROLLBACK'].includes(source));
const savepoints = () => ran.filter((source) => source.startsWith('SAVEPOINT')).length;

/** Runs `hook` once, right after the next ROLLBACK (the first try of a group rolled back). */
function afterFirstRollback(hook: () => void): void {
  after = (source) => {
    if (source !== 'ROLLBACK') return;
    after = undefined;
    hook();
  };
}

const gcra = { algorithm: 'gcra' as const, limit: 2, windowMs: 60_000 };

describe('sqlite group commit: a group that throws runs again', () => {
  let file: Awaited<ReturnType<typeof migratedFile>>;
  beforeEach(async () => {
    file = await migratedFile();
    ran.length = 0;
  });
  afterEach(async () => {
    after = undefined;
    await file.db.destroy();
  });

  it('reads the clock again: the retry decides on its own time, and the answer and the row agree', async () => {
    const clock = manualClock();
    const store = await createSqliteStore({ db: file.db, clock, sweepIntervalMs: 0 });
    await store.set('held', 'theirs', 1_000);
    ran.length = 0;
    // Between the first try (the claim sees the holder's live row) and the retry, the holder's row expires.
    afterFirstRollback(() => clock.advance(1_000));
    const [claimed, boom, step] = await Promise.allSettled([
      store.claim('held', 'mine', 60_000),
      store.set(BOOM, 'x', 60_000),
      store.rateLimit('rl', gcra, clock.now()),
    ]);
    expect(transactions()).toEqual(['BEGIN IMMEDIATE', 'ROLLBACK', 'BEGIN IMMEDIATE', 'COMMIT']);
    // The retry's decision only: the key was free at its time, so the claim took it.
    expect(claimed).toEqual({ status: 'fulfilled', value: null });
    expect(boom.status).toBe('rejected');
    expect((boom as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
    expect(step).toMatchObject({ status: 'fulfilled', value: { allowed: true, remaining: 1 } });
    expect(await store.get('held')).toBe('mine');
    // Its expiry counts from the retry's time (a claim made at the first try's would be gone now).
    clock.advance(59_999);
    expect(await store.get('held')).toBe('mine');
    clock.advance(1);
    expect(await store.get('held')).toBeNull();
    await store.close();
  });

  it('another process claims and steps between the rollback and the retry: one holder, the limit kept exactly', async () => {
    const store = await createSqliteStore({ db: file.db, sweepIntervalMs: 0 });
    const other = new BetterSqlite3(file.path);
    const nowMs = Date.now();
    try {
      afterFirstRollback(() => {
        // What another app process does meanwhile: its own claim of the key, and one step of the same limit.
        other.prepare('INSERT INTO lc_kv (key, value, expires_at) VALUES (?, ?, ?)').run('idem', 'theirs', Date.now() + 60_000);
        const theirs = rateLimitStep(null, gcra, nowMs);
        other.prepare('INSERT INTO lc_kv (key, value, expires_at) VALUES (?, ?, ?)').run('rl', theirs.state, Date.now() + theirs.ttlMs);
      });
      const results = await Promise.allSettled([
        store.claim('idem', 'mine', 60_000),
        store.rateLimit('rl', gcra, nowMs),
        store.rateLimit('rl', gcra, nowMs),
        store.set(BOOM, 'x', 60_000),
      ]);
      expect(transactions()).toEqual(['BEGIN IMMEDIATE', 'ROLLBACK', 'BEGIN IMMEDIATE', 'COMMIT']);
      // The first try had claimed it and admitted both steps; none of that was answered.
      expect(results[0]).toEqual({ status: 'fulfilled', value: 'theirs' });
      expect(results[1]).toMatchObject({ status: 'fulfilled', value: { allowed: true, remaining: 0 } });
      expect(results[2]).toMatchObject({ status: 'fulfilled', value: { allowed: false, remaining: 0 } });
      expect(results[3].status).toBe('rejected');
      expect(await store.get('idem')).toBe('theirs');
      expect((await store.rateLimit('rl', gcra, nowMs)).allowed).toBe(false);
    } finally {
      other.close();
      await store.close();
    }
  });

  it('another process takes the lock between the rollback and the retry: the group waits, then commits each call once', async () => {
    const store = await createSqliteStore({ db: file.db, sweepIntervalMs: 0 });
    await store.set('n', 'seed', 60_000);
    ran.length = 0;
    const other = new BetterSqlite3(file.path);
    try {
      afterFirstRollback(() => {
        other.exec('BEGIN IMMEDIATE');
        other.prepare('INSERT INTO lc_kv (key, value, expires_at) VALUES (?, ?, ?)').run('idem', 'theirs', Date.now() + 60_000);
        // Released later, off this synchronous stack: the retry's BEGIN IMMEDIATE meets it (SQLITE_BUSY).
        setTimeout(() => other.exec('COMMIT'), 50);
      });
      const results = await Promise.allSettled([
        store.claim('idem', 'mine', 60_000),
        store.rateLimit('rl', gcra, Date.now()),
        store.deleteIfEquals('n', 'seed'),
        store.set(BOOM, 'x', 60_000),
      ]);
      const begins = transactions().filter((source) => source === 'BEGIN IMMEDIATE').length;
      // Try 1 rolled back; the retry's BEGIN met the lock (nothing done) one or more times; then the
      // group from the start: tried together, rolled back, run apart, committed.
      expect(begins).toBeGreaterThanOrEqual(4);
      expect(transactions().slice(0, 3)).toEqual(['BEGIN IMMEDIATE', 'ROLLBACK', 'BEGIN IMMEDIATE']);
      expect(transactions().slice(-4)).toEqual(['BEGIN IMMEDIATE', 'ROLLBACK', 'BEGIN IMMEDIATE', 'COMMIT']);
      expect(transactions().filter((source) => source === 'COMMIT')).toHaveLength(1);
      expect(results[0]).toEqual({ status: 'fulfilled', value: 'theirs' });
      expect(results[1]).toMatchObject({ status: 'fulfilled', value: { allowed: true, remaining: 1 } });
      expect(results[2]).toEqual({ status: 'fulfilled', value: true });
      expect((results[3] as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
      expect(await store.getMany(['idem', 'n', BOOM])).toEqual(['theirs', null, null]);
      expect((await store.rateLimit('rl', gcra, Date.now())).remaining).toBe(0);
    } finally {
      if (other.inTransaction) other.exec('COMMIT');
      other.close();
      await store.close();
    }
  });

  it('the disk fills up in the retry, SQLite undoing that statement alone: that call fails alone, the others commit once', async () => {
    const store = await createSqliteStore({ db: file.db, sweepIntervalMs: 0 });
    await store.set('before', 'kept', 60_000);
    ran.length = 0;
    // The first try fails on the trigger before it reaches the large value; the retry writes it.
    // (A table with a trigger runs every insert with a statement journal: SQLite undoes that statement only.)
    afterFirstRollback(() => file.native.pragma(`max_page_count = ${Number(file.native.pragma('page_count', { simple: true }))}`));
    const results = await Promise.allSettled([
      store.set('a', 'A', 60_000),
      store.claim('c', 'C', 60_000),
      store.set(BOOM, 'x', 60_000),
      store.set('big', 'x'.repeat(200_000), 60_000),
      store.rateLimit('rl', gcra, Date.now()),
    ]);
    file.native.pragma('max_page_count = 1073741823');
    expect(transactions()).toEqual(['BEGIN IMMEDIATE', 'ROLLBACK', 'BEGIN IMMEDIATE', 'COMMIT']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled']);
    const full = (results[3] as PromiseRejectedResult).reason as StoreUnavailableError;
    expect(full).toBeInstanceOf(StoreUnavailableError);
    expect((full.cause as { code?: string }).code).toBe('SQLITE_FULL');
    expect(results[4]).toMatchObject({ status: 'fulfilled', value: { allowed: true, remaining: 1 } });
    expect(await store.getMany(['before', 'a', 'c', 'big', BOOM])).toEqual(['kept', 'A', 'C', null, null]);
    expect((await store.rateLimit('rl', gcra, Date.now())).remaining).toBe(0);
    await store.close();
  });

  it('the disk fills up in the retry, SQLite rolling it all back: every call fails with StoreUnavailableError, nothing written', async () => {
    // A file without the trigger: a one-row insert has no statement journal, and SQLITE_FULL ends the transaction.
    const plain = await migratedFile(false);
    const store = await createSqliteStore({ db: plain.db, sweepIntervalMs: 0 });
    try {
      await store.set('before', 'kept', 60_000);
      ran.length = 0;
      afterFirstRollback(() => plain.native.pragma(`max_page_count = ${Number(plain.native.pragma('page_count', { simple: true }))}`));
      // The call that throws without a trigger: a caller bug met in the job (its policy changed after
      // the call was checked), in the first try and again in the retry.
      const changed = { ...gcra };
      const calls = [
        store.set('a', 'A', 60_000),
        store.claim('c', 'C', 60_000),
        store.rateLimit('bad', changed, Date.now()),
        store.set('big', 'x'.repeat(200_000), 60_000),
        store.rateLimit('rl', gcra, Date.now()),
      ];
      changed.limit = 0;
      const results = await Promise.allSettled(calls);
      expect(plain.native.inTransaction).toBe(false);
      plain.native.pragma('max_page_count = 1073741823');
      // SQLite ended the retry's transaction itself: no ROLLBACK and no COMMIT after its BEGIN.
      expect(transactions()).toEqual(['BEGIN IMMEDIATE', 'ROLLBACK', 'BEGIN IMMEDIATE']);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected', 'rejected']);
      for (const result of results) {
        const reason = (result as PromiseRejectedResult).reason as StoreUnavailableError;
        expect(reason).toBeInstanceOf(StoreUnavailableError);
        expect((reason.cause as { code?: string }).code).toBe('SQLITE_FULL');
      }
      expect(await store.getMany(['before', 'a', 'c', 'big', 'rl', 'bad'])).toEqual(['kept', null, null, null, null, null]);
    } finally {
      await store.close();
      await plain.db.destroy();
    }
  });

  it('a call that throws only on the first try: the retry commits every call once', async () => {
    const store = await createSqliteStore({ db: file.db, sweepIntervalMs: 0 });
    let refusals = 0;
    // A trigger that refuses the key once (a transient failure), then lets it through.
    file.native.function('lc_test_refuse_once', () => (refusals++ === 0 ? 1 : 0));
    file.native.exec("CREATE TRIGGER lc_kv_flaky BEFORE INSERT ON lc_kv WHEN NEW.key = 'flaky' AND lc_test_refuse_once() BEGIN SELECT RAISE(ABORT, 'flaky'); END");
    const results = await Promise.all([
      store.rateLimit('rl', gcra, Date.now()),
      store.claim('c', 'C', 60_000),
      store.set('flaky', 'F', 60_000),
      store.batch([
        { op: 'get', key: 'c' },
        { op: 'claim', key: 'c', value: 'other', ttlMs: 60_000 },
      ]),
    ]);
    expect(transactions()).toEqual(['BEGIN IMMEDIATE', 'ROLLBACK', 'BEGIN IMMEDIATE', 'COMMIT']);
    expect(refusals).toBe(2);
    expect(results).toEqual([expect.objectContaining({ allowed: true, remaining: 1 }), null, undefined, ['C', 'C']]);
    expect(await store.getMany(['c', 'flaky'])).toEqual(['C', 'F']);
    expect((await store.rateLimit('rl', gcra, Date.now())).remaining).toBe(0);
    await store.close();
  });

  it('a later call sees nothing of an earlier call that failed, as when every call had its savepoint', async () => {
    const store = await createSqliteStore({ db: file.db, sweepIntervalMs: 0 });
    const results = await Promise.allSettled([
      store.batch([
        { op: 'set', key: 'a', value: 'partial', ttlMs: 60_000 },
        { op: 'claim', key: 'idem', value: 'partial', ttlMs: 60_000 },
        { op: 'set', key: BOOM, value: 'x', ttlMs: 60_000 },
      ]),
      store.claim('idem', 'later', 60_000),
      store.get('a'),
      store.batch([{ op: 'rateLimit', key: 'rl', policy: gcra, nowMs: Date.now() }, { op: 'setIfAllowed', key: 'a', value: 'later', ttlMs: 60_000 }]),
    ]);
    expect(transactions()).toEqual(['BEGIN IMMEDIATE', 'ROLLBACK', 'BEGIN IMMEDIATE', 'COMMIT']);
    expect(savepoints()).toBe(4);
    expect(results[0].status).toBe('rejected');
    expect(results[1]).toEqual({ status: 'fulfilled', value: null });
    expect(results[2]).toEqual({ status: 'fulfilled', value: null });
    expect(results[3]).toMatchObject({ status: 'fulfilled', value: [{ allowed: true, remaining: 1 }, true] });
    expect(await store.getMany(['a', 'idem'])).toEqual(['later', 'later']);
    await store.close();
  });
});

// The whole contract with every group of calls made to throw once and run again: each call is
// followed, in the same turn, by a write the trigger refuses. The ROLLBACKs are counted at the end.
const shared = await migratedFile();
afterAll(() => shared.db.destroy());
let boomRuns = 0;
shared.native.function('lc_test_boom_ran', () => {
  boomRuns++;
  return 1;
});
shared.native.exec(`CREATE TRIGGER lc_kv_boom_counted BEFORE INSERT ON lc_kv WHEN NEW.key = '${BOOM}-contract' AND lc_test_boom_ran() BEGIN SELECT RAISE(ABORT, 'boom'); END`);
let contractRollbacks = 0;
const rollbacksBefore = () => ran.filter((source) => source === 'ROLLBACK').length;

/** `inner` whose every call is followed, in the same turn, by a call that throws: its group runs twice. */
function failingAfterEachCall(inner: Store): Store {
  const boom = () => void inner.set(`${BOOM}-contract`, 'x', 60_000).catch(() => undefined);
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || property === 'close') return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        boom();
        return result;
      };
    },
  });
}

describe('store contract, every group retried', () => {
  let start = 0;
  beforeEach(() => {
    start = rollbacksBefore();
  });
  afterEach(() => {
    contractRollbacks += rollbacksBefore() - start;
  });
  runStoreContract('sqlite, each group made to throw once and run again', async (clock) =>
    failingAfterEachCall(await createSqliteStore({ db: shared.db, clock, sweepIntervalMs: 0 })),
  );
  it('took the retry path: the refused write ran in the first try and again in the retry of many groups', () => {
    // With a savepoint per call from the start (before 9561680) nothing rolls back whole.
    expect(contractRollbacks).toBeGreaterThan(50);
    expect(boomRuns).toBeGreaterThan(contractRollbacks);
  });
});
