/**
 * `revoke-sessions` with PostgreSQL and no Redis: the sessions are in the embedded SQLite file of the
 * working directory (src/runtime/backends.ts). A store file that is missing (the command run from
 * another directory) or no store of this release is refused before anything is revoked. A run whose
 * store fails after the database's revocation exits 1, keeps what it revoked, says so in the security
 * log, and a second run finishes.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuthRepository } from '../auth/repository.js';
import { hashToken } from '../auth/tokens.js';
import { memorySecurityEvents } from '../ops/security-events.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../sql/test-postgres.js';
import { revokeSessions } from './revoke-sessions.js';

const root = mkdtempSync(join(tmpdir(), 'lc-revoke-pg-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const availability = await postgresAvailability();
if (availability.state === 'fail') throw new Error(availability.reason);
if (availability.state === 'skip') warnSkipped('revoke-sessions on PostgreSQL', availability.reason);

/** A migrated PostgreSQL schema with one user holding one browser sign-in. */
async function withSignIn(label: string, body: (s: { url: string; live: () => Promise<boolean> }) => Promise<void>): Promise<void> {
  const schema = await createTestSchema(label);
  const db = createDatabase(schema.url);
  try {
    await migrateToLatest(db);
    const repo = createAuthRepository(db);
    const user = await repo.insertUser({ email: 'ada@example.com', passwordHash: 'hash', name: null }, Date.now());
    if (user === 'taken') throw new Error('taken');
    const web = await repo.createWebSession(user.id, hashToken('web'), Date.now(), Date.now() + 3_600_000, 'hash');
    await body({ url: schema.url, live: async () => (await repo.webSessionUser(user.id, web as string, Date.now())) !== undefined });
  } finally {
    await db.destroy();
    await schema.drop();
  }
}

async function run(url: string, cwd: string) {
  const out: string[] = [];
  const err: string[] = [];
  const events = memorySecurityEvents();
  const code = await revokeSessions({ all: true }, { env: { DATABASE_URL: url }, cwd, out: (l) => out.push(l), err: (l) => err.push(l), events });
  return { code, out, err, events: events.events };
}

describe.skipIf(availability.state !== 'up')('revoke-sessions on PostgreSQL without Redis', () => {
  it('run from a directory without the embedded store (not the app\'s): exit 1 naming the file, nothing revoked, no event', { timeout: 60_000 }, async () => {
    await withSignIn('revoke_pg_cwd', async ({ url, live }) => {
      const elsewhere = join(root, 'elsewhere');
      mkdirSync(elsewhere);
      const result = await run(url, elsewhere);
      expect(result.code).toBe(1);
      expect(result.out).toEqual([]);
      expect(result.err).toEqual([
        `revoke-sessions: REDIS_URL is not set, so the app keeps its sessions in the embedded store sqlite:${join(elsewhere, 'data', 'livecomponents.db')} of its working directory, which does not exist here: run this in the app's working directory (or with the app's REDIS_URL); nothing was changed`,
      ]);
      expect(result.events).toEqual([]);
      expect(await live()).toBe(true);
    });
  });

  it('an embedded store file that is no database: exit 1, nothing revoked, no event', { timeout: 60_000 }, async () => {
    await withSignIn('revoke_pg_notdb', async ({ url, live }) => {
      const dir = join(root, 'notdb');
      mkdirSync(join(dir, 'data'), { recursive: true });
      writeFileSync(join(dir, 'data', 'livecomponents.db'), 'not a database, but long enough to be read as one by SQLite '.repeat(100));
      const result = await run(url, dir);
      expect(result.code).toBe(1);
      expect(result.out).toEqual([]);
      expect(result.err).toEqual([expect.stringMatching(/^revoke-sessions: sqlite:.*livecomponents\.db \(the embedded store\): .*not a database.*; nothing was changed$/)]);
      expect(result.events).toEqual([]);
      expect(await live()).toBe(true);
    });
  });

  it('a store that fails after the revocation: exit 1, the tokens stay revoked, the log says part-way; run again, it finishes', { timeout: 60_000 }, async () => {
    await withSignIn('revoke_pg', async ({ url, live }) => {
      const dir = join(root, 'partway');
      mkdirSync(join(dir, 'data'), { recursive: true });
      const file = join(dir, 'data', 'livecomponents.db');
      // A migrated embedded store whose key-value table was then lost: the checks pass, the walk fails.
      const kv = createDatabase(`sqlite:${file}`);
      await migrateToLatest(kv);
      await sql`drop table lc_kv`.execute(kv);
      await kv.destroy();
      const failed = await run(url, dir);
      expect(failed.code).toBe(1);
      expect(failed.out).toContain('revoke-sessions: browser sign-ins: 1 revoked');
      expect(failed.err).toEqual([expect.stringMatching(/^revoke-sessions: .*no such table: lc_kv/)]);
      expect(failed.events).toEqual([
        expect.objectContaining({ event: 'authn_token_revoked', level: 'WARN', description: expect.stringMatching(/failed part-way: .*no such table: lc_kv; done before it: 0 access tokens, 1 browser sign-ins and 0 refresh tokens revoked, 0 reset tokens spent, 0 sessions ended, 0 trusted devices forgotten; what it revoked stays revoked, run it again$/) }),
      ]);
      expect(await live()).toBe(false);

      rmSync(file);
      const fresh = createDatabase(`sqlite:${file}`);
      await migrateToLatest(fresh);
      await fresh.destroy();
      const again = await run(url, dir);
      expect([again.code, again.err]).toEqual([0, []]);
      expect(again.out).toContain('revoke-sessions: browser sign-ins: 0 revoked');
      expect(again.out).toContain(`revoke-sessions: sessions in sqlite:${file}:`);
    });
  });
});
