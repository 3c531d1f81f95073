/**
 * A re-run of `move-data` whose key-value part the file marks as moved, into a Redis without the
 * completion mark: the mark must never claim a move that Redis does not hold. It was written over a
 * Redis that lost its data since (a restart without persistence, FLUSHALL) and over another Redis the
 * same URL now reaches: the app then started there with everyone signed out and its idempotency
 * records gone, and the mark refused the copy that would have brought them. Now the records still live
 * in the file are looked up: none or some there and nothing else of this framework, the part is copied
 * again; none there but keys an app wrote, refused (exit 1, nothing written); some there beside an
 * app's keys, only the mark is written (copying would bring back what the app deleted).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite/index.js';
import { startTcpForwarder } from '../helpers/tcp-forwarder.js';
import { startRedis, type RedisServer } from '../redis/server.js';
import { marksOf, move, moveFixture, SESSION_KEY, skipWithoutServices } from './move-data-fixture.js';

const skip = await skipWithoutServices('move-data into a Redis that lost the move');

const DONE = 'lc:{move-data}:done';
const OTHER_SESSION = 'lc:{s:def}:session';
const FAIL_COUNT = 'lc:{a:elsewhere@example.com}:auth:fail';
/** What the copy-again line says after its counts. */
const LOST = 'no completion mark and no other key of this framework (Redis lost them since — restarted without its data, flushed, evicted — or the URL now reaches another Redis; no app has written there since): copied again';

describe.skipIf(skip)('move-data re-run into a Redis without the move\'s records', { timeout: 120_000 }, () => {
  const fixture = moveFixture('lc-move-redis-lost-');
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A Redis of the test's own, stopped after it. */
  async function ownRedis(): Promise<RedisServer> {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    return redis;
  }

  it('Redis flushed after a complete move (both parts): the re-run copies the key-value part again and marks it, instead of only writing the mark', async () => {
    const { file, from } = await fixture.appFolder('flushed');
    const target = await fixture.schema('redis_lost_flushed');
    await fixture.client.flushall();
    const first = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url);
    expect([first.code, first.err]).toEqual([0, []]);
    expect(await fixture.client.exists(SESSION_KEY, DONE)).toBe(2);
    // Redis loses its data (FLUSHALL, or a restart without persistence) before the app started on it.
    await fixture.client.flushall();

    // A dry run says so, and writes nothing.
    const dry = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url, '--dry-run');
    expect([dry.code, dry.err]).toEqual([0, []]);
    expect(dry.out[0]).toBe(`move-data: the key-value part is marked in ${from} as moved to ${fixture.redis.url}, which holds none of the 1 records of it still live, ${LOST.replace(/copied again$/, 'would be copied again')}`);
    expect(dry.out).toContain('move-data: key-value session: 1 would be copied');
    expect(await fixture.client.dbsize()).toBe(0);

    const again = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url);
    expect([again.code, again.err]).toEqual([0, []]);
    const relational = marksOf(file).find((m) => m.part === 'relational')?.target;
    expect(again.out.slice(0, 3)).toEqual([
      `move-data: the key-value part is marked in ${from} as moved to ${fixture.redis.url}, which holds none of the 1 records of it still live, ${LOST}`,
      `move-data: ${from}: opened exclusively (no other process has it open)`,
      `move-data: the relational part was moved to ${relational} already (marked in ${from}): not copied again`,
    ]);
    expect(again.out).toContain('move-data: key-value session: 1 copied');
    expect(again.out).toContain(`move-data: ${fixture.redis.url}: 1 key-value records copied with the TTL each had left`);
    expect(again.out.some((line) => line.includes('completion mark written'))).toBe(false);
    // The session is back, with what is left of its hour, and the mark with it.
    expect(await fixture.client.get(SESSION_KEY)).toBe('{"v":1}');
    expect(await fixture.client.pttl(SESSION_KEY)).toBeGreaterThan(0);
    expect(await fixture.client.exists(DONE)).toBe(1);
    expect(marksOf(file).map((m) => m.part)).toEqual(['key-value', 'relational']);
    // Moved now: the same command has nothing left to do.
    const third = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url);
    expect([third.code, third.err]).toEqual([1, [expect.stringContaining('nothing left to move; nothing was written')]]);
  });

  it('Redis lost one of two records and nothing else wrote there: the missing one is copied again; with an app\'s key beside them, only the mark is written', async () => {
    const { file, from } = await fixture.appFolder('evicted');
    const store = await createSqliteStore({ url: from, sweepIntervalMs: 0 });
    await store.set(OTHER_SESSION, '{"v":2}', 3_600_000);
    await store.close();
    await fixture.client.flushall();
    expect((await move('--from', from, '--to-redis', fixture.redis.url)).code).toBe(0);
    await fixture.client.del(DONE, OTHER_SESSION);

    const again = await move('--from', from, '--to-redis', fixture.redis.url);
    expect([again.code, again.err]).toEqual([0, []]);
    expect(again.out[0]).toBe(`move-data: the key-value part is marked in ${from} as moved to ${fixture.redis.url}, which holds 1 of the 2 records of it still live, ${LOST}`);
    expect(again.out).toContain('move-data: key-value session: 1 copied, 1 already in Redis (left as they are)');
    expect(await fixture.client.exists(SESSION_KEY, OTHER_SESSION, DONE)).toBe(3);
    expect(marksOf(file).map((m) => m.part)).toEqual(['key-value']);

    // An app has used this Redis since (a session of its own) and one of the file's sessions is gone
    // (signed out there): the move is here, and copying again would bring that session back.
    await fixture.client.del(DONE, OTHER_SESSION);
    await fixture.client.set('lc:{s:new}:session', '{"v":3}', 'PX', 3_600_000);
    const used = await move('--from', from, '--to-redis', fixture.redis.url);
    expect([used.code, used.err]).toEqual([0, []]);
    expect(used.out).toEqual([
      `move-data: ${from}: opened exclusively (no other process has it open)`,
      `move-data: the key-value part was moved to ${fixture.redis.url} already (marked in ${from}): not copied again`,
      expect.stringMatching(new RegExp(`^move-data: ${fixture.redis.url.replace(/[.]/g, '\\.')}: completion mark written \\(none was there, though one written with the file's mark at `)),
    ]);
    expect(await fixture.client.exists(OTHER_SESSION)).toBe(0);
    expect(await fixture.client.exists(DONE)).toBe(1);
  });

  it('Redis emptied and then written by an app: refused (exit 1), neither the mark nor the records written', async () => {
    const { file, from } = await fixture.appFolder('used');
    await fixture.client.flushall();
    expect((await move('--from', from, '--to-redis', fixture.redis.url)).code).toBe(0);
    const movedAt = marksOf(file)[0]?.moved_at;
    // Restarted without its data, then an app on it made a session of its own.
    await fixture.client.flushall();
    await fixture.client.set('lc:{s:new}:session', '{"v":3}', 'PX', 3_600_000);

    const again = await move('--from', from, '--to-redis', fixture.redis.url);
    expect(again).toEqual({
      code: 1,
      out: [],
      err: [
        `move-data: ${fixture.redis.url} has no completion mark of the move and none of the 1 records of it still live that ${from} marks as moved to ${fixture.redis.url}, but other keys of this framework: the URL reaches another Redis than the move's, or this one lost the records and an app has written there since; writing the mark would claim a move that is not there, and copying again would bring back into a Redis in use records deleted since (used CSRF tokens, ended sessions); nothing was written. Point --to-redis (or REDIS_URL) at the Redis the move went to`,
      ],
    });
    expect(await fixture.client.exists(DONE, SESSION_KEY)).toBe(0);
    expect(marksOf(file)).toEqual([{ part: 'key-value', target: fixture.redis.url, moved_at: movedAt }]);
    // A dry run is refused the same way.
    const dry = await move('--from', from, '--to-redis', fixture.redis.url, '--dry-run');
    expect([dry.code, dry.err]).toEqual([1, again.err]);
    // Keys of other apps (not this framework's) are no sign of an app on it: only this framework's are.
    await fixture.client.flushall();
    await fixture.client.set('other-app:cache', 'x');
    const shared = await move('--from', from, '--to-redis', fixture.redis.url);
    expect([shared.code, shared.err]).toEqual([0, []]);
    expect(shared.out[0]).toContain('which holds none of the 1 records of it still live, no completion mark');
    expect(await fixture.client.exists(DONE, SESSION_KEY)).toBe(2);
  });

  it('the same URL now reaching another Redis: an empty one gets the part copied (the mark over the records); one in use is refused; the move\'s Redis is untouched', async () => {
    const { file, from } = await fixture.appFolder('elsewhere');
    // A sign-in failure count: its key (an account's) may be in another deployment's Redis too.
    const store = await createSqliteStore({ url: from, sweepIntervalMs: 0 });
    await store.set(FAIL_COUNT, 'g:1', 3_600_000);
    await store.close();
    const first = await ownRedis();
    const other = await ownRedis();
    // One URL, on a forwarder of its own, that reaches another Redis once `behind` changes.
    let behind = first.port;
    const forwarder = await startTcpForwarder({ target: () => behind });
    cleanups.push(forwarder.close);
    const url = { url: `redis://127.0.0.1:${forwarder.port}` }; // url.url, as the checks below read it
    expect((await move('--from', from, '--to-redis', url.url)).code).toBe(0);
    const firstClient = fixture.client.duplicate({ port: first.port });
    const otherClient = fixture.client.duplicate({ port: other.port });
    cleanups.push(async () => {
      firstClient.disconnect();
      otherClient.disconnect();
    });
    expect(await firstClient.exists(SESSION_KEY, FAIL_COUNT, DONE)).toBe(3);

    // The URL reaches the other Redis now (a name resolving elsewhere, a tunnel to another server),
    // and that one is used by an app — another deployment, with a failure count of the same account:
    // refused, nothing written there (that key is no proof the move was there; a session's would be).
    behind = other.port;
    await otherClient.set('lc:{s:theirs}:session', '{"v":9}', 'PX', 3_600_000);
    await otherClient.set(FAIL_COUNT, 'g:2', 'PX', 3_600_000);
    const inUse = await move('--from', from, '--to-redis', url.url);
    expect(inUse.code).toBe(1);
    expect(inUse.err).toEqual([
      expect.stringContaining(
        `${url.url} has no completion mark of the move and 1 of the 2 records of it still live that ${from} marks as moved to ${url.url} (none a session's, which no other Redis holds by chance), but other keys of this framework`,
      ),
    ]);
    expect(await otherClient.exists(DONE, SESSION_KEY)).toBe(0);
    expect(await otherClient.get(FAIL_COUNT)).toBe('g:2');

    // Empty: the records are copied there, then marked (the mark says what that Redis holds).
    await otherClient.flushall();
    const copied = await move('--from', from, '--to-redis', url.url);
    expect([copied.code, copied.err]).toEqual([0, []]);
    expect(copied.out[0]).toBe(`move-data: the key-value part is marked in ${from} as moved to ${url.url}, which holds none of the 2 records of it still live, ${LOST}`);
    expect(await otherClient.get(SESSION_KEY)).toBe('{"v":1}');
    expect(await otherClient.exists(DONE)).toBe(1);
    expect(marksOf(file).map((m) => m.part)).toEqual(['key-value']);
    // The first Redis is as the first run left it.
    expect(await firstClient.exists(SESSION_KEY, FAIL_COUNT, DONE)).toBe(3);
  });
});
