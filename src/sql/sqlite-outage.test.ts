/**
 * SQLite through Kysely (src/sql/sqlite-outage.ts): write transactions take the write lock at BEGIN,
 * so a transaction that reads before it writes waits for another connection's lock (off the event
 * loop: ./sqlite-lock-wait.test.ts) instead of failing with SQLITE_BUSY; outages reject as StoreUnavailableError (503) with the driver's error as
 * cause, also when SQLite already rolled the transaction back (disk full).
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuthRepository, type AuthRepository, type TokenGrant } from '../auth/repository.js';
import { StoreUnavailableError } from '../core/errors.js';
import { createDatabase, sqliteConnectionOf } from './database.js';
import { migrateToLatest } from './migrate.js';
import type { DatabaseSchema } from './schema.js';
import { isSqliteOutage } from './sqlite-outage.js';

const T0 = Date.UTC(2026, 0, 15, 10, 30);
const HOUR = 3_600_000;

let dir: string;
let file: string;
let opened: Kysely<DatabaseSchema>[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lc-sqlite-outage-'));
  file = join(dir, 'app.db');
  opened = [];
});
afterEach(async () => {
  for (const db of opened) await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function open(busyTimeoutMs?: number): Promise<Kysely<DatabaseSchema>> {
  const db = createDatabase(`sqlite:${file}`, busyTimeoutMs === undefined ? {} : { busyTimeoutMs });
  opened.push(db);
  await migrateToLatest(db);
  return db;
}

function native(db: Kysely<DatabaseSchema>): BetterSqlite3.Database {
  const connection = sqliteConnectionOf(db);
  if (connection === undefined) throw new Error('not a SQLite database');
  return connection;
}

const hash = () => randomBytes(32).toString('hex');

function grant(userId: string, familyId: string, refreshHash: string, parentId: string | null): TokenGrant {
  return {
    userId,
    familyId,
    accessHash: hash(),
    accessExpiresAt: T0 + HOUR,
    refreshHash,
    refreshExpiresAt: T0 + HOUR,
    familyExpiresAt: T0 + 24 * HOUR,
    parentId,
  };
}

/** A user with one signed-in family; resolves its id and the live refresh token's hash. */
async function signedIn(repo: AuthRepository, email: string): Promise<{ userId: string; refresh: string }> {
  const user = await repo.insertUser({ email, passwordHash: 'h', name: null }, T0);
  if (user === 'taken') throw new Error('taken');
  const refresh = hash();
  expect(await repo.createGrant(grant(user.id, randomUUID(), refresh, null), T0, 'h')).toBe(true);
  return { userId: user.id, refresh };
}

/** Settled outcomes by kind: fulfilled, StoreUnavailableError, anything else (with its code or message). */
function tally(results: PromiseSettledResult<unknown>[]): { ok: number; unavailable: number; other: string[] } {
  const out = { ok: 0, unavailable: 0, other: [] as string[] };
  for (const r of results) {
    if (r.status === 'fulfilled') out.ok++;
    else if (r.reason instanceof StoreUnavailableError) out.unavailable++;
    else out.other.push(String((r.reason as { code?: unknown }).code ?? (r.reason as Error).message));
  }
  return out;
}

describe('isSqliteOutage', () => {
  it('is true for the codes that mean the database, false for the query and for other errors', () => {
    const outages = [
      'SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_RECOVERY', 'SQLITE_LOCKED', 'SQLITE_LOCKED_SHAREDCACHE', 'SQLITE_FULL',
      'SQLITE_IOERR', 'SQLITE_IOERR_WRITE', 'SQLITE_IOERR_SHORT_READ', 'SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED',
      'SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CANTOPEN', 'SQLITE_CANTOPEN_ISDIR',
    ];
    const queries = ['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_FOREIGNKEY', 'SQLITE_ERROR', 'SQLITE_MISMATCH', 'SQLITE_TOOBIG', 'SQLITE_RANGE'];
    expect(outages.filter((code) => !isSqliteOutage(new BetterSqlite3.SqliteError('x', code)))).toEqual([]);
    expect(queries.filter((code) => isSqliteOutage(new BetterSqlite3.SqliteError('x', code)))).toEqual([]);
    // Only the driver's errors: a plain Error with the same code is someone else's.
    expect(isSqliteOutage(Object.assign(new Error('x'), { code: 'SQLITE_BUSY' }))).toBe(false);
    expect(isSqliteOutage('SQLITE_BUSY')).toBe(false);
  });
});

describe('SQLite write transactions take the write lock at BEGIN', () => {
  it('another connection that writes between a transaction\'s read and its write is held off; the transaction commits', async () => {
    const db = await open();
    await db.insertInto('lc_kv').values({ key: 'n', value: '0', expires_at: T0 + HOUR }).execute();
    // The other process, with no busy wait (it would block this thread, which holds the lock).
    const other = new BetterSqlite3(file, { timeout: 0 });
    try {
      const refused: string[] = [];
      for (let i = 1; i <= 10; i++) {
        await db.transaction().execute(async (trx) => {
          const { value } = await trx.selectFrom('lc_kv').select('value').where('key', '=', 'n').executeTakeFirstOrThrow();
          try {
            other.prepare(`update lc_kv set value = value + 1000 where key = 'n'`).run();
          } catch (error) {
            refused.push((error as { code: string }).code);
          }
          await trx.updateTable('lc_kv').set({ value: String(Number(value) + 1) }).where('key', '=', 'n').execute();
        });
      }
      // (With a deferred BEGIN the other write went through, and the transaction's UPDATE then failed
      // at once with SQLITE_BUSY_SNAPSHOT, busy_timeout or not.)
      expect(refused).toEqual(Array(10).fill('SQLITE_BUSY'));
      expect(other.prepare(`select value from lc_kv where key = 'n'`).pluck().get()).toBe('10');
    } finally {
      other.close();
    }
  });

  it('two connections rotating at once in one process: both rotate, the second after the first released the lock', async () => {
    // The second waits for the lock off the event loop (src/sql/sqlite-lock-wait.ts), so the first,
    // holding it, finishes meanwhile. Before, the second's busy wait blocked the thread the first
    // needed: its 50 ms ran out and every second rotation was 503.
    const a = createAuthRepository(await open(50));
    const b = createAuthRepository(await open(50));
    const users = [await signedIn(a, 'a@example.com'), await signedIn(b, 'b@example.com')];
    const rounds = 5;
    const results: PromiseSettledResult<unknown>[] = [];
    for (let i = 0; i < rounds; i++) {
      const next = [hash(), hash()];
      const settled = await Promise.allSettled([
        a.rotateRefresh(users[0]!.refresh, T0 + i, (row) => grant(row.user_id, row.family_id, next[0]!, row.id)),
        b.rotateRefresh(users[1]!.refresh, T0 + i, (row) => grant(row.user_id, row.family_id, next[1]!, row.id)),
      ]);
      settled.forEach((r, k) => {
        if (r.status === 'fulfilled') users[k]!.refresh = next[k]!;
        else expect(((r.reason as Error).cause as { code?: string }).code).toBe('SQLITE_BUSY');
      });
      results.push(...settled);
    }
    expect(tally(results)).toEqual({ ok: 2 * rounds, unavailable: 0, other: [] });
    // Each rotation used its token once and wrote one successor.
    const rows = await sql<{ used: number; all: number }>`select count(used_at) as used, count(*) as "all" from refresh_tokens`.execute(opened[0]!);
    expect(rows.rows[0]).toEqual({ used: 2 * rounds, all: 2 * rounds + 2 });
  });

  it('two processes rotating refresh tokens on one file: every rotation succeeds or is 503, none fails otherwise', async () => {
    const repo = createAuthRepository(await open());
    const chains = [await signedIn(repo, 'p0@example.com'), await signedIn(repo, 'p1@example.com')];
    const perProcess = 150;
    const children = chains.map((chain) => rotatingChild(file, chain.refresh, perProcess));
    // Both start rotating together, once both have loaded.
    await Promise.all(children.map((child) => child.ready));
    for (const child of children) child.go();
    const outcomes = await Promise.all(children.map((child) => child.done));
    for (const outcome of outcomes) {
      expect(outcome.other).toEqual([]);
      expect(outcome.lost).toBe(0);
      expect(outcome.ok + outcome.unavailable).toBe(perProcess);
    }
    const db = opened[0]!;
    for (const [k, chain] of chains.entries()) {
      const counts = await db
        .selectFrom('refresh_tokens')
        .select((eb) => [eb.fn.countAll<number>().as('all'), eb.fn.count<number>('used_at').as('used')])
        .where('user_id', '=', chain.userId)
        .executeTakeFirstOrThrow();
      // One token at sign-in plus one per rotation; all but the newest used.
      expect([Number(counts.all), Number(counts.used)]).toEqual([outcomes[k]!.ok + 1, outcomes[k]!.ok]);
    }
  }, 30_000);
});

describe('SQLite outages inside a transaction', () => {
  it('disk full, transaction rolled back by SQLite itself: StoreUnavailableError caused by SQLITE_FULL, not "cannot rollback"', async () => {
    const db = await open();
    const repo = createAuthRepository(db);
    const { userId } = await signedIn(repo, 'full@example.com');
    const conn = native(db);
    const pages = Number(conn.pragma('page_count', { simple: true }));
    conn.pragma(`max_page_count = ${pages}`);
    let failure: unknown;
    let granted = 0;
    for (let i = 0; i < 1_000 && failure === undefined; i++) {
      try {
        await repo.createGrant(grant(userId, randomUUID(), hash(), null), T0, 'h');
        granted++;
      } catch (error) {
        failure = error;
      }
    }
    // Kysely's ROLLBACK after it failed with "cannot rollback - no transaction is active" instead.
    expect((failure as Error).message).toBe('SQLite failed: database or disk is full');
    expect(failure).toBeInstanceOf(StoreUnavailableError);
    expect((failure as StoreUnavailableError).code).toBe('SERVICE_UNAVAILABLE');
    const cause = (failure as Error).cause as { code?: string; message?: string };
    expect(cause).toBeInstanceOf(BetterSqlite3.SqliteError);
    expect([cause.code, cause.message]).toEqual(['SQLITE_FULL', 'database or disk is full']);
    // The case that hid the error: SQLite had already rolled the whole transaction back.
    expect(conn.inTransaction).toBe(false);
    // Nothing of the failed grant stayed; the connection is usable once there is room again.
    const families = await db.selectFrom('access_tokens').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
    expect(Number(families.n)).toBe(granted + 1);
    conn.pragma(`max_page_count = ${pages * 100}`);
    expect(await repo.createGrant(grant(userId, randomUUID(), hash(), null), T0, 'h')).toBe(true);
  });

  it('disk full in a statement SQLite undid alone: the transaction is rolled back and rejects as StoreUnavailableError', async () => {
    const db = await open();
    const conn = native(db);
    conn.pragma(`max_page_count = ${Number(conn.pragma('page_count', { simple: true }))}`);
    const failure = await db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('lc_kv').values({ key: 'small', value: 'x', expires_at: T0 }).execute();
        // One statement, many rows (a statement journal): SQLite undoes only this statement.
        await sql`insert into lc_kv (key, value, expires_at)
                  with recursive c(i) as (select 1 union all select i + 1 from c where i < 200)
                  select 'k' || i, hex(randomblob(2000)), 0 from c`.execute(trx);
      })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StoreUnavailableError);
    expect(((failure as Error).cause as { code?: string }).code).toBe('SQLITE_FULL');
    expect(conn.inTransaction).toBe(false);
    expect(await db.selectFrom('lc_kv').selectAll().execute()).toEqual([]);
  });

  it('a read-only database: the write transaction rejects as StoreUnavailableError (SQLITE_READONLY)', async () => {
    const db = await open();
    native(db).pragma('query_only = ON');
    const failure = await db
      .transaction()
      .execute((trx) => trx.insertInto('lc_kv').values({ key: 'k', value: 'v', expires_at: T0 }).execute())
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StoreUnavailableError);
    expect(((failure as Error).cause as { code?: string }).code).toBe('SQLITE_READONLY');
    // Statements outside a transaction as well.
    const single = await db.insertInto('lc_kv').values({ key: 'k', value: 'v', expires_at: T0 }).execute().catch((error: unknown) => error);
    expect(single).toBeInstanceOf(StoreUnavailableError);
  });

  it('errors of the query itself pass through unchanged and roll the transaction back', async () => {
    const db = await open();
    const repo = createAuthRepository(db);
    await repo.insertUser({ email: 'same@example.com', passwordHash: 'h', name: null }, T0);
    // The repository recognises the driver's own constraint error.
    expect(await repo.insertUser({ email: 'same@example.com', passwordHash: 'h', name: null }, T0)).toBe('taken');
    const failure = await db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('lc_kv').values({ key: 'k', value: 'v', expires_at: T0 }).execute();
        await trx.insertInto('lc_kv').values({ key: 'k', value: 'again', expires_at: T0 }).execute();
      })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BetterSqlite3.SqliteError);
    expect((failure as { code: string }).code).toBe('SQLITE_CONSTRAINT_PRIMARYKEY');
    expect(native(db).inTransaction).toBe(false);
    expect(await db.selectFrom('lc_kv').selectAll().execute()).toEqual([]);
  });

  it('controlled transactions, savepoints and read-only transactions still work', async () => {
    const db = await open();
    const trx = await db.startTransaction().execute();
    await trx.insertInto('lc_kv').values({ key: 'kept', value: '1', expires_at: T0 }).execute();
    const sp = await trx.savepoint('sp').execute();
    await sp.insertInto('lc_kv').values({ key: 'undone', value: '1', expires_at: T0 }).execute();
    await sp.rollbackToSavepoint('sp').execute();
    await trx.commit().execute();
    expect(await db.selectFrom('lc_kv').select('key').execute()).toEqual([{ key: 'kept' }]);
    // A read-only transaction keeps the deferred BEGIN: another connection may write meanwhile.
    const other = new BetterSqlite3(file, { timeout: 0 });
    try {
      const seen = await db
        .transaction()
        .setAccessMode('read only')
        .execute(async (t) => {
          const before = await t.selectFrom('lc_kv').select('key').execute();
          other.prepare(`insert into lc_kv (key, value, expires_at) values ('other', '1', 0)`).run();
          return before.length;
        });
      expect(seen).toBe(1);
      expect(other.prepare('select count(*) from lc_kv').pluck().get()).toBe(2);
    } finally {
      other.close();
    }
  });
});

interface ChildOutcome {
  ok: number;
  unavailable: number;
  lost: number;
  other: string[];
}

const SRC = join(import.meta.dirname, '..');

/**
 * Another process on `path` (through tsx, the same createDatabase and repository) that rotates the
 * chain starting at `refresh` `count` times as fast as it can, each rotation a transaction that reads
 * before it writes. It says when it is `ready`, starts on `go()`, and `done` resolves its outcomes.
 */
function rotatingChild(path: string, refresh: string, count: number): { ready: Promise<void>; go(): void; done: Promise<ChildOutcome> } {
  const url = (file: string) => JSON.stringify(pathToFileURL(join(SRC, file)).href);
  const script = `
    const { createDatabase } = await import(${url('sql/database.ts')});
    const { createAuthRepository } = await import(${url('auth/repository.ts')});
    const { StoreUnavailableError } = await import(${url('core/errors.ts')});
    const { randomBytes } = await import('node:crypto');
    const db = createDatabase(${JSON.stringify(`sqlite:${path}`)});
    const repo = createAuthRepository(db);
    const start = ${T0};
    const out = { ok: 0, unavailable: 0, lost: 0, other: [] };
    let current = ${JSON.stringify(refresh)};
    process.stdout.write('ready\\n');
    await new Promise((resolve) => process.stdin.once('data', resolve));
    for (let i = 0; i < ${count}; i++) {
      const next = randomBytes(32).toString('hex');
      try {
        const row = await repo.rotateRefresh(current, start + i, (row) => ({
          userId: row.user_id, familyId: row.family_id, accessHash: randomBytes(32).toString('hex'), accessExpiresAt: start + ${HOUR},
          refreshHash: next, refreshExpiresAt: start + ${HOUR}, familyExpiresAt: row.family_expires_at, parentId: row.id,
        }));
        if (row === null) out.lost++;
        else { out.ok++; current = next; }
      } catch (error) {
        if (error instanceof StoreUnavailableError) out.unavailable++;
        else out.other.push(String(error.code ?? error.message));
      }
    }
    await db.destroy();
    process.stdout.write(JSON.stringify(out));
    process.stdin.destroy();
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let ready!: () => void;
  const readyPromise = new Promise<void>((resolve) => (ready = resolve));
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.startsWith('ready\n')) ready();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<ChildOutcome>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      ready();
      if (code !== 0) return reject(new Error(`child exited ${code}: ${stderr}`));
      resolve(JSON.parse(stdout.slice('ready\n'.length)) as ChildOutcome);
    });
  });
  return { ready: readyPromise, go: () => child.stdin.write('go\n'), done };
}
