/**
 * A re-run of `move-data` into a Redis without the completion mark looks the file's records up there
 * (move-data-redis-holds.ts) before it writes the mark, copies again or refuses. Its edges:
 * - a dry run says the mark it would write (exit 0), as the run writes it; it said "nothing left to
 *   move" (exit 1) where the run then succeeded;
 * - an ACL user without EXISTS or SCAN is refused naming the Redis and what to grant (it printed the
 *   bare NOPERM), a dry run too;
 * - a Redis that stops answering during the lookup leaves the mark unchecked as one that did not answer
 *   for it: the rest of the run goes on and it exits 1 saying so (it failed with the client's bare
 *   "Reached the max retries per request limit", the relational part not moved);
 * - expiries about the lookup's time are no evidence (EXPIRY_SLACK_MS): a copy that expired a moment
 *   before its row refused a Redis the move is in, and one that outlived its row counted as an app's key;
 * - on a Redis Cluster, each master is looked at (the lingering key on one of three).
 */
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { moveData } from '../../src/cli/move-data.js';
import { createDatabase } from '../../src/sql/database.js';
import { startTcpForwarder } from '../helpers/tcp-forwarder.js';
import { useRedisCluster } from '../redis/server.js';
import { marksOf, move, moveFixture, SESSION_KEY, skipWithoutServices, type MoveRun } from './move-data-fixture.js';

const skip = await skipWithoutServices('move-data lookup of the move in Redis');

const DONE = 'lc:{move-data}:done';
const HOUR = 3_600_000;
/** An idempotency record's value (a stored result): its key may be in another deployment's Redis too. */
const RESULT = '{"s":"done","fp":"f","exp":1}';

/** `move-data` as the CLI runs it, on the clock `at` (the file's expires_at are compared with it). */
async function moveAt(at: number, ...args: string[]): Promise<MoveRun> {
  const out: string[] = [];
  const err: string[] = [];
  const flag = (name: string) => args[args.indexOf(name) + 1];
  const code = await moveData(
    { from: flag('--from'), toRedis: flag('--to-redis'), toDatabase: args.includes('--to-database') ? flag('--to-database') : undefined, redisKeyPrefix: args.includes('--redis-key-prefix') ? flag('--redis-key-prefix') : undefined, dryRun: args.includes('--dry-run') },
    { env: {}, out: (l) => out.push(l), err: (l) => err.push(l), now: () => at },
  );
  return { code, out, err };
}

/** Puts `rows` (key, value, expires_at) into the `lc_kv` of the SQLite file `from`. */
function putRows(from: string, rows: readonly [string, string, number][]): void {
  const native = new BetterSqlite3(from.slice('sqlite:'.length));
  try {
    const insert = native.prepare('INSERT INTO lc_kv (key, value, expires_at) VALUES (?, ?, ?)');
    for (const row of rows) insert.run(...row);
  } finally {
    native.close();
  }
}

/**
 * A TCP forwarder to the Redis on `port` that, once armed and a client sends EXISTS, drops every
 * connection and takes no new one: a Redis that stops answering in the middle of the lookup.
 */
async function cutAtExists(port: number): Promise<{ url: string; arm: () => void; close: () => Promise<void> }> {
  let armed = false;
  let cut = false;
  const forwarder = await startTcpForwarder({
    target: () => (cut ? undefined : port),
    fromClient: (chunk) => {
      if (!armed || !/\r\nexists\r\n/i.test(chunk.toString('latin1'))) return true;
      cut = true;
      forwarder.dropAll();
      return false;
    },
  });
  return { url: `redis://127.0.0.1:${forwarder.port}`, arm: () => void (armed = true), close: forwarder.close };
}

describe.skipIf(skip)('move-data re-run: the lookup of the move in a Redis without the completion mark', { timeout: 120_000 }, () => {
  const fixture = moveFixture('lc-move-lookup-');
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('a dry run says the missing mark would be written and exits 0, as the run that writes it', async () => {
    const { from } = await fixture.appFolder('dry-mark');
    const target = await fixture.schema('lookup_dry_mark');
    await fixture.client.flushall();
    expect((await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url)).code).toBe(0);
    // The mark alone lost (evicted, deleted): every record is there.
    await fixture.client.del(DONE);

    const dry = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url, '--dry-run');
    expect([dry.code, dry.err]).toEqual([0, []]);
    expect(dry.out.slice(-2)).toEqual([
      expect.stringMatching(new RegExp(`^move-data: ${fixture.redis.url.replace(/[.]/g, '\\.')}: completion mark would be written \\(none was there, though one written with the file's mark at `)),
      'move-data: dry run done: nothing was written',
    ]);
    expect(await fixture.client.exists(DONE)).toBe(0);
    const real = await move('--from', from, '--to-database', target, '--to-redis', fixture.redis.url);
    expect([real.code, real.err]).toEqual([0, []]);
    expect(real.out.at(-1)).toBe(dry.out.at(-2)?.replace('would be written', 'written'));
    expect(await fixture.client.exists(DONE)).toBe(1);
  });

  it('an ACL user without EXISTS, then without SCAN: refused naming the Redis and what to grant, a dry run too; nothing written', async () => {
    const { file, from } = await fixture.appFolder('acl');
    await fixture.client.flushall();
    expect((await move('--from', from, '--to-redis', fixture.redis.url)).code).toBe(0);
    const marks = marksOf(file);
    await fixture.client.del(DONE);
    expect(await fixture.client.call('ACL', 'SETUSER', 'mover', 'on', '>mover-pw', '~*', '&*', '+@all', '-exists')).toBe('OK');
    cleanups.push(async () => void (await fixture.client.call('ACL', 'DELUSER', 'mover')));
    const url = `redis://mover:mover-pw@127.0.0.1:${fixture.redis.port}`;
    const refusal = (reason: string) =>
      `move-data: ${fixture.redis.url} has no completion mark of the move, and what it holds of the records ${from} marks as moved to ${fixture.redis.url} could not be looked up (NOPERM this user has no permissions to run the '${reason}' command): neither the mark nor the records were written. Grant the ACL user of --to-redis (or REDIS_URL) EXISTS and SCAN (+exists +scan: move-data looks the move's records up with them), then run the same move-data again`;

    const noExists = await move('--from', from, '--to-redis', url);
    expect(noExists).toEqual({ code: 1, out: [], err: [refusal('exists')] });
    const dry = await move('--from', from, '--to-redis', url, '--dry-run');
    expect(dry).toEqual({ code: 1, out: [], err: [refusal('exists')] });
    // SCAN is sent only when a record is missing.
    expect(await fixture.client.call('ACL', 'SETUSER', 'mover', '+exists', '-scan')).toBe('OK');
    await fixture.client.del(SESSION_KEY);
    expect(await move('--from', from, '--to-redis', url)).toEqual({ code: 1, out: [], err: [refusal('scan')] });
    expect(await fixture.client.exists(DONE, SESSION_KEY)).toBe(0);
    expect(marksOf(file)).toEqual(marks);
  });

  it('Redis stops answering during the lookup: the relational part moves and the run exits 1, the mark unchecked', async () => {
    const { file, from } = await fixture.appFolder('cut');
    const proxy = await cutAtExists(fixture.redis.port);
    cleanups.push(proxy.close);
    await fixture.client.flushall();
    expect((await move('--from', from, '--to-redis', proxy.url)).code).toBe(0);
    await fixture.client.del(DONE);
    const target = await fixture.schema('lookup_cut');
    proxy.arm();

    const run = await move('--from', from, '--to-database', target, '--to-redis', proxy.url);
    expect(run.code).toBe(1);
    const url = proxy.url.replace(/[.]/g, '\\.');
    expect(run.out).toContainEqual(
      expect.stringMatching(new RegExp(`^move-data: ${url} \\(--to-redis or REDIS_URL\\) did not answer \\(.+\\), so whether it holds the completion mark of the move, which refuses a second copy into it, is unknown: run the same move-data again once it answers, to write that mark if it is missing$`)),
    );
    expect(run.err).toEqual([
      `move-data: ${proxy.url}: its completion mark is unchecked (it did not answer, above), so the move is not done, though the rest of it is: run the same move-data again once it answers, before starting the app on it`,
    ]);
    expect(marksOf(file).map((m) => m.part)).toEqual(['key-value', 'relational']);
    const db = createDatabase(target);
    try {
      expect(await db.selectFrom('users').select('email').execute()).toEqual([{ email: 'cut@example.com' }]);
    } finally {
      await db.destroy();
    }
    expect(await fixture.client.exists(DONE)).toBe(0);
  });

  it('a copy that expired a moment before its row is no record lost: the mark is written, not refused', async () => {
    const from = await fixture.migratedFile('expiring.db');
    const at = Date.now();
    // No session: beside an app's keys only "every record there" proves the move.
    putRows(from, [
      ['lc:{i:k1}:idem:a', RESULT, at + HOUR],
      ['lc:{i:k2}:idem:b', RESULT, at + 2_000],
    ]);
    await fixture.client.flushall();
    expect((await moveAt(at, '--from', from, '--to-redis', fixture.redis.url)).code).toBe(0);
    // The mark lost; b's copy gone (its TTL was its row's less a round trip); an app wrote a session.
    await fixture.client.del(DONE, 'lc:{i:k2}:idem:b');
    await fixture.client.set('lc:{s:new}:session', '{"v":3}', 'PX', HOUR);

    const again = await moveAt(at + 1_000, '--from', from, '--to-redis', fixture.redis.url);
    expect([again.code, again.err]).toEqual([0, []]);
    expect(again.out.at(-1)).toMatch(/: completion mark written \(none was there/);
    expect(await fixture.client.exists(DONE)).toBe(1);
  });

  it('a copy that outlived its row by a moment is no key of an app: the lost records are copied again (a key prefix with glob characters)', async () => {
    const from = await fixture.migratedFile('lingering.db');
    const prefix = 'a?[*]:';
    const at = Date.now();
    putRows(from, [
      ['lc:{s:abc}:session', '{"v":1}', at + HOUR],
      ['lc:{i:k3}:idem:c', RESULT, at + 2_000],
    ]);
    await fixture.client.flushall();
    expect((await moveAt(at, '--from', from, '--to-redis', fixture.redis.url, '--redis-key-prefix', prefix)).code).toBe(0);
    // Redis lost everything but c, whose copy lives a moment past its row; another deployment's
    // session under a prefix the unescaped pattern would match.
    await fixture.client.flushall();
    await fixture.client.set(`${prefix}lc:{i:k3}:idem:c`, RESULT, 'PX', HOUR);
    await fixture.client.set('ab*:lc:{s:zz}:session', '{"v":9}', 'PX', HOUR);

    const again = await moveAt(at + 3_000, '--from', from, '--to-redis', fixture.redis.url, '--redis-key-prefix', prefix);
    expect([again.code, again.err]).toEqual([0, []]);
    expect(again.out[0]).toMatch(/which holds none of the 1 records of it still live, no completion mark and no other key of this framework .*: copied again$/);
    expect(again.out).toContain('move-data: key-value session: 1 copied');
    expect(await fixture.client.exists(`${prefix}lc:{s:abc}:session`, `${prefix}${DONE}`)).toBe(2);
    expect(await fixture.client.get('ab*:lc:{s:zz}:session')).toBe('{"v":9}');
  });
});

describe.skipIf(skip)('move-data re-run: the lookup on a Redis Cluster', { timeout: 180_000 }, () => {
  const fixture = moveFixture('lc-move-lookup-cluster-');
  const cluster = useRedisCluster();
  /** How many of `keys` the cluster holds (one EXISTS each: the keys are on several slots). */
  const held = async (...keys: string[]) => (await Promise.all(keys.map((key) => cluster.admin.exists(key)))).reduce((n, e) => n + e, 0);

  it('records on every master: lost ones copied again (a copy outliving its row no app key), then the mark beside an app, then refused', async () => {
    const from = await fixture.migratedFile('cluster.db');
    const at = Date.now();
    const sessions = Array.from({ length: 12 }, (_, i) => `lc:{s:c${i}}:session`);
    putRows(from, [...sessions.map((key): [string, string, number] => [key, '{"v":1}', at + HOUR]), ['lc:{i:k4}:idem:d', RESULT, at + 2_000]]);
    const first = await moveAt(at, '--from', from, '--to-redis', cluster.url);
    expect([first.code, first.err]).toEqual([0, []]);
    const masters = cluster.admin.nodes('master');
    expect((await Promise.all(masters.map((node) => node.dbsize()))).filter((n) => n > 0).length, 'records on more than one master').toBeGreaterThan(1);

    await Promise.all(masters.map((node) => node.flushall()));
    await cluster.admin.set('lc:{i:k4}:idem:d', RESULT, 'PX', HOUR);
    const again = await moveAt(at + 3_000, '--from', from, '--to-redis', cluster.url);
    expect([again.code, again.err]).toEqual([0, []]);
    expect(again.out[0]).toMatch(/which holds none of the 12 records of it still live, no completion mark and no other key of this framework .*: copied again$/);
    expect(await held(...sessions)).toBe(12);

    // An app used it (a session of its own) and one of the file's sessions ended: the mark only.
    await cluster.admin.del(DONE);
    await cluster.admin.del(sessions[0] as string);
    await cluster.admin.set('lc:{s:new}:session', '{"v":3}', 'PX', HOUR);
    const used = await moveAt(at + 4_000, '--from', from, '--to-redis', cluster.url);
    expect([used.code, used.err]).toEqual([0, []]);
    expect(used.out.at(-1)).toMatch(/: completion mark written \(none was there/);
    expect(await cluster.admin.exists(sessions[0] as string)).toBe(0);

    // Emptied, then an app wrote there: refused.
    await Promise.all(masters.map((node) => node.flushall()));
    await cluster.admin.set('lc:{s:new}:session', '{"v":3}', 'PX', HOUR);
    const refused = await moveAt(at + 5_000, '--from', from, '--to-redis', cluster.url);
    expect(refused.code).toBe(1);
    expect(refused.err).toEqual([expect.stringContaining('has no completion mark of the move and none of the 12 records of it still live')]);
    expect(await held(DONE, ...sessions)).toBe(0);
  });
});
