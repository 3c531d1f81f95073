/**
 * `livecomponents revoke-sessions` on the embedded default (one SQLite file holding users, tokens
 * and the key-value store): usage refusals, exact counts per kind for `--user` and `--all`, a dry run
 * changing nothing, a second run revoking nothing more, other users' tokens and sessions and every
 * other key (idempotency records, rate limits) untouched, and the security event.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuthRepository, type AuthRepository } from '../auth/repository.js';
import { authKeys, deviceDigest } from '../auth/keys.js';
import { hashToken } from '../auth/tokens.js';
import { memorySecurityEvents } from '../ops/security-events.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { createSessionManager, sessionKeyOf, type Session } from '../session/index.js';
import { storeKeys } from '../store/keys.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/types.js';
import { waitUntil } from '../../test/helpers/wait-until.js';
import { main } from './index.js';
import { revokeSessions } from './revoke-sessions.js';
import { printedCounts as counts } from '../../test/scale/revoke-sessions.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOUR = 3_600_000;

async function run(argv: string[], env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['revoke-sessions', ...argv], { env, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('revoke-sessions: usage', () => {
  it('exits 2 unless exactly one of --all, --user, --user-id and --orphans is given (--user may come with --user-id), or for a --user that is no email or a --user-id that is no UUID', async () => {
    const env = { DATABASE_URL: `sqlite:${join(dir, 'absent.db')}` };
    const say =
      "revoke-sessions: say whom to sign out: --all (every user and every session), --user EMAIL (one user), --user-id ID (one user, also one whose account was deleted; with --user EMAIL too, that email's trusted devices are forgotten as well) or --orphans (every user whose account was deleted: the sign-ins naming an id the users table no longer has)";
    expect(await run([], env)).toEqual({ code: 2, out: [], err: [say] });
    expect(await run(['--dry-run'], env)).toEqual({ code: 2, out: [], err: [say] });
    expect(await run(['--all', '--user', 'ada@example.com'], env)).toEqual({ code: 2, out: [], err: [say] });
    expect(await run(['--user', 'not an email'], env)).toEqual({ code: 2, out: [], err: ['revoke-sessions: --user must be the email address of an account'] });
    expect((await run(['--all', '--user'], env)).code).toBe(2);
    const id = '0b9f4c1e-6d2a-4f3b-9c8e-2a7d5e1f0c4b';
    expect(await run(['--all', '--user-id', id], env)).toEqual({ code: 2, out: [], err: [say] });
    expect(await run(['--all', '--user-id', id, '--user', 'ada@example.com'], env)).toEqual({ code: 2, out: [], err: [say] });
    // --orphans alone: with any other scope it is refused before any store is opened.
    for (const others of [['--all'], ['--user', 'ada@example.com'], ['--user-id', id], ['--user-id', id, '--user', 'ada@example.com']]) {
      expect(await run(['--orphans', ...others], env), others.join(' ')).toEqual({ code: 2, out: [], err: [say] });
      expect(await run([...others, '--orphans', '--dry-run'], env), others.join(' ')).toEqual({ code: 2, out: [], err: [say] });
    }
    const notAnId = 'revoke-sessions: --user-id must be the id of an account, a UUID such as 0b9f4c1e-6d2a-4f3b-9c8e-2a7d5e1f0c4b';
    // An email where the id goes, an id cut short, an id with a stray character: usage errors, before any store is opened.
    for (const typed of ['ada@example.com', id.slice(0, -1), `${id}x`, '', `{${id}}`]) {
      expect(await run(['--user-id', typed], env), typed).toEqual({ code: 2, out: [], err: [notAnId] });
    }
    expect(await run(['--user-id', id, '--user', 'not an email'], env)).toEqual({ code: 2, out: [], err: ['revoke-sessions: --user must be the email address of an account'] });
    expect((await run(['--user-id', id, '--user-id', id], env)).code).toBe(2);
    expect((await run(['--all'], { ...env, REDIS_KEY_PREFIX: 'a{b}' })).code).toBe(2);
  });

  it('exits 2 for a DATABASE_URL that does not parse, naming it once', async () => {
    expect(await run(['--all'], { DATABASE_URL: 'mysql://db/app' })).toEqual({
      code: 2,
      out: [],
      err: ['revoke-sessions: DATABASE_URL: unsupported scheme mysql:; use sqlite:PATH or postgres://…'],
    });
  });

  it('exits 2 for sqlite::memory:, 1 for a file that does not exist (not created)', async () => {
    expect((await run(['--all'], { DATABASE_URL: 'sqlite::memory:' })).code).toBe(2);
    const absent = join(dir, 'nested', 'absent.db');
    const missing = await run(['--all'], { DATABASE_URL: `sqlite:${absent}` });
    expect(missing.code).toBe(1);
    expect(missing.err[0]).toMatch(/^revoke-sessions: .*absent\.db does not exist/);
  });
});

describe('revoke-sessions on the embedded SQLite file', () => {
  let path: string;
  let repo: AuthRepository;
  let store: Store;
  let close: () => Promise<void>;
  let now: number;

  beforeEach(async () => {
    path = join(dir, `app-${Math.random().toString(36).slice(2)}.db`);
    const db = createDatabase(`sqlite:${path}`);
    await migrateToLatest(db);
    repo = createAuthRepository(db);
    store = await createSqliteStore({ db, sweepIntervalMs: 0 });
    close = async () => {
      await store.close();
      await db.destroy();
    };
    now = Date.now();
  });
  afterEach(async () => close());

  /** A user with one API sign-in rotated once, one browser sign-in and its session (with state), and one reset link. */
  async function user(email: string) {
    const row = await repo.insertUser({ email, passwordHash: 'hash', name: null }, now);
    if (row === 'taken') throw new Error('taken');
    const family = `family-${email}`;
    const grant = (n: number, parentId: string | null) => ({
      userId: row.id,
      familyId: family,
      accessHash: hashToken(`access-${email}-${n}`),
      accessExpiresAt: now + HOUR,
      refreshHash: hashToken(`refresh-${email}-${n}`),
      refreshExpiresAt: now + 24 * HOUR,
      familyExpiresAt: now + 48 * HOUR,
      parentId,
    });
    expect(await repo.createGrant(grant(1, null), now, 'hash')).toBe(true);
    expect(await repo.rotateRefresh(hashToken(`refresh-${email}-1`), now, (r) => grant(2, r.id))).not.toBeNull();
    const web = await repo.createWebSession(row.id, hashToken(`web-${email}`), now, now + 24 * HOUR, 'hash');
    await repo.insertPasswordReset(hashToken(`reset-${email}`), row.id, now, now + HOUR);
    const sessions = createSessionManager({ store });
    const session = await sessions.regenerate(null, `${row.id}/${web}`);
    await store.set(storeKeys.componentState(session.key, 'counter:main'), 'sealed', HOUR);
    await store.set(storeKeys.csrfNonce(session.key, 'n1'), '1', HOUR);
    return { id: row.id, email, session, web: web as string };
  }

  async function live(u: Awaited<ReturnType<typeof user>>) {
    return {
      access: (await repo.accessGrant(hashToken(`access-${u.email}-2`), Date.now())) !== undefined,
      web: (await repo.webSessionUser(u.id, u.web, Date.now())) !== undefined,
      refresh: (await repo.refreshByHash(hashToken(`refresh-${u.email}-2`)))?.revoked_at === null,
      reset: (await repo.liveResetEmail(hashToken(`reset-${u.email}`), Date.now())) !== undefined,
      session: (await store.get(storeKeys.session(u.session.key))) !== null,
      state: (await store.get(storeKeys.componentState(u.session.key, 'counter:main'))) !== null,
    };
  }
  const allLive = { access: true, web: true, refresh: true, reset: true, session: true, state: true };
  const noneLive = { access: false, web: false, refresh: false, reset: false, session: false, state: false };

  it('--user ends that user\'s tokens and sessions only, with exact counts; a dry run first changes nothing; a second run revokes nothing more', async () => {
    const ada = await user('ada@example.com');
    const bob = await user('bob@example.com');
    const anonymous: Session = await createSessionManager({ store }).create();
    const idempotency = storeKeys.idempotency(`s:${anonymous.key}`, 'key-1');
    await store.set(idempotency, 'record', HOUR);
    const env = { DATABASE_URL: `sqlite:${path}` };

    const dry = await run(['--user', ' ADA@example.com ', '--dry-run'], env);
    expect([dry.code, dry.err]).toEqual([0, []]);
    // Two access tokens (the rotation's successor and the first one, still unexpired), both refresh tokens of the family.
    expect(counts(dry.out)).toEqual({ 'access tokens': 2, 'browser sign-ins': 1, 'refresh tokens': 2, 'password reset tokens': 1, 'sessions signed in': 1, 'sessions anonymous': 0, 'component states': 1, 'csrf nonces': 1 });
    expect(dry.out.at(-1)).toBe('revoke-sessions: dry run done: nothing was changed');
    expect(await live(ada)).toEqual(allLive);

    const events = memorySecurityEvents();
    const out: string[] = [];
    const err: string[] = [];
    expect(await revokeSessions({ user: 'ada@example.com' }, { env, out: (l) => out.push(l), err: (l) => err.push(l), events })).toBe(0);
    expect(err).toEqual([]);
    expect(counts(out)).toEqual({ 'access tokens': 2, 'browser sign-ins': 1, 'refresh tokens': 2, 'password reset tokens': 1, 'sessions signed in': 1, 'sessions anonymous': 0, 'component states': 1, 'csrf nonces': 1 });
    expect(await live(ada)).toEqual(noneLive);
    expect(await live(bob)).toEqual(allLive);
    expect(await store.get(storeKeys.session(anonymous.key))).not.toBeNull();
    expect(await store.get(idempotency)).toBe('record');
    expect(events.events).toEqual([
      {
        event: 'authn_token_revoked',
        level: 'WARN',
        description: expect.stringMatching(
          new RegExp(`^Operator revoked the sign-ins of user ${ada.id} \\(livecomponents revoke-sessions, run by .+\\): 2 access tokens, 1 browser sign-ins and 2 refresh tokens revoked, 1 reset tokens spent, 1 sessions ended, 0 trusted devices forgotten$`),
        ),
      },
    ]);

    const again = await run(['--user', 'ada@example.com'], env);
    expect(again.code).toBe(0);
    expect(Object.values(counts(again.out))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('--all ends every user\'s tokens and every session, anonymous ones included; users and other keys stay; the event goes to stderr as JSON', async () => {
    const ada = await user('ada@example.com');
    const bob = await user('bob@example.com');
    const anonymous = await createSessionManager({ store }).create();
    const rateLimit = storeKeys.rateLimit('ip:192.0.2.1', 'counter', 'increment');
    await store.set(rateLimit, 'g:1', HOUR);
    const { code, out, err } = await run(['--all'], { DATABASE_URL: `sqlite:${path}` });
    expect(code).toBe(0);
    expect(counts(out)).toEqual({ 'access tokens': 4, 'browser sign-ins': 2, 'refresh tokens': 4, 'password reset tokens': 2, 'sessions signed in': 2, 'sessions anonymous': 1, 'component states': 2, 'csrf nonces': 2 });
    expect(await live(ada)).toEqual(noneLive);
    expect(await live(bob)).toEqual(noneLive);
    expect(await store.get(storeKeys.session(anonymous.key))).toBeNull();
    expect(await store.get(rateLimit)).toBe('g:1');
    expect(await repo.userByEmail('bob@example.com')).toBeDefined();
    expect(err).toHaveLength(1);
    expect(JSON.parse(err[0] as string)).toMatchObject({ security_event: true, event: 'authn_token_revoked', event_level: 'WARN', appid: 'livecomponents' });

    const again = await run(['--all'], { DATABASE_URL: `sqlite:${path}` });
    expect(Object.values(counts(again.out))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('--user finds an account registered before the lookalike and mixed-script rules, as sign-in does (its address as typed)', async () => {
    // Registration refuses these addresses now; sign-in and forgot-password still look them up as typed
    // (src/auth/input.ts lookupEmail), so such an account signs in, and must be one --user can sign out.
    const cyrillic = await user('\u0430lice@example.com');
    const ligature = await user('\ufb01nance@example.com');
    const bob = await user('bob@example.com');
    for (const [typed, account] of [['\u0430lice@EXAMPLE.com', cyrillic], ['\ufb01nance@example.com', ligature]] as const) {
      const result = await run(['--user', typed], { DATABASE_URL: `sqlite:${path}` });
      expect(result.code).toBe(0);
      expect(result.out[0]).toMatch(new RegExp(`^revoke-sessions: user ${account.id}: `));
      expect(counts(result.out)).toMatchObject({ 'browser sign-ins': 1, 'sessions signed in': 1 });
      expect(await live(account)).toEqual(noneLive);
    }
    expect(await live(bob)).toEqual(allLive);
  });

  it('SIGTERM between the tokens and the sessions: the tokens stay revoked, no session is ended, the counts so far are printed and logged once, exit 143', async () => {
    const ada = await user('ada@example.com');
    const bob = await user('bob@example.com');
    const signals = new EventEmitter();
    const events = memorySecurityEvents();
    const out: string[] = [];
    const err: string[] = [];
    const io = {
      env: { DATABASE_URL: `sqlite:${path}` },
      // The signal comes as the tokens' last count is printed: the run stops before the sessions' first piece.
      out: (line: string) => {
        out.push(line);
        if (line.startsWith('revoke-sessions: password reset tokens:')) signals.emit('SIGTERM', 'SIGTERM');
      },
      err: (line: string) => err.push(line),
      events,
      signals,
    };
    expect(await revokeSessions({ all: true }, io)).toBe(143);
    expect(err).toEqual(['revoke-sessions: SIGTERM: stopping after the transaction under way (at most seconds), then printing and logging what was done']);
    expect(counts(out)).toEqual({ 'access tokens': 4, 'browser sign-ins': 2, 'refresh tokens': 4, 'password reset tokens': 2, 'sessions signed in': 0, 'sessions anonymous': 0, 'component states': 0, 'csrf nonces': 0 });
    expect(out.at(-1)).toBe(
      'revoke-sessions: interrupted by SIGTERM: done only what is counted above; not done: the sessions not reached yet and every trusted device (the tokens above are all revoked): run it again to finish',
    );
    const sessionsLeft = { access: false, web: false, refresh: false, reset: false, session: true, state: true };
    expect(await live(ada)).toEqual(sessionsLeft);
    expect(await live(bob)).toEqual(sessionsLeft);
    expect(events.events).toEqual([
      {
        event: 'authn_token_revoked',
        level: 'WARN',
        description: expect.stringMatching(
          /^Operator's revocation of the sign-ins of every user \(livecomponents revoke-sessions, run by .+\) was interrupted by SIGTERM at a safe point: 4 access tokens, 2 browser sign-ins and 4 refresh tokens revoked, 2 reset tokens spent, 0 sessions ended, 0 trusted devices forgotten; not done: the sessions not reached yet and every trusted device \(the tokens above are all revoked\), run it again$/,
        ),
      },
    ]);
    expect(signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT')).toBe(0);

    // A signal before anything changed: nothing changes, no event, exit 130 for SIGINT.
    const early = new EventEmitter();
    const quiet = memorySecurityEvents();
    const lines: string[] = [];
    const run2 = revokeSessions({ all: true }, { env: { DATABASE_URL: `sqlite:${path}` }, out: (l) => lines.push(l), err: () => undefined, events: quiet, signals: early });
    early.emit('SIGINT', 'SIGINT');
    expect(await run2).toBe(130);
    expect(lines.at(-1)).toBe('revoke-sessions: interrupted by SIGINT before anything changed');
    expect(quiet.events).toEqual([]);
    expect(await live(ada)).toEqual(sessionsLeft);

    // Run again: it finishes.
    const again = await run(['--all'], { DATABASE_URL: `sqlite:${path}` });
    expect(again.code).toBe(0);
    expect(counts(again.out)).toMatchObject({ 'access tokens': 0, 'sessions signed in': 2 });
    expect(await live(ada)).toEqual(noneLive);
  });

  it('trusted devices (their own sign-in budget, src/auth/device.ts): --user forgets that account\'s, --all every account\'s, counted in the dry run and the run', async () => {
    const ada = await user('ada@example.com');
    const bob = await user('bob@example.com');
    // What the auth service keeps and reads (service.ts trustedDevice): the digests of the device tokens.
    const adaDevices = authKeys.devices('ada@example.com');
    const bobDevices = authKeys.devices('bob@example.com');
    await store.set(adaDevices, `${deviceDigest('laptop')} ${deviceDigest('phone')}`, HOUR);
    await store.set(bobDevices, deviceDigest('desktop'), HOUR);
    // Rate-limit state of a device stays, like every rate limit; an expired list is absent already.
    const attempts = authKeys.deviceAttempts('ada@example.com', 'laptop');
    await store.set(attempts, 'g:1', HOUR);
    await store.set(authKeys.devices('gone@example.com'), deviceDigest('old'), 1);
    await waitUntil('the short-lived list to expire', async () => (await store.get(authKeys.devices('gone@example.com'))) === null);
    const env = { DATABASE_URL: `sqlite:${path}` };

    const dry = await run(['--user', 'ada@example.com', '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain('revoke-sessions: trusted devices of 1 account: 2 would be forgotten');
    expect(await store.get(adaDevices)).not.toBeNull();

    const events = memorySecurityEvents();
    const out: string[] = [];
    expect(await revokeSessions({ user: 'ada@example.com' }, { env, out: (l) => out.push(l), err: () => undefined, events })).toBe(0);
    expect(out).toContain('revoke-sessions: trusted devices of 1 account: 2 forgotten');
    expect(out.at(-1)).toBe('revoke-sessions: done');
    expect(await store.get(adaDevices)).toBeNull();
    expect(await store.get(bobDevices)).toBe(deviceDigest('desktop'));
    expect(await store.get(attempts)).toBe('g:1');
    expect(events.events).toHaveLength(1);
    expect(events.events[0]?.description).toMatch(/, 1 sessions ended, 2 trusted devices forgotten$/);
    expect(await live(bob)).toEqual(allLive);

    const again = await run(['--user', 'ada@example.com'], env);
    expect(again.out).toContain('revoke-sessions: trusted devices of 0 accounts: 0 forgotten');

    const dryAll = await run(['--all', '--dry-run'], env);
    expect(dryAll.out).toContain('revoke-sessions: trusted devices of 1 account: 1 would be forgotten');
    const all = await run(['--all'], env);
    expect(all.code).toBe(0);
    expect(all.out).toContain('revoke-sessions: trusted devices of 1 account: 1 forgotten');
    expect(await store.get(bobDevices)).toBeNull();
    expect(await store.get(attempts)).toBe('g:1');
    expect(await live(ada)).toEqual(noneLive);
  });

  it('--user with an email that has no account exits 1 and changes nothing, saying what to run if the account was deleted', async () => {
    const ada = await user('ada@example.com');
    const result = await run(['--user', 'nobody@example.com'], { DATABASE_URL: `sqlite:${path}` });
    expect(result.code).toBe(1);
    expect(result.err).toEqual([
      expect.stringMatching(
        /has no account with the email nobody@example\.com; nothing was changed\. If that account was deleted, its sessions live on until they expire: run revoke-sessions --user-id ID --user nobody@example\.com to end them and forget the email's trusted devices \(its id is in the security events: "User ID registered" \(user_created\) and "User ID signed in" \(authn_login_success\) name it, with the time and source_ip of the request, never the email; or in a backup taken before the DELETE\)$/,
      ),
    ]);
    expect(await live(ada)).toEqual(allLive);
    expect(sessionKeyOf(ada.session.id)).toBe(ada.session.key);
  });
});
