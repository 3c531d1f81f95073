/**
 * A re-run of `move-data` whose key-value part the file marks as moved asks Redis for its completion
 * mark (the one that refuses a second copy into it) and writes it when missing. What it says then must
 * be true: a mark that simply expired (with the last record moved, a day at least) is not "a run that
 * stopped before it" — it said so, sending the operator after an interruption that never happened.
 * And Redis down at that moment: the file's mark proves the records are in, so the run does the rest
 * (the relational part) and says the mark is left unchecked, instead of failing on Redis alone.
 */
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateCommand } from '../../src/cli/migrate.js';
import { moveData } from '../../src/cli/move-data.js';
import { describeMark, type MovedPart } from '../../src/sql/moved-mark.js';
import { describeDatabaseUrl } from '../../src/sql/url.js';
import { waitUntil } from '../helpers/wait-until.js';
import { startRedis } from '../redis/server.js';
import { marksOf, move, moveFixture, type MoveRun, skipWithoutServices } from './move-data-fixture.js';

const skip = await skipWithoutServices('move-data completion mark');

const DONE = 'lc:{move-data}:done';
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** `move-data ARGS` on a clock of its own (`now`), as moveData takes it. */
async function moveAt(now: number, ...args: string[]): Promise<MoveRun> {
  const out: string[] = [];
  const err: string[] = [];
  const value = (flag: string) => args[args.indexOf(flag) + 1];
  const code = await moveData({ from: value('--from'), toRedis: value('--to-redis') }, { env: {}, out: (l) => out.push(l), err: (l) => err.push(l), now: () => now });
  return { code, out, err };
}

/** The mark of `part` in `file`, as the messages describe it. */
function markText(file: string, part: MovedPart): string {
  const row = marksOf(file).find((m) => m.part === part);
  if (row === undefined) throw new Error(`no ${part} mark in ${file}`);
  return describeMark({ part, target: row.target, movedAt: row.moved_at });
}

describe.skipIf(skip)('move-data re-run of a key-value part marked as moved', { timeout: 120_000 }, () => {
  const fixture = moveFixture('lc-move-completion-mark-');
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('its completion mark expired: written again, saying it would have expired by now (not that a run stopped)', async () => {
    const from = await fixture.migratedFile('expired.db');
    const file = from.slice('sqlite:'.length);
    // Moved three days ago; the longer-lived of two sessions lived 30 h past that, and the mark with it.
    const movedAt = Date.now() - 72 * HOUR;
    const native = new BetterSqlite3(file);
    try {
      const insert = native.prepare('INSERT INTO lc_kv (key, value, expires_at) VALUES (?, ?, ?)');
      insert.run('lc:{s:short}:session', '{"v":1}', movedAt + 2 * HOUR);
      insert.run('lc:{s:long}:session', '{"v":2}', movedAt + 30 * HOUR);
    } finally {
      native.close();
    }
    await fixture.client.flushall();
    const first = await moveAt(movedAt, '--from', from, '--to-redis', fixture.redis.url);
    expect([first.code, first.err]).toEqual([0, []]);
    expect(marksOf(file)).toEqual([{ part: 'key-value', target: fixture.redis.url, moved_at: iso(movedAt) }]);
    expect(await fixture.client.pttl(DONE)).toBeGreaterThan(29 * HOUR);
    // Redis expires it, as it would have 30 h after the move.
    expect(await fixture.client.pexpire(DONE, 1)).toBe(1);
    await waitUntil('the completion mark to expire', async () => (await fixture.client.exists(DONE)) === 0);

    const again = await move('--from', from, '--to-redis', fixture.redis.url);
    expect(again).toEqual({
      code: 0,
      err: [],
      out: [
        `move-data: ${from}: opened exclusively (no other process has it open)`,
        `move-data: the key-value part was moved to ${fixture.redis.url} already (marked in ${from}): not copied again`,
        `move-data: ${fixture.redis.url}: completion mark written (none was there; one written with the file's mark at ${iso(movedAt)} would have expired at ${iso(movedAt + 30 * HOUR)}, with the last record moved, so whether the run that copied the key-value records wrote it cannot be told)`,
      ],
    });
    // Written again for a day (every record of the file has expired).
    expect(await fixture.client.pttl(DONE)).toBeGreaterThan(23 * HOUR);
    expect(marksOf(file)).toEqual([{ part: 'key-value', target: fixture.redis.url, moved_at: iso(movedAt) }]);
  });

  it('Redis unreachable (a closed port): the relational part is still moved, the mark said to be unchecked, exit 1 (not done); all moved, exit 1; Redis back empty, the part copied again', async () => {
    const { file, from } = await fixture.appFolder('down');
    const target = await fixture.schema('completion_mark_down');
    // Migrated before: the run prints no "applied" line.
    expect(await migrateCommand({ DATABASE_URL: target }, { out: () => undefined })).toBe(0);
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    expect((await move('--from', from, '--to-redis', redis.url)).code).toBe(0);
    const kvMovedAt = marksOf(file)[0]?.moved_at ?? '';
    await redis.kill();

    const run = await move('--from', from, '--to-database', target, '--to-redis', redis.url);
    const unanswered = `${redis.url} (--to-redis or REDIS_URL) did not answer (Redis is not connected (reconnecting; last error: connect ECONNREFUSED 127.0.0.1:${redis.port}).), so whether it holds the completion mark of the move, which refuses a second copy into it, is unknown: run the same move-data again once it answers, to write that mark if it is missing`;
    // Not done (exit 1, as a first run whose Redis did not take the mark): said done, a script went on.
    expect([run.code, run.err]).toEqual([
      1,
      [`move-data: ${redis.url}: its completion mark is unchecked (it did not answer, above), so the move is not done, though the rest of it is: run the same move-data again once it answers, before starting the app on it`],
    ]);
    const tables = run.out.filter((line) => line.startsWith('move-data: table '));
    expect(tables.filter((line) => !line.endsWith(': 0 rows copied'))).toEqual(['move-data: table users: 1 rows copied']);
    expect(run.out.filter((line) => !tables.includes(line))).toEqual([
      `move-data: ${from}: opened exclusively (no other process has it open)`,
      `move-data: the key-value part was moved to ${redis.url} already (marked in ${from}): not copied again`,
      `move-data: ${unanswered}`,
      `move-data: ${describeDatabaseUrl(target)}: 1 rows in ${tables.length} tables, in one transaction`,
      `move-data: ${from}: marked: ${markText(file, 'relational')}`,
    ]);
    expect(marksOf(file).map((m) => m.part)).toEqual(['key-value', 'relational']);

    // Everything moved, Redis still down: nothing left, and the mark still unchecked.
    const left = await move('--from', from, '--to-database', target, '--to-redis', redis.url);
    expect(left).toEqual({
      code: 1,
      out: [],
      err: [`move-data: ${from}: ${markText(file, 'key-value')}; ${markText(file, 'relational')}: nothing left to move; nothing was written; ${unanswered}`],
    });

    // Redis back on its port, empty (no persistence): it lost the records with the mark, so the re-run
    // copies the part again (writing only the mark claimed a move it no longer held).
    await redis.restart();
    const back = await move('--from', from, '--to-database', target, '--to-redis', redis.url);
    const relationalTarget = marksOf(file).find((m) => m.part === 'relational')?.target;
    expect([back.code, back.err]).toEqual([0, []]);
    expect(back.out.slice(0, 3)).toEqual([
      `move-data: the key-value part is marked in ${from} as moved to ${redis.url}, which holds none of the 1 records of it still live, no completion mark and no other key of this framework (Redis lost them since — restarted without its data, flushed, evicted — or the URL now reaches another Redis; no app has written there since): copied again`,
      `move-data: ${from}: opened exclusively (no other process has it open)`,
      `move-data: the relational part was moved to ${relationalTarget} already (marked in ${from}): not copied again`,
    ]);
    expect(back.out).toContain('move-data: key-value session: 1 copied');
    expect(marksOf(file).find((m) => m.part === 'key-value')?.moved_at).not.toBe(kvMovedAt);
  });
});
