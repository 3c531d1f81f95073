/**
 * `livecomponents revoke-sessions --orphans` and an app's own user ids shaped like a browser sign-in of
 * the auth module: `switchUser(reply, session, `${org}/${user}`)`, two UUIDs, as an app that keeps
 * its users elsewhere (tenants and their members) writes them. The users table cannot tell such a
 * record from a sign-in of a deleted account. With no account in the table at all (the app does not
 * use the auth module: its tables are there from the migrations, empty), every such session was taken
 * for an orphan and ended: every signed-in user of the app signed out. Refused now (exit 1, dry run
 * too, nothing changed), pointing at --all; with one account in the table the run goes as before.
 * Embedded SQLite file: no service needed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuthRepository } from '../auth/repository.js';
import { createSessionManager } from '../session/index.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';
import { storeKeys } from '../store/keys.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/types.js';
import { presentKeys as present, runRevokeSessions } from '../../test/scale/revoke-sessions.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-orphans-own-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function sessionOf(store: Store, user: string | null): Promise<string> {
  const session = await createSessionManager({ store }).regenerate(null, user);
  return storeKeys.session(session.key);
}

describe('revoke-sessions --orphans with an app\'s own ids shaped <uuid>/<uuid>', () => {
  it('refuses (exit 1, dry run too) when the users table holds no account: nothing is ended; --all is named', { timeout: 60_000 }, async () => {
    const path = join(dir, 'own.db');
    const db = createDatabase(`sqlite:${path}`);
    await migrateToLatest(db);
    const store = await createSqliteStore({ db, sweepIntervalMs: 0 });
    try {
      const org = randomUUID();
      const keys = [
        await sessionOf(store, `${org}/${randomUUID()}`),
        await sessionOf(store, `${org}/${randomUUID()}`),
        await sessionOf(store, `${randomUUID()}/${randomUUID()}`),
        await sessionOf(store, null),
      ];
      const env = { DATABASE_URL: `sqlite:${path}` };
      const refusal = expect.stringMatching(/has no account at all: --orphans would take every session naming <id>\/<id> for a deleted account's .*nothing was changed.*revoke-sessions --all/);
      for (const dryRun of [true, false]) {
        const run = await runRevokeSessions({ orphans: true, dryRun }, { env });
        expect([run.code, run.counts, run.events]).toEqual([1, {}, []]);
        expect(run.err).toEqual([refusal]);
        expect(await present(store, keys)).toEqual(keys);
      }

      // One account: the table is the app's, and the run goes (the 3 sign-in-shaped sessions name no account).
      const repo = createAuthRepository(db);
      expect(await repo.insertUser({ email: 'ada@example.com', passwordHash: 'hash', name: null }, Date.now())).not.toBe('taken');
      const dry = await runRevokeSessions({ orphans: true, dryRun: true }, { env });
      expect([dry.code, dry.err, dry.counts['sessions signed in'], dry.counts['sessions anonymous']]).toEqual([0, [], 3, 0]);
      expect(await present(store, keys)).toEqual(keys);
    } finally {
      await store.close();
      await db.destroy();
    }
  });
});
