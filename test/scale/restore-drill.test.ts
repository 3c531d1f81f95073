/**
 * Restore drills (docs/deployment.md §8, "After a restore"): a backup taken before a revocation,
 * restored the way §8 says, brings the revoked credential back — asserted, it is the problem — and
 * `livecomponents revoke-sessions --all` run against the restored stores ends it again, while what
 * the backup should bring back (the users) stays.
 *
 * 1. PostgreSQL: a fresh database migrated by `livecomponents migrate`; register, sign in, rotate the
 *    refresh token; `pg_dump -Fc`; logout-all; `pg_restore` into a fresh database: the refresh token
 *    logout-all revoked rotates again there. After the command it is refused (401
 *    REFRESH_TOKEN_INVALID), and the user signs in again.
 * 2. SQLite, the embedded default (users, tokens and sessions in one file): a browser signs in; an
 *    online `.backup` while the app serves; the browser signs out; the app is stopped, the copy put
 *    back and its -wal and -shm deleted, the app started: the ended session acts again, signed in.
 *    The command, run while the app serves, ends it: its next action answers 403 CSRF_TOKEN_INVALID
 *    (an expired session, PROTOCOL §3, logged `session_use_after_expire`); the user signs in again.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { createDemoApp } from '../../examples/demo/app.js';
import { capturedMailTransport } from '../../src/auth/index.js';
import { main } from '../../src/cli/index.js';
import { loadConfig } from '../../src/ops/config.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import type { Backends } from '../../src/runtime/backends.js';
import { createDatabase } from '../../src/sql/database.js';
import { migrateToLatest } from '../../src/sql/migrate.js';
import { postgresAvailability, warnSkipped } from '../../src/sql/test-postgres.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { FAST_ARGON2 } from '../auth/harness.js';
import { ownDatabase } from '../helpers/postgres-database.js';
import { runRevokeSessions } from './revoke-sessions.js';

const PASSWORD = 'correct horse battery staple 42';
const EMAIL = 'ada@example.com';
const keys = { LC_STATE_KEYS: randomBytes(32).toString('base64'), LC_SESSION_SECRET: randomBytes(32).toString('base64') };
const dir = mkdtempSync(join(tmpdir(), 'lc-restore-drill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const availability = await postgresAvailability();
if (availability.state === 'fail') throw new Error(availability.reason);
if (availability.state === 'skip') warnSkipped('restore drill (PostgreSQL)', availability.reason);

/** The reference app in this process on `env`; `backends` when given (else opened from `env`). */
async function startApp(env: Record<string, string>, backends?: Backends) {
  const events = memorySecurityEvents();
  const config = loadConfig({ ...keys, TOKEN_CLEANUP_INTERVAL: '0', ...env });
  const app = await createDemoApp({
    config,
    backends,
    framework: { events, dataDir: dir },
    auth: { mail: capturedMailTransport(), password: FAST_ARGON2, events },
  });
  await app.ready();
  return { app, events, origin: config.appOrigin };
}

/** The value of cookie `name` set by `res`, if any. */
function setCookie(res: LightMyRequestResponse, name: string): string | undefined {
  const header = res.headers['set-cookie'];
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const line = lines.find((l) => l.startsWith(`${name}=`));
  return line?.split(';')[0]?.slice(name.length + 1);
}

function api(app: FastifyInstance, route: string, options: { body?: object; refresh?: string; bearer?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.refresh !== undefined) headers.cookie = `refresh_token=${options.refresh}`;
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
  return app.inject({ method: 'POST', url: `/api/v1/auth/${route}`, headers, payload: JSON.stringify(options.body ?? {}) });
}

/** `revoke-sessions --all` against `env`, in this process, from `cwd`: exit code, counts by kind, lines. */
async function revokeAll(env: Record<string, string>, cwd: string) {
  const { code, counts, out, err } = await runRevokeSessions({ all: true }, { env, cwd });
  return { code, counts, out, err };
}

describe.skipIf(availability.state !== 'up')('restore drill: PostgreSQL (pg_dump -Fc, pg_restore)', () => {
  it('a refresh token revoked by logout-all after the dump rotates again on the restored database, until revoke-sessions --all', { timeout: 120_000 }, async () => {
    const source = await ownDatabase('restore_src');
    const restored = await ownDatabase('restore_dst');
    const dump = join(dir, 'livecomponents.dump');
    const apps: FastifyInstance[] = [];
    /** The app on a PostgreSQL database, its store in memory (this drill is about the tokens). */
    const onPostgres = async (url: string) => {
      const db = createDatabase(url);
      const store = createMemoryStore();
      const started = await startApp({ DATABASE_URL: url }, { db, store, close: async () => (await store.close(), await db.destroy()) });
      apps.push(started.app);
      return started.app;
    };
    try {
      const migrated = await main(['migrate'], { env: { DATABASE_URL: source.url }, out: () => undefined, err: () => undefined });
      expect(migrated).toBe(0);
      const app = await onPostgres(source.url);
      expect((await api(app, 'register', { body: { email: EMAIL, password: PASSWORD } })).statusCode).toBe(201);
      const login = await api(app, 'login', { body: { email: EMAIL, password: PASSWORD } });
      expect(login.statusCode).toBe(200);
      const r1 = setCookie(login, 'refresh_token') as string;
      const rotated = await api(app, 'refresh-token', { refresh: r1 });
      expect(rotated.statusCode).toBe(200);
      const r2 = setCookie(rotated, 'refresh_token') as string;
      const a2 = (rotated.json() as { access_token: string }).access_token;

      // The nightly backup, then the user signs out everywhere (a stolen laptop, say).
      const dumped = spawnSync('pg_dump', ['-Fc', '-f', dump, '-d', source.url], { encoding: 'utf8' });
      expect(dumped.status, dumped.stderr).toBe(0);
      expect((await api(app, 'logout-all', { bearer: a2 })).statusCode).toBe(204);
      expect((await api(app, 'refresh-token', { refresh: r2 })).json()).toMatchObject({ code: 'REFRESH_TOKEN_INVALID' });
      await app.close();

      // Restored into a fresh database (§8): the revoked refresh token rotates again. The problem.
      const restoredRun = spawnSync('pg_restore', ['-d', restored.url, dump], { encoding: 'utf8' });
      expect(restoredRun.status, restoredRun.stderr).toBe(0);
      const back = await onPostgres(restored.url);
      const revived = await api(back, 'refresh-token', { refresh: r2 });
      expect(revived.statusCode, 'after the restore, the token logout-all revoked works again').toBe(200);
      const r3 = setCookie(revived, 'refresh_token') as string;
      const a3 = (revived.json() as { access_token: string }).access_token;
      expect((await back.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${a3}` } })).statusCode).toBe(200);

      // The command, while the restored app serves. Run from a folder without the app's embedded
      // store (no REDIS_URL, no ./data/livecomponents.db here), it refuses and changes nothing.
      const empty = mkdtempSync(join(dir, 'cwd-'));
      const elsewhere = await revokeAll({ DATABASE_URL: restored.url }, empty);
      expect(elsewhere.code).toBe(1);
      expect(elsewhere.err).toEqual([expect.stringMatching(/^revoke-sessions: REDIS_URL is not set, so the app keeps its sessions in the embedded store .* which does not exist here: .*; nothing was changed$/)]);
      expect(elsewhere.counts).toEqual({});
      // In the app's working directory (this drill's app keeps its store in memory: an empty embedded
      // file stands for it).
      const kv = createDatabase(`sqlite:${join(empty, 'data', 'livecomponents.db')}`);
      await migrateToLatest(kv);
      await kv.destroy();
      const revoked = await revokeAll({ DATABASE_URL: restored.url }, empty);
      expect([revoked.code, revoked.err]).toEqual([0, []]);
      // Live on the restored database: the access tokens of the sign-in, the rotation and the revived
      // rotation; the three refresh tokens of the family (two rotated: their reuse is detected).
      expect(revoked.counts).toEqual({ 'access tokens': 3, 'browser sign-ins': 0, 'refresh tokens': 3, 'password reset tokens': 0, 'sessions signed in': 0, 'sessions anonymous': 0, 'component states': 0, 'csrf nonces': 0 });
      expect(revoked.out).toContain(`revoke-sessions: sessions in sqlite:${join(empty, 'data', 'livecomponents.db')}:`);
      for (const token of [r2, r3]) {
        const refused = await api(back, 'refresh-token', { refresh: token });
        expect([refused.statusCode, refused.json().code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
      }
      expect((await back.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${a3}` } })).json()).toMatchObject({ code: 'INVALID_TOKEN' });
      // The user is still there: signing in works, and its refresh token rotates.
      const again = await api(back, 'login', { body: { email: EMAIL, password: PASSWORD } });
      expect(again.statusCode).toBe(200);
      expect((await api(back, 'refresh-token', { refresh: setCookie(again, 'refresh_token') as string })).statusCode).toBe(200);
      // Run again: nothing more to revoke but the new sign-in.
      const second = await revokeAll({ DATABASE_URL: restored.url }, empty);
      expect(second.counts).toEqual({ 'access tokens': 2, 'browser sign-ins': 0, 'refresh tokens': 2, 'password reset tokens': 0, 'sessions signed in': 0, 'sessions anonymous': 0, 'component states': 0, 'csrf nonces': 0 });
    } finally {
      await Promise.all(apps.map((a) => a.close().catch(() => undefined)));
      await source.drop();
      await restored.drop();
    }
  });
});

describe('restore drill: SQLite, the embedded default (.backup, file put back)', () => {
  it('a browser session ended by its sign-out is back after the restore, signed in, until revoke-sessions --all; the users stay', { timeout: 120_000 }, async () => {
    const folder = mkdtempSync(join(dir, 'sqlite-'));
    const file = join(folder, 'livecomponents.db');
    const backup = join(folder, 'backup.db');
    const env = { DATABASE_URL: `sqlite:${file}` };
    let { app, events, origin } = await startApp(env);
    try {
      const page = async (path: string, cookie: string) => {
        const res = await app.inject({ method: 'GET', url: path, headers: cookie === '' ? {} : { cookie: `lc_session=${cookie}` } });
        return {
          res,
          cookie: setCookie(res, 'lc_session') ?? cookie,
          formToken: /name="_csrf_token" value="([^"]+)"/.exec(res.body)?.[1] ?? '',
          csrf: /<meta name="csrf-token" content="([^"]+)"/.exec(res.body)?.[1] ?? '',
        };
      };
      const form = (path: string, cookie: string, fields: Record<string, string>) =>
        app.inject({
          method: 'POST',
          url: path,
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `lc_session=${cookie}`, origin },
          payload: new URLSearchParams(fields).toString(),
        });
      const act = (cookie: string, csrf: string) =>
        app.inject({
          method: 'POST',
          url: '/api/livecomponents/action',
          headers: { 'content-type': 'application/json', cookie: `lc_session=${cookie}`, 'x-csrf-token': csrf },
          payload: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
        });

      expect((await api(app, 'register', { body: { email: EMAIL, password: PASSWORD } })).statusCode).toBe(201);
      const loginPage = await page('/login', '');
      const signedIn = await form('/login', loginPage.cookie, { _csrf_token: loginPage.formToken, email: EMAIL, password: PASSWORD });
      expect(signedIn.statusCode).toBe(303);
      const session = setCookie(signedIn, 'lc_session') as string;
      expect((await page('/profile', session)).res.body).toContain(EMAIL);
      // The counter's page mounts it in this session.
      const profile = await page('/', session);
      expect((await act(session, profile.csrf)).statusCode).toBe(200);

      // The online backup of §8, while the app serves.
      const copied = spawnSync('sqlite3', [file, `.backup '${backup}'`], { encoding: 'utf8' });
      expect(copied.status, copied.stderr).toBe(0);

      // The browser signs out: its session ends.
      const before = await page('/profile', session);
      expect((await form('/logout', session, { _csrf_token: before.formToken })).statusCode).toBe(303);
      expect((await act(session, profile.csrf)).json()).toMatchObject({ code: 'CSRF_TOKEN_INVALID' });

      // Restore per §8: stop the instance, put the file back, delete its -wal and -shm, start it.
      await app.close();
      copyFileSync(backup, file);
      for (const suffix of ['-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
      expect(existsSync(`${file}-wal`)).toBe(false);
      ({ app, events, origin } = await startApp(env));

      // The problem: the session its user ended is back, signed in.
      const revivedAction = await act(session, profile.csrf);
      expect(revivedAction.statusCode, 'after the restore, the signed-out session acts again').toBe(200);
      expect((await page('/profile', session)).res.body).toContain(EMAIL);

      // The command, while the app serves on the same file.
      const revoked = await revokeAll(env, folder);
      expect([revoked.code, revoked.err]).toEqual([0, []]);
      expect(revoked.counts).toEqual({
        'access tokens': 0,
        'browser sign-ins': 1,
        'refresh tokens': 0,
        'password reset tokens': 0,
        'sessions signed in': 1,
        'sessions anonymous': 0,
        'component states': 2,
        'csrf nonces': 0,
      });

      // The session is gone: its next action is an expired session's (PROTOCOL §3).
      const after = await act(session, profile.csrf);
      expect([after.statusCode, after.json().code]).toEqual([403, 'CSRF_TOKEN_INVALID']);
      expect(events.events.map((e) => e.event)).toContain('session_use_after_expire');
      const anonymousPage = await page('/profile', session);
      expect(anonymousPage.cookie, 'a page view with the old cookie starts a new session').not.toBe(session);
      expect(anonymousPage.res.body).not.toContain(EMAIL);

      // The users came back with the restore and stay: the same password signs in.
      const loginAgain = await page('/login', '');
      const again = await form('/login', loginAgain.cookie, { _csrf_token: loginAgain.formToken, email: EMAIL, password: PASSWORD });
      expect(again.statusCode).toBe(303);
      expect((await page('/profile', setCookie(again, 'lc_session') as string)).res.body).toContain(EMAIL);
    } finally {
      await app.close();
    }
  });
});
