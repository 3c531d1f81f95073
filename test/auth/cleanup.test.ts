/**
 * Deleting dead tokens: what goes and what stays (rotated tokens stay while their reuse must still
 * be detected), the lease that lets one of several instances run per interval, the timer, and
 * `livecomponents tokens:cleanup`.
 */
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanupTokensCommand, startTokenCleanup } from '../../src/auth/index.js';
import { main } from '../../src/cli/index.js';
import { createDatabase, migrateToLatest } from '../../src/sql/index.js';
import { createAuthRepository, REVOKE_MARGIN_MS } from '../../src/auth/repository.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { authApp, eachEngine, T0, type AuthApp } from './harness.js';
import { waitUntil } from '../helpers/wait-until.js';

const MINUTE = 60_000;
const DAY = 1440 * MINUTE;

eachEngine('token clean-up', (engine) => {
  let t: AuthApp;
  beforeEach(async () => {
    t = await authApp(engine, { auth: { limits: { login: { limit: 100, windowSeconds: 60 }, 'forgot-password': { limit: 100, windowSeconds: 60 } } } });
    await t.register('ada@example.com');
    await t.register('bob@example.com');
  });
  afterEach(async () => {
    await t.close();
  });
  const sameClock = async () => t.clock.now();

  const count = async (table: 'access_tokens' | 'refresh_tokens' | 'password_resets') =>
    Number((await t.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

  it('deletes expired and revoked tokens and spent resets, keeps live ones and rotated ones that could still be reused', async () => {
    // Ada: one sign-in rotated once (old token used, new live), one signed out (revoked).
    const live = await t.login('ada@example.com');
    const rotated = await t.refresh(live.refresh);
    const out = await t.login('ada@example.com');
    await t.post('/logout', undefined, { authorization: `Bearer ${out.access}` });
    // Bob: a reset mailed and spent, another outstanding.
    await t.post('/forgot-password', { email: 'bob@example.com' });
    await t.post('/forgot-password', { email: 'bob@example.com' });
    await t.idle();
    const token = /#token=([A-Za-z0-9_-]{43})/.exec(t.mail.messages[0]?.text ?? '')?.[1];
    expect((await t.post('/reset-password', { token, password: 'a brand new password' })).statusCode).toBe(204);
    const bob = await t.login('bob@example.com', 'a brand new password');

    expect([await count('access_tokens'), await count('refresh_tokens'), await count('password_resets')]).toEqual([4, 4, 2]);
    // The app's own clean-up, reading the database's clock as the test's: PostgreSQL's is the real
    // time, months from T0, and a clean-up refuses to run across such a skew (cleanup-clock-skew.test.ts).
    const cleanup = startTokenCleanup({ db: t.db, store: t.store, clock: t.clock, intervalMs: 0, databaseTime: sameClock });
    // Now: the revoked family of Ada's second sign-in (1 access, 1 refresh) and both spent resets.
    expect(await cleanup.runNow()).toEqual({ accessTokens: 1, refreshTokens: 1, passwordResets: 2 });
    // 16 minutes and the margin later the first access tokens ended more than REVOKE_MARGIN_MS ago
    // (a revocation's until then; the lease of the last run, one minute without a timer, is over too).
    t.takeEvents();
    t.clock.advance(16 * MINUTE + REVOKE_MARGIN_MS);
    expect(await cleanup.runNow()).toEqual({ accessTokens: 3, refreshTokens: 0, passwordResets: 0 });
    // The rotated refresh token is still there: presenting it again is still detected as reuse.
    expect((await t.refresh(live.refresh)).statusCode).toBe(401);
    expect(t.takeEvents()).toEqual(['authn_token_reuse', 'authn_token_revoked']);
    // That revoked the family: its two refresh tokens go at the next run, Bob's stays.
    t.clock.advance(2 * MINUTE);
    expect(await cleanup.runNow()).toEqual({ accessTokens: 0, refreshTokens: 2, passwordResets: 0 });
    expect((await t.refresh(bob.refresh)).statusCode).toBe(200);
    expect(rotated.statusCode).toBe(200);
    // Seven days on, everything has expired.
    t.clock.advance(8 * DAY);
    const last = await cleanup.runNow();
    expect(last).toEqual({ accessTokens: 1, refreshTokens: 2, passwordResets: 0 });
    expect([await count('access_tokens'), await count('refresh_tokens'), await count('password_resets')]).toEqual([0, 0, 0]);
  });

  it('deletes a backlog in pieces of at most the batch size (one DELETE of millions outran the statement timeout, every run)', async () => {
    // Five sign-outs: five revoked access tokens and five revoked refresh tokens.
    for (let i = 0; i < 5; i++) {
      const signedIn = await t.login('ada@example.com');
      expect((await t.post('/logout', undefined, { authorization: `Bearer ${signedIn.access}` })).statusCode).toBe(204);
    }
    let deletes = 0;
    const counted = t.db.withPlugin({
      transformQuery: ({ node }) => {
        if (node.kind === 'DeleteQueryNode') deletes++;
        return node;
      },
      transformResult: async ({ result }) => result,
    });
    expect(await createAuthRepository(counted).deleteDead(t.clock.now(), 2)).toEqual({ accessTokens: 5, refreshTokens: 5, passwordResets: 0 });
    // Five rows in pieces of two: 2, 2, 1 for each token table; one short (empty) piece for the resets.
    expect(deletes).toBe(3 + 3 + 1);
    expect([await count('access_tokens'), await count('refresh_tokens')]).toEqual([0, 0]);
  });

  it('several instances: one run per interval between them, by the lease in the shared store', async () => {
    const a = startTokenCleanup({ db: t.db, store: t.store, clock: t.clock, intervalMs: DAY, databaseTime: sameClock });
    const b = startTokenCleanup({ db: t.db, store: t.store, clock: t.clock, intervalMs: DAY, databaseTime: sameClock });
    try {
      await t.login('ada@example.com');
      t.clock.advance(16 * MINUTE + REVOKE_MARGIN_MS);
      const first = await Promise.all([a.runNow(), b.runNow()]);
      expect(first.filter((r) => r === null)).toHaveLength(1);
      expect(first.find((r) => r !== null)).toEqual({ accessTokens: 1, refreshTokens: 0, passwordResets: 0 });
      // Within the interval nobody runs again; after it (less a minute of margin) one does.
      t.clock.advance(DAY - 2 * MINUTE);
      expect(await a.runNow()).toBeNull();
      expect(await b.runNow()).toBeNull();
      t.clock.advance(MINUTE);
      const second = await Promise.all([b.runNow(), a.runNow()]);
      expect(second.filter((r) => r === null)).toHaveLength(1);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe('the clean-up timer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs first after a minute, then every interval, and stops', async () => {
    vi.useFakeTimers();
    const runs: unknown[] = [];
    const claims: string[] = [];
    const store = { claim: async (key: string) => (claims.push(key), null) } as unknown as Parameters<typeof startTokenCleanup>[0]['store'];
    const dir = mkdtempSync(join(tmpdir(), 'lc-cleanup-'));
    const db = createDatabase(`sqlite:${join(dir, 'db.sqlite')}`);
    await migrateToLatest(db);
    const cleanup = startTokenCleanup({ db, store, clock: { now: () => T0 }, intervalMs: 10 * MINUTE, onRun: (c) => runs.push(c) });
    await vi.advanceTimersByTimeAsync(MINUTE - 1);
    expect(runs).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    await waitUntil('the cleanup run to finish', () => runs.length === 1, { seen: () => runs });
    await vi.advanceTimersByTimeAsync(20 * MINUTE);
    await waitUntil('the third cleanup run to finish', () => runs.length === 3, { seen: () => runs });
    await cleanup.stop();
    await vi.advanceTimersByTimeAsync(60 * MINUTE);
    expect(runs).toHaveLength(3);
    expect(new Set(claims)).toEqual(new Set(['lc:{a:cleanup}:auth:cleanup-lease']));
    expect(runs[0]).toEqual({ accessTokens: 0, refreshTokens: 0, passwordResets: 0 });
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('retries a failed run after a minute, doubling, and gives the lease back when the deletion failed', async () => {
    vi.useFakeTimers();
    const dir = mkdtempSync(join(tmpdir(), 'lc-cleanup-'));
    const db = createDatabase(`sqlite:${join(dir, 'db.sqlite')}`);
    await migrateToLatest(db);
    const memory = createMemoryStore({ clock: { now: () => Date.now() } });
    // The store is down for the first two runs; the database fails the third run's first DELETE.
    let claimFailures = 2;
    const store = {
      ...memory,
      claim: async (key: string, value: string, ttlMs: number) => {
        if (claimFailures-- > 0) throw new StoreUnavailableError('the store is down');
        return memory.claim(key, value, ttlMs);
      },
    };
    let deleteFailures = 1;
    const failing = db.withPlugin({
      transformQuery: ({ node }) => {
        if (node.kind === 'DeleteQueryNode' && deleteFailures-- > 0) throw new Error('database gone');
        return node;
      },
      transformResult: async ({ result }) => result,
    });
    const errors: number[] = [];
    const runs: number[] = [];
    const start = Date.now();
    const cleanup = startTokenCleanup({
      db: failing,
      store,
      clock: { now: () => T0 },
      intervalMs: DAY,
      onRun: () => runs.push(Date.now() - start),
      onError: () => errors.push(Date.now() - start),
    });
    try {
      // Runs at 1 min (store down), 2 min (down), 4 min (the DELETE fails after the lease), 8 min (done).
      await vi.advanceTimersByTimeAsync(8 * MINUTE);
      await waitUntil('the cleanup run to finish', () => runs.length === 1, { seen: () => runs });
      expect(errors).toEqual([MINUTE, 2 * MINUTE, 4 * MINUTE]);
      expect(runs).toEqual([8 * MINUTE]);
      // Then the regular interval again: nothing for a day, one run after it.
      await vi.advanceTimersByTimeAsync(DAY - MINUTE);
      expect(runs).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(MINUTE);
      await waitUntil('the second cleanup run to finish', () => runs.length === 2, { seen: () => runs });
      expect(errors).toHaveLength(3);
    } finally {
      await cleanup.stop();
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('backs off to the interval while runs keep failing', async () => {
    vi.useFakeTimers();
    const store = { claim: async () => Promise.reject(new StoreUnavailableError('the store is down')) } as unknown as Parameters<typeof startTokenCleanup>[0]['store'];
    const errors: number[] = [];
    const start = Date.now();
    const cleanup = startTokenCleanup({ db: {} as never, store, clock: { now: () => T0 }, intervalMs: 10 * MINUTE, databaseTime: async () => T0, onError: () => errors.push(Date.now() - start) });
    await vi.advanceTimersByTimeAsync(60 * MINUTE);
    await cleanup.stop();
    // The first at 1 min, then waits of 1, 2, 4, 8, then 10 (the interval) minutes.
    expect(errors.map((ms) => ms / MINUTE)).toEqual([1, 2, 4, 8, 16, 26, 36, 46, 56]);
  });

  it("refuses an interval or first delay longer than Node's timers can wait (they would fire every millisecond)", () => {
    const store = { claim: vi.fn() } as unknown as Parameters<typeof startTokenCleanup>[0]['store'];
    expect(() => startTokenCleanup({ db: {} as never, store, intervalMs: 43_200 * MINUTE })).toThrow(/intervalMs must be from 0 to 2147483647/);
    expect(() => startTokenCleanup({ db: {} as never, store, intervalMs: Number.NaN })).toThrow(TypeError);
    expect(() => startTokenCleanup({ db: {} as never, store, intervalMs: DAY, firstRunAfterMs: 2 ** 31 })).toThrow(/firstRunAfterMs/);
    return startTokenCleanup({ db: {} as never, store, intervalMs: 2 ** 31 - 1 }).stop();
  });

  it('refuses an interval or first delay between 0 and 1 ms (Node waits 1 ms for it: a clean-up every millisecond)', async () => {
    const store = { claim: vi.fn() } as unknown as Parameters<typeof startTokenCleanup>[0]['store'];
    expect(() => startTokenCleanup({ db: {} as never, store, intervalMs: 0.5 })).toThrow(/^Token clean-up: intervalMs must be from 0 to 2147483647 .*, and not between 0 and 1$/);
    expect(() => startTokenCleanup({ db: {} as never, store, intervalMs: DAY, firstRunAfterMs: 0.5 })).toThrow(/^Token clean-up: firstRunAfterMs must be from 0 to 2147483647, and not between 0 and 1$/);
    await startTokenCleanup({ db: {} as never, store, intervalMs: 0 }).stop();
    await startTokenCleanup({ db: {} as never, store, intervalMs: 1.5, firstRunAfterMs: 0 }).stop();
  });

  it('does not start a timer when the interval is 0', async () => {
    vi.useFakeTimers();
    const store = { claim: vi.fn() } as unknown as Parameters<typeof startTokenCleanup>[0]['store'];
    const cleanup = startTokenCleanup({ db: {} as never, store, intervalMs: 0 });
    await vi.advanceTimersByTimeAsync(10 * DAY);
    expect((store.claim as ReturnType<typeof vi.fn>).mock.calls).toHaveLength(0);
    await cleanup.stop();
  });
});

describe('livecomponents tokens:cleanup', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lc-cleanup-cli-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  async function seeded(): Promise<string> {
    const url = `sqlite:${join(dir, 'app.db')}`;
    const db = createDatabase(url);
    await migrateToLatest(db);
    await db.insertInto('users').values({ id: 'u1', email: 'a@example.com', password_hash: 'h', name: null, created_at: T0, updated_at: T0 }).execute();
    const access = { user_id: 'u1', family_id: 'f1', created_at: T0 };
    await db
      .insertInto('access_tokens')
      .values([
        { ...access, id: 'a1', token_hash: 'h1', expires_at: T0, revoked_at: null },
        { ...access, id: 'a2', token_hash: 'h2', expires_at: Date.now() + DAY, revoked_at: T0 },
        { ...access, id: 'a3', token_hash: 'h3', expires_at: Date.now() + DAY, revoked_at: null },
      ])
      .execute();
    await db
      .insertInto('refresh_tokens')
      .values({ ...access, id: 'r1', token_hash: 'r1', parent_id: null, family_expires_at: T0, expires_at: T0, used_at: null, revoked_at: null })
      .execute();
    await db.insertInto('password_resets').values({ token_hash: 'p1', user_id: 'u1', expires_at: T0, used_at: null, created_at: T0 }).execute();
    await db.destroy();
    return url;
  }

  it('deletes dead tokens of DATABASE_URL and prints how many', async () => {
    const url = await seeded();
    const out: string[] = [];
    const err: string[] = [];
    expect(await cleanupTokensCommand({ DATABASE_URL: url }, { out: (l) => out.push(l), err: (l) => err.push(l) })).toBe(0);
    expect(out).toEqual([`tokens:cleanup: deleted 2 access tokens and sign-ins, 1 refresh tokens, 1 password resets from sqlite:${join(dir, 'app.db')}`]);
    expect(err).toEqual([]);
    const again: string[] = [];
    expect(await cleanupTokensCommand({ DATABASE_URL: url }, { out: (l) => again.push(l) })).toBe(0);
    expect(again[0]).toContain('deleted 0 access tokens and sign-ins, 0 refresh tokens, 0 password resets');
  });

  it('runs through the livecomponents command', async () => {
    const url = await seeded();
    const err: string[] = [];
    // The command prints through console.log (the CLI hands it the environment only).
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(await main(['tokens:cleanup'], { env: { DATABASE_URL: url }, out: () => undefined, err: (l) => err.push(l) })).toBe(0);
      expect(log.mock.calls.map((c) => String(c[0]))).toEqual([
        `tokens:cleanup: deleted 2 access tokens and sign-ins, 1 refresh tokens, 1 password resets from sqlite:${join(dir, 'app.db')}`,
      ]);
    } finally {
      log.mockRestore();
    }
    expect(err).toEqual([]);
  });

  it('fails with exit code 1 and a message that never shows the password of the URL', async () => {
    const err: string[] = [];
    const code = await cleanupTokensCommand({ DATABASE_URL: 'postgres://app:hunter2@127.0.0.1:1/app' }, { err: (l) => err.push(l) });
    expect(code).toBe(1);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^tokens:cleanup: postgres:\/\/127\.0\.0\.1:1\/app: /);
    expect(err[0]).not.toContain('hunter2');
  });

  it('refuses a file move-data moved elsewhere (exit 1, nothing deleted): a cron job left on the old DATABASE_URL must not report success', async () => {
    const url = await seeded();
    const db = createDatabase(url);
    await sql`insert into lc_moved (part, target, moved_at) values ('relational', 'postgres://db.internal:5432/app', '2026-12-05T10:00:00.000Z')`.execute(db);
    const err: string[] = [];
    expect(await cleanupTokensCommand({ DATABASE_URL: url }, { err: (l) => err.push(l) })).toBe(1);
    expect(err).toEqual([expect.stringContaining('tokens:cleanup would clean that stale copy, not the tokens in use; nothing was deleted')]);
    expect(err[0]).toContain('postgres://db.internal:5432/app');
    const left = await Promise.all((['access_tokens', 'refresh_tokens', 'password_resets'] as const).map(async (table) => (await db.selectFrom(table).select('user_id').execute()).length));
    expect(left).toEqual([3, 1, 1]);
    await db.destroy();
  });

  it('a moved file named relative to cwd, in a folder with a space and a quote: refused, with an --unmark command a shell takes as one path', async () => {
    const folder = join(dir, "it's here");
    const url = await seeded();
    mkdirSync(folder);
    renameSync(join(dir, 'app.db'), join(folder, 'app.db'));
    const db = createDatabase(`sqlite:${join(folder, 'app.db')}`);
    await sql`insert into lc_moved (part, target, moved_at) values ('relational', 'postgres://db.internal:5432/app', '2026-12-05T10:00:00.000Z')`.execute(db);
    await db.destroy();
    expect(url).toContain(dir);
    const err: string[] = [];
    // Relative, as a cron job's DATABASE_URL may be: resolved against cwd as the command opens it.
    expect(await cleanupTokensCommand({ DATABASE_URL: 'sqlite:./app.db' }, { cwd: folder, err: (l) => err.push(l) })).toBe(1);
    expect(err).toEqual([expect.stringContaining(`\`livecomponents move-data --unmark --from 'sqlite:${join(dir, "it'\\''s here")}/app.db'\``)]);
  });

  it('fails on a database that was never migrated', async () => {
    const url = `sqlite:${join(dir, 'empty.db')}`;
    const db = createDatabase(url);
    await db.destroy();
    const err: string[] = [];
    expect(await cleanupTokensCommand({ DATABASE_URL: url }, { err: (l) => err.push(l) })).toBe(1);
    expect(err[0]).toMatch(/no such table/);
  });

  it('does not create a database that does not exist (a mistyped path leaves nothing behind)', async () => {
    const err: string[] = [];
    expect(await cleanupTokensCommand({ DATABASE_URL: 'sqlite:./typo/x.db' }, { cwd: dir, err: (l) => err.push(l) })).toBe(1);
    expect(err).toEqual([
      `tokens:cleanup: sqlite:${join(dir, 'typo/x.db')}: the database does not exist (check DATABASE_URL; \`livecomponents migrate\` creates it)`,
    ]);
    expect(readdirSync(dir)).toEqual([]);
  });
});
