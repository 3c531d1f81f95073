/**
 * `revoke-sessions` with PostgreSQL and no Redis: the sessions are in the embedded SQLite file of the
 * working directory (src/runtime/backends.ts). A run whose store fails after the database's
 * revocation exits 1, keeps what it revoked, says so in the security log, and a second run finishes.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuthRepository } from '../auth/repository.js';
import { hashToken } from '../auth/tokens.js';
import { memorySecurityEvents } from '../ops/security-events.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../sql/test-postgres.js';
import { revokeSessions } from './revoke-sessions.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-pg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const availability = await postgresAvailability();
if (availability.state === 'fail') throw new Error(availability.reason);
if (availability.state === 'skip') warnSkipped('revoke-sessions on PostgreSQL', availability.reason);

describe.skipIf(availability.state !== 'up')('revoke-sessions on PostgreSQL without Redis', () => {
  it('a store that fails after the revocation: exit 1, the tokens stay revoked, the log says part-way; run again, it finishes', { timeout: 60_000 }, async () => {
    const schema = await createTestSchema('revoke_pg');
    const db = createDatabase(schema.url);
    try {
      await migrateToLatest(db);
      const repo = createAuthRepository(db);
      const user = await repo.insertUser({ email: 'ada@example.com', passwordHash: 'hash', name: null }, Date.now());
      if (user === 'taken') throw new Error('taken');
      const web = await repo.createWebSession(user.id, hashToken('web'), Date.now(), Date.now() + 3_600_000, 'hash');
      // The embedded store's file in the working directory is not an SQLite database.
      mkdirSync(join(dir, 'data'));
      writeFileSync(join(dir, 'data', 'livecomponents.db'), 'not a database, but long enough to be read as one by SQLite '.repeat(100));
      const run = async () => {
        const out: string[] = [];
        const err: string[] = [];
        const events = memorySecurityEvents();
        const code = await revokeSessions({ all: true }, { env: { DATABASE_URL: schema.url }, cwd: dir, out: (l) => out.push(l), err: (l) => err.push(l), events });
        return { code, out, err, events: events.events };
      };
      const failed = await run();
      expect(failed.code).toBe(1);
      expect(failed.out).toContain('revoke-sessions: browser sign-ins: 1 revoked');
      expect(failed.err).toEqual([expect.stringMatching(/^revoke-sessions: .*not a database/)]);
      expect(failed.events).toEqual([
        expect.objectContaining({ event: 'authn_token_revoked', level: 'WARN', description: expect.stringMatching(/failed part-way: .*; what it revoked stays revoked, run it again$/) }),
      ]);
      expect(await repo.webSessionUser(user.id, web as string, Date.now())).toBeUndefined();

      rmSync(join(dir, 'data'), { recursive: true });
      const again = await run();
      expect([again.code, again.err]).toEqual([0, []]);
      expect(again.out).toContain('revoke-sessions: browser sign-ins: 0 revoked');
      expect(again.out).toContainEqual(expect.stringMatching(/^revoke-sessions: sessions: none to end: REDIS_URL is not set/));
    } finally {
      await db.destroy();
      await schema.drop();
    }
  });
});
