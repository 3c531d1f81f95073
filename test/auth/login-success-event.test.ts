/**
 * `authn_login_success` means a sign-in that happened: it is logged once the grant (API) or the web
 * session (browser) is written, not when the password checked out. Before, a sign-in that then
 * failed — the database read-only (a hot standby after a failover) or down: 503; a password reset
 * committed meanwhile: 401 — left a success in the audit log. Both engines, each made read-only
 * under the running app: SQLite by `PRAGMA query_only` on the app's connection, PostgreSQL by
 * `default_transaction_read_only` on a database of the test's own (as read-only-postgres.test.ts).
 */
import { sql } from 'kysely';
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createDatabase } from '../../src/sql/database.js';
import { migrateToLatest } from '../../src/sql/migrate.js';
import { ownDatabase } from '../helpers/postgres-database.js';
import { authApp, eachEngine, PASSWORD, setCookies, type AuthApp, type Engine } from './harness.js';

/** `engine`, and a switch that makes the database it opened refuse writes (or take them again). */
function readOnlyCapable(engine: Engine): { engine: Engine; setReadOnly: (on: boolean) => Promise<void> } {
  let setReadOnly: (on: boolean) => Promise<void> = () => Promise.reject(new Error('the database is not open'));
  if (engine.name === 'sqlite') {
    return {
      engine: {
        name: 'sqlite',
        async open() {
          const opened = await engine.open();
          // One connection: the app's own, so the pragma reaches every query the app makes.
          setReadOnly = async (on) => void (await sql`pragma query_only = ${sql.raw(on ? 'on' : 'off')}`.execute(opened.db));
          return opened;
        },
      },
      setReadOnly: (on) => setReadOnly(on),
    };
  }
  return {
    engine: {
      name: 'postgres',
      async open() {
        const database = await ownDatabase('auth_login_event');
        const db = createDatabase(database.url);
        await migrateToLatest(db);
        setReadOnly = database.setReadOnly;
        return { db, drop: () => database.drop() };
      },
    },
    setReadOnly: (on) => setReadOnly(on),
  };
}

const sessionCookieOf = (res: LightMyRequestResponse) =>
  setCookies(res)
    .find((c) => c.startsWith('lc_session='))
    ?.split(';')[0] ?? '';

eachEngine('authn_login_success once the sign-in is recorded', (base) => {
  const { engine, setReadOnly } = readOnlyCapable(base);
  let t: AuthApp;
  beforeEach(async () => {
    t = await authApp(engine);
    expect((await t.register('ada@example.com')).statusCode).toBe(201);
    t.takeEvents();
  });
  afterEach(() => t?.close());

  it('an API sign-in on a read-only database answers 503 and logs no success; writable again, the same events as ever', async () => {
    await setReadOnly(true);
    const res = await t.post('/login', { email: 'ada@example.com', password: PASSWORD });
    expect([res.statusCode, res.json().code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
    expect(t.takeEvents()).toEqual([]);

    await setReadOnly(false);
    expect((await t.post('/login', { email: 'ada@example.com', password: PASSWORD })).statusCode).toBe(200);
    expect(t.events.map((e) => [e.event, e.description])).toEqual([
      ['authn_login_success', expect.stringMatching(/^User \S+ signed in$/)],
      ['session_created', expect.stringMatching(/^User \S+ started token family /)],
      ['authn_token_created', expect.stringMatching(/^Access and refresh token issued to user /)],
    ]);
  });

  it('a browser sign-in on a read-only database answers 503 and logs no success', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/login' });
    const cookie = sessionCookieOf(page);
    const token = /name="_csrf_token" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
    await setReadOnly(true);
    const res = await t.app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: 'http://127.0.0.1:3000' },
      payload: new URLSearchParams({ _csrf_token: token, email: 'ada@example.com', password: PASSWORD }).toString(),
    });
    expect(res.statusCode).toBe(503);
    expect(t.takeEvents()).toEqual([]);
  });

  it('a sign-in whose password changed after it was checked logs its failure only', async () => {
    const service = t.app.livecomponentsAuth.service;
    const verified = await service.verifyCredentials('ada@example.com', PASSWORD, undefined);
    if (verified.type === 'error') throw verified.error;
    await t.db.updateTable('users').set({ password_hash: 'changed by a reset' }).where('id', '=', verified.user.id).execute();
    const started = await service.startWebSession(verified.user, undefined);
    expect(started.type === 'error' && started.error.code).toBe('INVALID_CREDENTIALS');
    expect(t.takeEvents()).toEqual(['authn_login_fail']);
  });
});
