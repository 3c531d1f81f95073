/**
 * `livecomponents revoke-sessions` failing part-way prints what it did, as a run stopped by a signal
 * does. The store failed in its second piece of sessions (a trigger refuses one delete): the first
 * piece's 200 sessions were ended, and the log's event said so, but standard output said nothing of
 * them — the tokens' counts, then the error — so the operator at the terminal could not tell whether
 * any session had ended. Now the counts so far and what was not done are printed before the error.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, expect, it } from 'vitest';
import { memorySecurityEvents } from '../ops/security-events.js';
import { createSessionManager } from '../session/index.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import { revokeSessions } from './revoke-sessions.js';

const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-failure-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('a store failing in the second piece of sessions: exit 1, the 200 ended are printed with what was not done, then the error; run again, it finishes', async () => {
  const path = join(dir, 'app.db');
  const db = createDatabase(`sqlite:${path}`);
  await migrateToLatest(db);
  const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
  try {
    const sessions = createSessionManager({ store });
    for (let i = 0; i < 250; i++) await sessions.create();
    // After every real session key ('~' sorts past base64url): in the second piece, whose delete fails.
    const refused = 'lc:{s:~refused}:session';
    await store.set(refused, '{"u":null}', HOUR);
    await sql`create trigger refuse_one before delete on lc_kv when old.key = ${sql.lit(refused)} begin select raise(abort, 'refused by the test'); end`.execute(db);

    const out: string[] = [];
    const err: string[] = [];
    const events = memorySecurityEvents();
    const code = await revokeSessions({ all: true }, { env: { DATABASE_URL: `sqlite:${path}` }, out: (l) => out.push(l), err: (l) => err.push(l), events });
    expect(code).toBe(1);
    expect(err).toEqual([expect.stringMatching(/^revoke-sessions: .*refused by the test/)]);
    expect(out.slice(-6)).toEqual([
      `revoke-sessions: sessions in sqlite:${path}:`,
      'revoke-sessions: sessions signed in: 0 ended',
      'revoke-sessions: sessions anonymous: 200 ended',
      'revoke-sessions: component states: 0 deleted',
      'revoke-sessions: csrf nonces: 0 deleted',
      'revoke-sessions: failed part-way: done only what is counted above; not done: the sessions not reached yet and every trusted device (the tokens above are all revoked): run it again to finish',
    ]);
    expect(events.events).toHaveLength(1);
    expect(events.events[0]?.description).toMatch(/failed part-way: .*refused by the test; done before it: .* 200 sessions ended, 0 trusted devices forgotten;/);
    const left = await db.selectFrom('lc_kv').select('key').where('key', 'like', 'lc:{s:%').execute();
    expect(left).toHaveLength(51);

    await sql`drop trigger refuse_one`.execute(db);
    const again: string[] = [];
    expect(await revokeSessions({ all: true }, { env: { DATABASE_URL: `sqlite:${path}` }, out: (l) => again.push(l), err: () => undefined, events: memorySecurityEvents() })).toBe(0);
    expect(again).toContain('revoke-sessions: sessions anonymous: 51 ended');
  } finally {
    await store.close();
    await db.destroy();
  }
});
