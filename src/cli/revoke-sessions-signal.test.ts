/**
 * `livecomponents revoke-sessions --all` stopped by a real SIGINT (Ctrl-C) in a child process, on
 * PostgreSQL (1,200 users, one access token each, revoked 500 users a transaction). The test holds
 * the row lock of one user of the second piece, so the run is certainly between its first and third
 * piece when the signal comes: the second piece's transaction finishes (the safe point), the run
 * stops before the third, prints what was done and what was not, logs one `authn_token_revoked`
 * event with those counts, and exits 130. Killed where it stood (Node's default for SIGINT, the old
 * behaviour), it logged nothing of the 500 or 1,000 tokens it had revoked.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../sql/test-postgres.js';
import { createSessionManager } from '../session/index.js';
import { storeKeys } from '../store/keys.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import { waitUntil } from '../../test/helpers/wait-until.js';

const root = mkdtempSync(join(tmpdir(), 'lc-revoke-signal-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const repo = join(import.meta.dirname, '..', '..');

const availability = await postgresAvailability();
if (availability.state === 'fail') throw new Error(availability.reason);
if (availability.state === 'skip') warnSkipped('revoke-sessions stopped by SIGINT (PostgreSQL)', availability.reason);

const USERS = 1_200;
const HOUR = 3_600_000;

describe.skipIf(availability.state !== 'up')('revoke-sessions --all stopped by SIGINT (PostgreSQL, child process)', () => {
  it('finishes the transaction under way, stops before the next, prints and logs the counts so far, exits 130', { timeout: 120_000 }, async () => {
    const schema = await createTestSchema('revoke_signal');
    const db = createDatabase(schema.url);
    let release: () => void = () => undefined;
    try {
      await migrateToLatest(db);
      const now = Date.now();
      const ids = Array.from({ length: USERS }, () => randomUUID());
      await db
        .insertInto('users')
        .values(ids.map((id, i) => ({ id, email: `u${i}@example.com`, name: null, password_hash: 'hash', created_at: now, updated_at: now })))
        .execute();
      await db
        .insertInto('access_tokens')
        .values(ids.map((id) => ({ id: randomUUID(), user_id: id, token_hash: randomUUID(), family_id: randomUUID(), expires_at: now + HOUR, revoked_at: null, created_at: now })))
        .execute();
      // The app's working directory with its embedded store and one session in it.
      const appDir = join(root, 'app');
      mkdirSync(join(appDir, 'data'), { recursive: true });
      const kv = createDatabase(`sqlite:${join(appDir, 'data', 'livecomponents.db')}`);
      await migrateToLatest(kv);
      const store = await createSqliteStore({ db: kv, sweepIntervalMs: 0 });
      const session = await createSessionManager({ store }).create();
      await store.close();
      await kv.destroy();

      const revokedCount = async () =>
        Number((await db.selectFrom('access_tokens').select((eb) => eb.fn.countAll().as('n')).where('revoked_at', 'is not', null).executeTakeFirstOrThrow()).n);
      // A user of the second piece (the walk goes in id order, as PostgreSQL sorts them), locked by the test.
      const locked = (await sql<{ id: string }>`select id from users order by id offset 700 limit 1`.execute(db)).rows[0]?.id as string;
      const released = new Promise<void>((resolve) => (release = resolve));
      let holding = false;
      const holder = db.transaction().execute(async (trx) => {
        await sql`select id from users where id = ${locked} for update`.execute(trx);
        holding = true;
        await released;
      });
      await waitUntil('the test to hold the lock', () => holding);

      const entry = `import { main } from ${JSON.stringify(join(repo, 'src/cli/index.ts'))}; process.exitCode = await main(['revoke-sessions', '--all']);`;
      const child = spawn(process.execPath, ['--import', join(repo, 'node_modules/tsx/dist/loader.mjs'), '--input-type=module', '-e', entry], {
        cwd: appDir,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: schema.url },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      let ended = false;
      const exited = new Promise<number | null>((resolve) =>
        child.on('exit', (code) => {
          ended = true;
          resolve(code);
        }),
      );
      try {
        // The second piece waits for the test's lock: the first one is committed.
        const waiting = async () =>
          Number((await sql<{ n: string }>`select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and query ilike 'update "users"%'`.execute(db)).rows[0]?.n) === 1;
        await waitUntil('the second piece to wait for the lock', waiting, { seen: () => `${stdout}${stderr}` });
        expect(await revokedCount()).toBe(500);
        child.kill('SIGINT');
        // (Or to die of it, as it did before it listened: then the exit code below tells.)
        await waitUntil('the run to take the signal', () => stderr.includes('SIGINT: stopping') || ended, { seen: () => stderr });
      } finally {
        release();
        await holder;
      }
      expect(await exited).toBe(130);

      // Pieces one and two done, the third not; no session ended.
      expect(await revokedCount()).toBe(1_000);
      const lines = stdout.trim().split('\n');
      expect(lines).toContain('revoke-sessions: access tokens: 1000 revoked');
      expect(lines).toContain('revoke-sessions: browser sign-ins: 0 revoked');
      expect(lines.at(-1)).toBe('revoke-sessions: interrupted by SIGINT: done only what is counted above; not done: the tokens of the users not reached yet, every session and every trusted device: run it again to finish');
      expect(lines.some((l) => l.startsWith('revoke-sessions: sessions'))).toBe(false);
      const events = stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { event: string; description: string });
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        event: 'authn_token_revoked',
        description: expect.stringMatching(
          /^Operator's revocation of the sign-ins of every user \(livecomponents revoke-sessions, run by .+\) was interrupted by SIGINT at a safe point: 1000 access tokens, 0 browser sign-ins and 0 refresh tokens revoked, 0 reset tokens spent, 0 sessions ended, 0 trusted devices forgotten; not done: /,
        ),
      });
      const kvAfter = createDatabase(`sqlite:${join(appDir, 'data', 'livecomponents.db')}`);
      try {
        const row = await kvAfter.selectFrom('lc_kv').select('key').where('key', '=', storeKeys.session(session.key)).executeTakeFirst();
        expect(row).toBeDefined();
      } finally {
        await kvAfter.destroy();
      }

      // Run again: it finishes the rest.
      const again = spawn(process.execPath, ['--import', join(repo, 'node_modules/tsx/dist/loader.mjs'), '--input-type=module', '-e', entry], {
        cwd: appDir,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: schema.url },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let againOut = '';
      again.stdout.on('data', (chunk: Buffer) => (againOut += chunk.toString()));
      again.stderr.resume();
      expect(await new Promise((resolve) => again.on('exit', resolve))).toBe(0);
      expect(againOut).toContain('revoke-sessions: access tokens: 200 revoked');
      expect(await revokedCount()).toBe(USERS);
    } finally {
      release();
      await db.destroy();
      await schema.drop();
    }
  });
});
