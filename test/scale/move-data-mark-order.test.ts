/**
 * The points of a move between the source's mark and the target's own commit. The key-value part:
 * the file is marked before Redis's completion mark, so a run that stops between the two (Redis
 * refusing or losing that write, the process killed) leaves the part marked and Redis without the
 * mark that refuses a second copy into it; the re-run, skipping the part as moved, must still finish
 * that mark. The relational part: a COMMIT whose answer is lost may have committed; the mark taken
 * back then left the data in PostgreSQL and the file unmarked, an app started on it serving it stale.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateCommand } from '../../src/cli/migrate.js';
import { createDatabase } from '../../src/sql/database.js';
import { startTcpForwarder, type Link } from '../helpers/tcp-forwarder.js';
import { waitUntil } from '../helpers/wait-until.js';
import { marksOf, move, moveFixture, skipWithoutServices } from './move-data-fixture.js';

const skip = await skipWithoutServices('move-data mark order');

const DONE = 'lc:{move-data}:done';

/**
 * A TCP proxy to PostgreSQL that lets through everything but the answer to the COMMIT sent after a
 * `lock table` on the same connection (move-data's copy): the server commits, the client never hears.
 */
async function commitAnswerLost(): Promise<{ url: (schemaUrl: string) => string; close: () => Promise<void> }> {
  // Per connection: `lock table` seen, then a simple query (Q) with COMMIT.
  const copying = new WeakSet<Link>();
  const committing = new WeakSet<Link>();
  const { port, close } = await startTcpForwarder({
    target: () => 5432,
    fromClient: (chunk, link) => {
      const text = chunk.toString('latin1').toLowerCase();
      if (text.includes('lock table')) copying.add(link);
      if (copying.has(link) && chunk[0] === 0x51 && text.includes('commit')) committing.add(link);
      return true;
    },
    fromServer: (_chunk, link) => {
      if (!committing.has(link)) return true;
      link.drop();
      return false;
    },
  });
  return {
    url: (schemaUrl) => {
      const url = new URL(schemaUrl);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    close,
  };
}

describe.skipIf(skip)('move-data between the source\'s mark and the target\'s commit', { timeout: 120_000 }, () => {
  const fixture = moveFixture('lc-move-mark-order-');
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('Redis refusing its completion mark after the file was marked: the re-run writes that mark, so a second copy into the Redis is refused', async () => {
    const { file, from } = await fixture.appFolder('kvdone');
    await fixture.client.flushall();
    // A Redis user that may write the records (sessions) but not the completion mark.
    await fixture.client.call('ACL', 'SETUSER', 'mover', 'on', '>moverpw', '%R~*', '~lc:{s:*', '~lc:{health}*', '+@all');
    cleanups.push(async () => void (await fixture.client.call('ACL', 'DELUSER', 'mover')));
    const moverUrl = `redis://mover:moverpw@127.0.0.1:${fixture.redis.port}`;
    const first = await move('--from', from, '--to-redis', moverUrl);
    expect(first.code).toBe(1);
    expect(first.err).toEqual([
      expect.stringMatching(/^move-data: redis:\/\/127\.0\.0\.1:\d+ did not take the completion mark of the move \(Redis failed: NOPERM .*\): the key-value records are in it and the file is marked as moved there; run the same move-data again to write that mark/),
    ]);
    expect(marksOf(file).map((m) => m.part)).toEqual(['key-value']);
    expect(await fixture.client.exists(DONE)).toBe(0);
    expect(await fixture.client.exists('lc:{s:abc}:session')).toBe(1);

    const again = await move('--from', from, '--to-redis', fixture.redis.url);
    expect([again.code, again.err]).toEqual([0, []]);
    // A mark written with the file's would still be there (a day, the session living an hour): not expired.
    const movedAt = marksOf(file)[0]?.moved_at ?? '';
    const until = new Date(Date.parse(movedAt) + 24 * 3_600_000).toISOString();
    expect(again.out).toContain(
      `move-data: ${fixture.redis.url}: completion mark written (none was there, though one written with the file's mark at ${movedAt} would last until ${until}: the run that copied the key-value records stopped before writing it, or Redis lost it since (deleted, evicted, or restarted without its data))`,
    );
    expect(await fixture.client.exists(DONE)).toBe(1);
    expect(await fixture.client.pttl(DONE)).toBeGreaterThan(23 * 3_600_000);
    // The mark now does its job: an unmarked copy of the file (a backup from before) is refused.
    const backup = await fixture.appFolder('kvdone-backup');
    const copy = await move('--from', backup.from, '--to-redis', fixture.redis.url);
    expect(copy.code).toBe(1);
    expect(copy.err).toEqual([expect.stringContaining('holds the mark of a completed move')]);
    // And with its mark there, the same command has nothing left to do.
    const third = await move('--from', from, '--to-redis', fixture.redis.url);
    expect([third.code, third.err]).toEqual([1, [expect.stringContaining('nothing left to move; nothing was written')]]);
  });

  it('a COMMIT that went through with its answer lost: the file keeps its mark (the data is in PostgreSQL), and the re-run finishes', async () => {
    const { file, from } = await fixture.appFolder('lostcommit');
    const target = await fixture.schema('mark_order_lost');
    const proxy = await commitAnswerLost();
    cleanups.push(proxy.close);
    const run = await move('--from', from, '--to-database', proxy.url(target));
    expect(run.code).toBe(1);
    const db = createDatabase(target);
    try {
      const { rows } = await sql<{ n: string }>`select count(*) as n from users`.execute(db);
      expect(Number(rows[0]?.n)).toBe(1);
    } finally {
      await db.destroy();
    }
    // The users are in PostgreSQL: the file must stay marked, or an app started on it serves it stale.
    expect(marksOf(file).map((m) => m.part)).toEqual(['relational']);
    expect(run.err).toEqual([expect.stringContaining('the copy is in PostgreSQL: its COMMIT went through, only its answer was lost')]);
    // The same command with the key-value part: the relational part is skipped as moved, Redis gets the rest.
    await fixture.client.flushall();
    const again = await move('--from', from, '--to-database', proxy.url(target), '--to-redis', fixture.redis.url);
    expect([again.code, again.err]).toEqual([0, []]);
    expect(again.out).toContain(`move-data: the relational part was moved to ${marksOf(file).find((m) => m.part === 'relational')?.target} already (marked in ${from}): not copied again`);
    expect(marksOf(file).map((m) => m.part)).toEqual(['key-value', 'relational']);
    expect(await fixture.client.exists('lc:{s:abc}:session', DONE)).toBe(2);
  });

  it('a run killed between the file\'s relational mark and PostgreSQL\'s COMMIT: the re-run finds the target without the file\'s rows and copies them', async () => {
    const { file, from } = await fixture.appFolder('killed');
    const target = await fixture.schema('mark_order_killed');
    expect(await migrateCommand({ DATABASE_URL: target }, { out: () => undefined })).toBe(0);
    const admin = createDatabase(target);
    try {
      // A deferred trigger holds the COMMIT (after the file's mark) until the test ends that backend.
      await sql`create function lc_test_hold() returns trigger language plpgsql as $$ begin perform pg_sleep(60); return null; end $$`.execute(admin);
      await sql`create constraint trigger lc_test_hold after insert on users deferrable initially deferred for each row execute function lc_test_hold()`.execute(admin);
      const script = join(fixture.dir, 'move-killed.mts');
      writeFileSync(
        script,
        `import { main } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'src/cli/index.ts'))};
process.exitCode = await main(['move-data', '--from', ${JSON.stringify(from)}, '--to-database', ${JSON.stringify(target)}], { env: {}, out: () => undefined, err: () => undefined });
`,
      );
      const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: join(import.meta.dirname, '..', '..'), stdio: 'ignore' });
      let exit: string | number | null | undefined;
      const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve((exit = signal ?? code))));
      await waitUntil('the move to be inside its COMMIT', async () => {
        if (exit !== undefined) throw new Error(`the move exited (${exit}) before its COMMIT`);
        const { rows } = await sql<{ n: string | number }>`select count(*) as n from pg_stat_activity where query = 'commit' and wait_event = 'PgSleep'`.execute(admin);
        return Number(rows[0]?.n) === 1;
      });
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      // The dead client's transaction ends without its COMMIT, as when the process dies before sending it.
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where query = 'commit' and wait_event = 'PgSleep'`.execute(admin);
      await waitUntil('the killed move\'s backend to be gone', async () => {
        const { rows } = await sql<{ n: string | number }>`select count(*) as n from pg_stat_activity where query = 'commit'`.execute(admin);
        return Number(rows[0]?.n) === 0;
      });
      await sql`drop trigger lc_test_hold on users`.execute(admin);
      await sql`drop function lc_test_hold()`.execute(admin);
      const { rows } = await sql<{ n: string | number }>`select count(*) as n from users`.execute(admin);
      expect(Number(rows[0]?.n)).toBe(0);
      expect(marksOf(file).map((m) => m.part)).toEqual(['relational']);

      await fixture.client.flushall();
      const again = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url);
      expect([again.code, again.err]).toEqual([0, []]);
      expect(again.out).toContain(`move-data: the relational part is marked in ${from} as moved to ${marksOf(file).find((m) => m.part === 'relational')?.target}, which holds none of its rows (a run stopped before PostgreSQL's COMMIT): copied now`);
      expect(again.out).toContain('move-data: table users: 1 rows copied');
      const after = await sql<{ n: string | number }>`select count(*) as n from users`.execute(admin);
      expect(Number(after.rows[0]?.n)).toBe(1);
      expect(marksOf(file).map((m) => m.part)).toEqual(['key-value', 'relational']);
    } finally {
      await admin.destroy();
    }
  });
});
