/**
 * What a `move-data` mark records of its relational target (relationalTarget): host, database and
 * the schema the server resolved — not the user, never a password, however the URL carries it; and
 * the `--unmark` command its messages print, which a POSIX shell must take as one path whatever the
 * path holds. And refuseMovedDatabase, which decides alone which DATABASE_URLs can carry a mark.
 */
import { spawnSync } from 'node:child_process';
import { Kysely, SqliteDialect } from 'kysely';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { relationalTarget } from './move-data-mark.js';
import { MovedFileError, refuseMovedDatabase, shellQuote, unmarkCommand } from '../sql/moved-mark.js';

describe('relationalTarget', () => {
  it('names the schema the server resolved; two schemas of one database differ', () => {
    const a = relationalTarget('postgres://app:s3cret@db.internal:5432/prod?options=-c%20search_path%3D%22%24user%22', 'alice');
    const b = relationalTarget('postgres://app:s3cret@db.internal:5432/prod?options=-c%20search_path%3D%22%24user%22', 'bob');
    expect(a).toBe('postgres://db.internal:5432/prod (schema alice)');
    expect(b).not.toBe(a);
  });

  it('leaves the user out: the owner running the move and the app\'s own user reach the same tables', () => {
    expect(relationalTarget('postgres://owner:pw@db/prod', 'public')).toBe('postgres://db/prod (schema public)');
    expect(relationalTarget('postgres://db/prod?user=app&password=hunter2', 'public')).toBe(relationalTarget('postgres://owner@db/prod', 'public'));
  });

  it('never carries a password', () => {
    for (const url of ['postgres://u:hunter2@db/prod', 'postgres://db/prod?password=hunter2&user=u', 'postgres://u:hunter2@db/prod?options=-c%20search_path%3Ds']) {
      expect(relationalTarget(url, 's')).not.toContain('hunter2');
    }
  });
});

describe('the --unmark command printed', () => {
  const paths = ['/srv/app/data/livecomponents.db', '/srv/my app/data.db', "/srv/it's/x.db", '/tmp/a"b$c`d\\e!f*g?h;i&j|k(l)m<n>o~p#q{r}s\tt\nu', '/srv/é/ü.db'];

  it('is one word to a POSIX shell whatever the path holds, and left as it is when nothing in it needs quoting', () => {
    for (const path of paths) {
      const where = `sqlite:${path}`;
      // The shell prints each argument it got, each ended by a NUL: one argument, the path unchanged.
      const run = spawnSync('sh', ['-c', `printf '%s\\0' ${shellQuote(where)}`], { encoding: 'utf8' });
      expect([run.status, run.stdout]).toEqual([0, `${where}\0`]);
    }
    expect(unmarkCommand('sqlite:/srv/app/data/livecomponents.db')).toBe('livecomponents move-data --unmark --from sqlite:/srv/app/data/livecomponents.db');
    expect(unmarkCommand('sqlite:/srv/my app/x.db')).toBe("livecomponents move-data --unmark --from 'sqlite:/srv/my app/x.db'");
  });
});

describe('refuseMovedDatabase', () => {
  it('reads the mark of an SQLite file only; PostgreSQL and sqlite::memory: are never asked', async () => {
    const native = new BetterSqlite3(':memory:');
    native.exec(`create table lc_moved (part text primary key not null, target text not null, moved_at text not null); insert into lc_moved values ('relational', 'postgres://db/prod (schema public)', '2026-12-05T10:00:00.000Z')`);
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: native }) });
    try {
      // The same marked database under three URLs: only the file's is refused.
      await expect(refuseMovedDatabase('sqlite:/srv/my app/app.db', db, 'refused here')).rejects.toBeInstanceOf(MovedFileError);
      await expect(refuseMovedDatabase('sqlite:/srv/my app/app.db', db, 'refused here')).rejects.toThrow("`livecomponents move-data --unmark --from 'sqlite:/srv/my app/app.db'`");
      await expect(refuseMovedDatabase('sqlite::memory:', db, 'refused here')).resolves.toBeUndefined();
      await expect(refuseMovedDatabase('postgres://db/prod', db, 'refused here')).resolves.toBeUndefined();
      // Only the parts asked for: the key-value part is not marked.
      await expect(refuseMovedDatabase('sqlite:./app.db', db, 'refused here', ['key-value'], '/srv')).resolves.toBeUndefined();
    } finally {
      await db.destroy();
    }
  });
});
