/**
 * The auth routes when the SQLite file cannot be written (disk full, read-only): 503
 * SERVICE_UNAVAILABLE, never 500, and the log names the real error — not the "cannot rollback - no
 * transaction is active" of a ROLLBACK sent after SQLite had already rolled back (src/sql/sqlite-outage.ts).
 * And while another connection holds the write lock: waited for off the event loop, 503 past 2 s.
 */
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqliteConnectionOf } from '../../src/sql/database.js';
import { authApp, PASSWORD, sqliteEngine, type AuthApp } from './harness.js';

/** The `request failed` log lines: their answer code and error message (with its causes). */
function failures(t: AuthApp): { code: string; message: string }[] {
  return t.logs
    .map((line) => JSON.parse(line) as { msg?: string; code?: string; err?: { message?: string } })
    .filter((entry) => entry.msg === 'request failed')
    .map((entry) => ({ code: String(entry.code), message: String(entry.err?.message) }));
}

describe('auth routes when the SQLite file cannot be written', () => {
  let t: AuthApp;
  beforeEach(async () => {
    t = await authApp(sqliteEngine, { auth: { limits: { login: { limit: 1_000, windowSeconds: 60 } } } });
    expect((await t.register('ada@example.com')).statusCode).toBe(201);
  });
  afterEach(async () => {
    await t?.close();
  });

  const bearer = (access: string) => ({ authorization: `Bearer ${access}` });

  it('disk full: sign-ins answer 200 until the file is full, then 503 (never 500), and the log names SQLITE_FULL, never "cannot rollback"', async () => {
    const sessions: { access: string }[] = [];
    for (let i = 0; i < 3; i++) sessions.push(await t.login('ada@example.com'));
    const native = sqliteConnectionOf(t.db)!;
    native.pragma(`max_page_count = ${Number(native.pragma('page_count', { simple: true }))}`);
    const statuses: number[] = [];
    for (let i = 0; i < 200 && !statuses.includes(503); i++) {
      statuses.push((await t.post('/login', { email: 'ada@example.com', password: PASSWORD })).statusCode);
    }
    // Every answer a success until the first 503, which the file being full caused (500 before:
    // SQLite had rolled the sign-in back, and Kysely's ROLLBACK then failed over the real error).
    const grants = statuses.filter((s) => s === 200).length;
    expect(statuses).toEqual([...Array(grants).fill(200), 503]);
    expect(failures(t)).toEqual([{ code: 'SERVICE_UNAVAILABLE', message: 'SQLite failed: database or disk is full' }]);
    expect(t.logs.filter((line) => line.includes('cannot rollback'))).toEqual([]);
    // SQLite had rolled the failed sign-in back; once there is room again, sign-ins work.
    expect(await t.db.selectFrom('access_tokens').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).toEqual({
      n: sessions.length + grants,
    });
    native.pragma('max_page_count = 1073741823');
    expect((await t.post('/login', { email: 'ada@example.com', password: PASSWORD })).statusCode).toBe(200);
    expect((await t.me(sessions[0]!.access)).statusCode).toBe(200);
  });

  // The single row or two that a logout rewrites usually still fit their page under
  // `max_page_count`, so logout meets the unwritable file as a read-only one here (the disk-full
  // reproducer on a real full tmpfs answers 503 for both too).
  it('read-only file: logout and logout-all answer 503 and the log names SQLITE_READONLY', async () => {
    const session = await t.login('ada@example.com');
    sqliteConnectionOf(t.db)!.pragma('query_only = ON');
    const logout = await t.post('/logout', undefined, bearer(session.access));
    const logoutAll = await t.post('/logout-all', undefined, bearer(session.access));
    expect([logout.statusCode, logoutAll.statusCode]).toEqual([503, 503]);
    expect(failures(t)).toEqual([
      { code: 'SERVICE_UNAVAILABLE', message: 'SQLite failed: attempt to write a readonly database' },
      { code: 'SERVICE_UNAVAILABLE', message: 'SQLite failed: attempt to write a readonly database' },
    ]);
    // Reads still work: the token is still valid.
    expect((await t.me(session.access)).statusCode).toBe(200);
  });
});

describe('auth routes while another connection holds the SQLite write lock', () => {
  let t: AuthApp;
  let other: BetterSqlite3.Database | undefined;
  afterEach(async () => {
    other?.close();
    await t?.close();
  });

  const accessTokens = async () =>
    Number((await t.db.selectFrom('access_tokens').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

  it('a sign-in waits for it off the event loop (/health/live answers meanwhile) and answers 200 once it is released; held past 2 s, 503 and nothing written', async () => {
    t = await authApp(sqliteEngine);
    expect((await t.register('ada@example.com')).statusCode).toBe(201);
    // Another process, as far as SQLite knows; it commits on a timer of this event loop, which
    // SQLite's busy handler used to block: the sign-in then waited its 2 s out and answered 503.
    other = new BetterSqlite3(sqliteConnectionOf(t.db)!.name, { timeout: 0 });
    other.exec('BEGIN IMMEDIATE');
    let released = false;
    setTimeout(() => {
      other!.exec('COMMIT');
      released = true;
    }, 1_500);
    const signIn = t.post('/login', { email: 'ada@example.com', password: PASSWORD });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = performance.now();
    const live = await t.app.inject({ method: 'GET', url: '/health/live' });
    expect([live.statusCode, performance.now() - started < 300, released]).toEqual([200, true, false]);
    expect((await signIn).statusCode).toBe(200);
    expect(released).toBe(true);
    expect(await accessTokens()).toBe(1);

    other.exec('BEGIN IMMEDIATE');
    const refused = await t.post('/login', { email: 'ada@example.com', password: PASSWORD });
    other.exec('ROLLBACK');
    expect(refused.statusCode).toBe(503);
    expect(failures(t)).toEqual([{ code: 'SERVICE_UNAVAILABLE', message: 'SQLite failed: database is locked' }]);
    expect(await accessTokens()).toBe(1);
  }, 15_000);
});
