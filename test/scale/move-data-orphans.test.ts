/**
 * Probe P5: an account deleted in the `sqlite3` shell, which opens a file with foreign keys off, so the
 * DELETE cascaded nothing: its access and refresh tokens and reset links stay, naming a user that is
 * gone (and a refresh token deleted there leaves its child's parent_id naming nothing). PostgreSQL
 * enforces those keys: `move-data` failed after applying the target's migrations, exit 1, with only
 * `insert or update on table "access_tokens" violates foreign key constraint …`. Now the file's
 * foreign keys are checked first (`PRAGMA foreign_key_check`, read-only): refused, a dry run too,
 * nothing written to either target, the rows counted per table and the SQL that removes them given.
 */
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createAuthRepository } from '../../src/auth/repository.js';
import { hashToken } from '../../src/auth/tokens.js';
import { createDatabase } from '../../src/sql/database.js';
import { HASH, marksOf, move, moveFixture, skipWithoutServices } from './move-data-fixture.js';

const skip = await skipWithoutServices('move-data of a file with orphan rows');

const HOUR = 3_600_000;

/** The tables of the schema `url` names, and its users' emails. */
async function targetHolds(url: string): Promise<{ tables: number; users?: string[] }> {
  const db = createDatabase(url);
  try {
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = current_schema()`.execute(db);
    const tables = Number(rows[0]?.n);
    if (tables === 0) return { tables };
    const users = await db.selectFrom('users').select('email').orderBy('email').execute();
    return { tables, users: users.map((u) => u.email) };
  } finally {
    await db.destroy();
  }
}

describe.skipIf(skip)('move-data of a file whose rows name a parent row that is gone', { timeout: 120_000 }, () => {
  const fixture = moveFixture('lc-move-orphans-');

  it('refused before either target is touched (a dry run too), naming the rows per table and the SQL that removes them; moved once it is run', async () => {
    const from = await fixture.migratedFile('orphans.db');
    const path = from.slice('sqlite:'.length);
    const db = createDatabase(from);
    const repo = createAuthRepository(db);
    const now = Date.now();
    const grant = async (userId: string, name: string) =>
      expect(
        await repo.createGrant(
          { userId, familyId: `f-${name}`, accessHash: hashToken(`a-${name}`), accessExpiresAt: now + HOUR, refreshHash: hashToken(`r-${name}`), refreshExpiresAt: now + HOUR, familyExpiresAt: now + HOUR, parentId: null },
          now,
          HASH,
        ),
      ).toBe(true);
    const ada = await repo.insertUser({ email: 'ada@example.com', passwordHash: HASH, name: null }, now);
    const bob = await repo.insertUser({ email: 'bob@example.com', passwordHash: HASH, name: null }, now);
    if (ada === 'taken' || bob === 'taken') throw new Error('taken');
    await grant(ada.id, 'ada1');
    await grant(ada.id, 'ada2');
    expect(await repo.insertPasswordReset(hashToken('reset-ada'), ada.id, now, now + HOUR)).toBe(true);
    await grant(bob.id, 'bob');
    await db.destroy();
    // As in the sqlite3 shell (foreign keys off there): ada deleted, cascading nothing; the parent of
    // bob's refresh token deleted, leaving its parent_id naming nothing.
    const shell = new BetterSqlite3(path);
    shell.pragma('foreign_keys = OFF');
    shell.prepare('DELETE FROM users WHERE email = ?').run('ada@example.com');
    shell.prepare("UPDATE refresh_tokens SET parent_id = 'deleted-parent' WHERE user_id = ?").run(bob.id);
    shell.close();

    const target = await fixture.schema('orphans');
    await fixture.client.flushall();
    const removal =
      'PRAGMA foreign_keys = ON; DELETE FROM access_tokens WHERE user_id NOT IN (SELECT id FROM users); DELETE FROM password_resets WHERE user_id NOT IN (SELECT id FROM users); DELETE FROM refresh_tokens WHERE user_id NOT IN (SELECT id FROM users); UPDATE refresh_tokens SET parent_id = NULL WHERE parent_id NOT IN (SELECT id FROM refresh_tokens);';
    const refusal = `move-data: ${from} holds rows whose parent row is gone: access_tokens 2 (user_id naming no row of users), password_resets 1 (user_id naming no row of users), refresh_tokens 3 (user_id naming no row of users: 2; parent_id naming no row of refresh_tokens: 1) — deleted with foreign keys off, as the sqlite3 shell opens a file. PostgreSQL would refuse them, so nothing was moved, nor written anywhere. With every process on the file stopped, remove them as the app's deletes would have: sqlite3 ${path} '${removal}' — then run move-data again (and run PRAGMA foreign_keys = ON; first in a sqlite3 shell before deleting rows, so that deletes cascade as in the app)`;

    const dry = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url, '--dry-run');
    expect(dry).toEqual({ code: 1, out: [], err: [refusal] });
    const run = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url);
    expect(run).toEqual({ code: 1, out: [], err: [refusal] });
    // Neither target touched: no migration applied, no key written; the file unmarked.
    expect(await targetHolds(target)).toEqual({ tables: 0 });
    expect(await fixture.client.dbsize()).toBe(0);
    expect(marksOf(path)).toEqual([]);

    // The key-value part alone goes: the relational tables stay in the file, orphans and all.
    const keyValues = await move('--from', from, '--to-redis', fixture.redis.url);
    expect([keyValues.code, keyValues.err]).toEqual([0, []]);

    // The SQL given, run as the message says: the orphans go, bob's rows stay; the move then goes through.
    const fix = new BetterSqlite3(path);
    fix.exec(removal);
    expect(fix.prepare('SELECT count(*) AS n FROM refresh_tokens WHERE parent_id IS NULL').get()).toEqual({ n: 1 });
    fix.close();
    const moved = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url);
    expect([moved.code, moved.err]).toEqual([0, []]);
    expect(moved.out).toContain('move-data: table access_tokens: 1 rows copied');
    expect(await targetHolds(target)).toMatchObject({ users: ['bob@example.com'] });
  });

});
