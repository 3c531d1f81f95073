/**
 * `livecomponents revoke-sessions --user-id ID --user EMAIL` of a deleted account, while someone
 * registers that email again during the run (a deleted account's email is free to register): the
 * email's trusted devices are the new account's by the time the run reaches them, and are not
 * forgotten for the wrong person (review R4). Looked up when the run began, the email had no account,
 * and the run forgot them. Now: kept, said, exit 1 (not done, and a rerun is refused), the sessions
 * and tokens done; the security event says so without the email.
 */
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { authKeys } from '../../src/auth/keys.js';
import { createAuthRepository } from '../../src/auth/repository.js';
import { revokeSessions } from '../../src/cli/revoke-sessions.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createSessionManager } from '../../src/session/index.js';
import { storeKeys } from '../../src/store/keys.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { useSqliteAuthDatabase } from './harness.js';

const HOUR = 3_600_000;
const NEW_ID = '0b9f4c1e-6d2a-4f3b-9c8e-2a7d5e1f0c4b';

describe('revoke-sessions --user-id ID --user EMAIL, the email registered again while it runs', () => {
  const { db, url } = useSqliteAuthDatabase('revoke-reregistered');
  it('keeps the trusted devices (now the new account\'s), says so, exits 1, its dry run too; the deleted id\'s sessions end', async () => {
    const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
    const file = new BetterSqlite3(url.slice('sqlite:'.length));
    try {
      const repo = createAuthRepository(db);
      const ada = await repo.insertUser({ email: 'ada@example.com', passwordHash: 'hash', name: null }, Date.now());
      if (ada === 'taken') throw new Error('taken');
      const session = await createSessionManager({ store }).regenerate(null, ada.id);
      await store.set(authKeys.devices(ada.email), 'digest-of-a-browser', 90 * 24 * HOUR);
      await sql`delete from users where id = ${ada.id}`.execute(db);

      /** The run (`dryRun`: its dry run), the email registered by someone once the sessions are done, before the trusted devices are reached (synchronously, so exactly then); that account deleted again after. */
      const runWhileRegistered = async (dryRun: boolean) => {
        const out: string[] = [];
        const err: string[] = [];
        const events = memorySecurityEvents();
        const code = await revokeSessions(
          { userId: ada.id, user: ada.email, dryRun },
          {
            env: { DATABASE_URL: url },
            out: (line) => {
              out.push(line);
              if (line.startsWith('revoke-sessions: sessions in ')) {
                file.prepare('insert into users (id, email, name, password_hash, created_at, updated_at) values (?, ?, null, ?, ?, ?)').run(NEW_ID, ada.email, 'hash', Date.now(), Date.now());
              }
            },
            err: (line) => err.push(line),
            events,
          },
        );
        file.prepare('delete from users where id = ?').run(NEW_ID);
        return { code, out, err, events: events.events };
      };

      const dry = await runWhileRegistered(true);
      expect([dry.code, dry.err]).toEqual([1, []]);
      expect(dry.out).toContain('revoke-sessions: sessions signed in: 1 would be ended');
      expect(dry.out).toContain(`revoke-sessions: trusted devices: would not be forgotten: their email has been the account of user ${NEW_ID} since this run began (registered again), so they are that account's now`);
      expect(dry.out.at(-1)).toBe("revoke-sessions: dry run done: nothing was changed; the trusted devices would be kept (above): the email is another account's now");
      expect(await store.get(storeKeys.session(session.key))).not.toBeNull();

      const run = await runWhileRegistered(false);
      expect([run.code, run.err]).toEqual([1, []]);
      expect(run.out).toContain('revoke-sessions: sessions signed in: 1 ended');
      expect(run.out).toContain(`revoke-sessions: trusted devices: not forgotten: their email has been the account of user ${NEW_ID} since this run began (registered again), so they are that account's now`);
      expect(run.out.at(-1)).toBe("revoke-sessions: done, except the trusted devices (above): the email is another account's now");
      expect(await store.get(authKeys.devices(ada.email))).toBe('digest-of-a-browser');
      expect(await store.get(storeKeys.session(session.key))).toBeNull();
      expect(run.events.map((e) => e.description)).toEqual([expect.stringMatching(new RegExp(`; the trusted devices were not forgotten: their email is the account of user ${NEW_ID} now$`))]);
      expect(JSON.stringify(run.events)).not.toContain('ada@example.com');
    } finally {
      file.close();
      await store.close();
    }
  });
});
