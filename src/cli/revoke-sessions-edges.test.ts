/**
 * Two edges of `livecomponents revoke-sessions`' counts and words. A dry run on Redis counted a
 * session record that went (signed out, expired) between SCAN and its GET as an anonymous session the
 * run would end, though UNLINK would find nothing. And a run whose very first piece of tokens failed
 * (its transaction rolled back: nothing changed) logged "failed part-way … done before it: 0 …".
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { memorySecurityEvents } from '../ops/security-events.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { endRedisSessions } from './revoke-sessions-redis.js';
import { revokeSessions } from './revoke-sessions.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-edges-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A one-node Redis holding `values` (null: the key SCAN returned is gone by the GET; 'hash': a key
 * of another type), answering only what the session walk sends.
 */
function redisWith(values: Record<string, string | null | 'hash'>): Redis {
  return {
    scan: async () => ['0', Object.keys(values)],
    get: async (key: string) => {
      const value = values[key];
      if (value === 'hash') throw new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
      return value ?? null;
    },
    exists: async (key: string) => (values[key] === null || values[key] === undefined ? 0 : 1),
    unlink: async (key: string) => (values[key] === null ? 0 : 1),
  } as unknown as Redis;
}

describe('revoke-sessions dry run on Redis', () => {
  it('leaves out a session record gone between SCAN and GET, as the run would (UNLINK answers 0); a key of another type counts as the run counts it', async () => {
    const values = {
      'lc:{s:a}:session': '{"u":null}',
      'lc:{s:b}:session': null,
      'lc:{s:c}:session': '{"u":"u1/w1"}',
      'lc:{s:d}:session': 'hash',
      'lc:{s:c}:state:counter:main': 'sealed',
    } as const;
    const dry = await endRedisSessions(redisWith(values), '', { all: true }, true);
    const run = await endRedisSessions(redisWith(values), '', { all: true }, false);
    expect(dry).toEqual({ signedIn: 1, anonymous: 2, componentStates: 1, csrfNonces: 0 });
    expect(run).toEqual(dry);
  });
});

describe('revoke-sessions failing in its first piece of tokens', () => {
  it('exit 1; says and logs that it failed before it changed anything, not "part-way … done before it: 0"', async () => {
    const url = `sqlite:${join(dir, 'first.db')}`;
    const db = createDatabase(url);
    try {
      await migrateToLatest(db);
      const now = Date.now();
      await db.insertInto('users').values({ id: 'u1', email: 'a@example.com', password_hash: 'h', name: null, created_at: now, updated_at: now }).execute();
      await db.insertInto('access_tokens').values({ id: 'a1', user_id: 'u1', family_id: 'f1', token_hash: 'h1', expires_at: now + 3_600_000, revoked_at: null, created_at: now }).execute();
      await sql`create trigger refuse_revoke before update on access_tokens begin select raise(abort, 'refused by the test'); end`.execute(db);
      const out: string[] = [];
      const err: string[] = [];
      const events = memorySecurityEvents();
      expect(await revokeSessions({ all: true }, { env: { DATABASE_URL: url }, out: (l) => out.push(l), err: (l) => err.push(l), events })).toBe(1);
      expect(err).toEqual([expect.stringMatching(/^revoke-sessions: .*refused by the test/)]);
      expect(out.at(-1)).toBe('revoke-sessions: failed before anything changed');
      expect(out.join('\n')).not.toContain('part-way');
      expect(events.events).toEqual([
        expect.objectContaining({ event: 'authn_token_revoked', description: expect.stringMatching(/failed before it changed anything: .*refused by the test; nothing was revoked, run it again$/) }),
      ]);
      expect((await db.selectFrom('access_tokens').select('revoked_at').executeTakeFirstOrThrow()).revoked_at).toBeNull();
    } finally {
      await db.destroy();
    }
  });
});
