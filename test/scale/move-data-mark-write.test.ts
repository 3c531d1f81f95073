/**
 * A source file that cannot take `move-data`'s mark (read-only, a full disk) stops the move with the
 * targets as they were, instead of leaving them written and the file unmarked, which an app started
 * on it again would serve, stale. The file's refusal is a trigger on `lc_moved` here: the tests run as
 * root, whom file modes do not stop. Refusing every write: the probe stops the run before any target
 * is written. Refusing only one part's mark (the probe passes, as when the disk fills meanwhile): the
 * relational copy rolls back; the key-value records stay in Redis without its completion mark, and the
 * same command finishes the move once the file takes writes. And a PostgreSQL COMMIT refused after the
 * mark was written: the mark is taken back, or a re-run would skip the part as moved.
 */
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migrateCommand } from '../../src/cli/migrate.js';
import { createDatabase } from '../../src/sql/database.js';
import { marksOf, move, moveFixture, skipWithoutServices } from './move-data-fixture.js';

const skip = await skipWithoutServices('move-data mark writes');

/** The file refuses inserts into lc_moved (those of `part` only, when given), as a read-only file would. */
function refuseMarks(file: string, part?: string): void {
  const native = new BetterSqlite3(file);
  try {
    native.exec(`create trigger lc_test_refuse before insert on lc_moved ${part === undefined ? '' : `when new.part = '${part}'`} begin select raise(abort, 'attempt to write a readonly database (test)'); end`);
  } finally {
    native.close();
  }
}

function allowMarks(file: string): void {
  const native = new BetterSqlite3(file);
  try {
    native.exec('drop trigger lc_test_refuse');
  } finally {
    native.close();
  }
}

describe.skipIf(skip)('move-data with a source that cannot take its mark', { timeout: 120_000 }, () => {
  const fixture = moveFixture('lc-move-mark-write-');

  async function users(url: string): Promise<number | 'no table'> {
    const db = createDatabase(url);
    try {
      const { rows } = await sql<{ n: string | number }>`select count(*) as n from users`.execute(db);
      return Number(rows[0]?.n);
    } catch {
      return 'no table';
    } finally {
      await db.destroy();
    }
  }

  it('no write taken: refused before either target is written, exit 1', async () => {
    const { file, from } = await fixture.appFolder('readonly');
    const target = await fixture.schema('mark_write_ro');
    await fixture.client.flushall();
    refuseMarks(file);
    const run = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url);
    expect(run.code).toBe(1);
    expect(run.err).toEqual([
      `move-data: ${from} cannot take the mark of the move (attempt to write a readonly database (test)): the app would start on it afterwards as if nothing had moved, so nothing was moved; make the file and its folder writable (and the disk not full), then run move-data again`,
    ]);
    expect(await users(target)).toBe('no table');
    expect(await fixture.client.dbsize()).toBe(0);
    // Writable again: the same command moves and marks.
    allowMarks(file);
    const again = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url);
    expect([again.code, again.err]).toEqual([0, []]);
    expect(marksOf(file).map((m) => m.part)).toEqual(['key-value', 'relational']);
    expect(await users(target)).toBe(1);
  });

  it('PostgreSQL refusing the COMMIT after the mark was written: the mark is taken back, so the re-run copies the part instead of skipping it', async () => {
    const { file, from } = await fixture.appFolder('commit');
    const target = await fixture.schema('mark_write_commit');
    expect(await migrateCommand({ DATABASE_URL: target }, { out: () => undefined })).toBe(0);
    // A deferred constraint trigger fails at COMMIT: after every insert, and after the source's mark.
    const db = createDatabase(target);
    try {
      await sql`create function lc_test_refuse() returns trigger language plpgsql as $$ begin raise exception 'refused at commit (test)'; end $$`.execute(db);
      await sql`create constraint trigger lc_test_refuse after insert on users deferrable initially deferred for each row execute function lc_test_refuse()`.execute(db);
      const run = await move('--from', from, '--to-database', target);
      expect(run.code).toBe(1);
      expect(run.err).toEqual([expect.stringContaining('refused at commit (test)')]);
      expect(marksOf(file)).toEqual([]);
      expect(await users(target)).toBe(0);
      await sql`drop trigger lc_test_refuse on users`.execute(db);
      await sql`drop function lc_test_refuse()`.execute(db);
    } finally {
      await db.destroy();
    }
    const again = await move('--from', from, '--to-database', target);
    expect([again.code, again.err]).toEqual([0, []]);
    expect(again.out).toContain('move-data: table users: 1 rows copied');
    expect(marksOf(file).map((m) => m.part)).toEqual(['relational']);
  });

  it('the relational mark refused at the commit: the copy rolls back, Redis untouched; the key-value mark refused: no completion mark, the re-run finishes', async () => {
    const { file, from } = await fixture.appFolder('fills');
    const target = await fixture.schema('mark_write_full');
    await fixture.client.flushall();
    refuseMarks(file, 'relational');
    const tables = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url);
    expect(tables.code).toBe(1);
    expect(tables.err).toEqual([expect.stringMatching(/cannot take the mark of the move \(attempt to write a readonly database \(test\)\): the copy into postgres:\/\/\S+ was rolled back, nothing of it was written there/)]);
    expect(await users(target)).toBe(0);
    expect(await fixture.client.dbsize()).toBe(0);
    expect(marksOf(file)).toEqual([]);

    allowMarks(file);
    refuseMarks(file, 'key-value');
    const kv = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url);
    expect(kv.code).toBe(1);
    expect(kv.err).toEqual([expect.stringContaining('but neither the file nor Redis is marked as moved, so the app would still start on the file; make it writable (and the disk not full), then run the same move-data again')]);
    expect(marksOf(file).map((m) => m.part)).toEqual(['relational']);
    // The session is in Redis; the completion mark is not, so a run may finish the copy.
    expect(await fixture.client.exists('lc:{move-data}:done')).toBe(0);
    expect(await fixture.client.dbsize()).toBe(1);

    allowMarks(file);
    const again = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url);
    expect([again.code, again.err]).toEqual([0, []]);
    expect(again.out).toContain('move-data: key-value session: 0 copied, 1 already in Redis (left as they are)');
    expect(marksOf(file).map((m) => m.part)).toEqual(['key-value', 'relational']);
    expect(await fixture.client.exists('lc:{move-data}:done')).toBe(1);
  });
});
