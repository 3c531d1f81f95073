/**
 * `livecomponents revoke-sessions --orphans` and `--user-id` in capitals on a Redis Cluster of three
 * masters, the users in PostgreSQL: the sessions spread over every master (each SCANned on its own),
 * exact counts. `--orphans` ends the sign-ins of ids with no users row, on each master, and keeps a live
 * user's (also one whose row is in capitals, or in mixed case), the anonymous ones and those naming an
 * app's own id (counted); its dry run counts the same and changes nothing. `--user-id`, typed in
 * capitals, ends an imported account's sessions written in capitals on every master.
 */
import { randomUUID } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthRepository } from '../../src/auth/repository.js';
import { hashToken } from '../../src/auth/tokens.js';
import { createDatabase } from '../../src/sql/database.js';
import { migrateToLatest } from '../../src/sql/migrate.js';
import type { DatabaseSchema } from '../../src/sql/schema.js';
import { createTestSchema, postgresAvailability, warnSkipped } from '../../src/sql/test-postgres.js';
import { REDIS_AVAILABLE, startRedisCluster, whenReady, type RedisCluster } from '../redis/server.js';
import { runRevokeSessions } from './revoke-sessions.js';

const HOUR = 3_600_000;
const PREFIX = 'orphans:';
const pg = await postgresAvailability();
if (pg.state === 'fail') throw new Error(pg.reason);
if (pg.state === 'skip') warnSkipped('revoke-sessions --orphans on a Redis Cluster with PostgreSQL', pg.reason);

describe.skipIf(!REDIS_AVAILABLE || pg.state !== 'up')('revoke-sessions --orphans and --user-id in capitals on a Redis Cluster, users in PostgreSQL', () => {
  let cluster: RedisCluster;
  let admin: Cluster;
  let db: Kysely<DatabaseSchema>;
  let url: string;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    admin = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
    await whenReady(admin);
    const schema = await createTestSchema('revoke_orphans_cluster');
    ({ url, drop } = schema);
    db = createDatabase(url);
    await migrateToLatest(db);
  }, 180_000);
  afterAll(async () => {
    await db?.destroy();
    await drop?.();
    admin?.disconnect();
    await cluster?.stop();
  });

  const env = () => ({ DATABASE_URL: url, REDIS_URL: cluster.nodes.map((n) => n.url).join(','), REDIS_KEY_PREFIX: PREFIX });

  /** A session naming `user` (its hash tag random: anywhere on the Cluster), with a component state: its two keys. */
  async function session(user: string | null, tag: string = randomUUID()): Promise<string[]> {
    const keys = [`${PREFIX}lc:{s:${tag}}:session`, `${PREFIX}lc:{s:${tag}}:state:profile:main`];
    await admin.set(keys[0] as string, JSON.stringify({ u: user, c: Date.now(), t: Date.now() }), 'PX', HOUR);
    await admin.set(keys[1] as string, 'sealed', 'PX', HOUR);
    return keys;
  }

  /** The port of the master serving `key`'s slot. */
  async function masterOf(key: string): Promise<number> {
    const slot = Number(await admin.cluster('KEYSLOT', key));
    const range = (await admin.cluster('SLOTS')).find(([from, to]) => from <= slot && slot <= to);
    const port = range?.[2]?.[1];
    if (port === undefined) throw new Error(`no master serves slot ${slot}`);
    return port;
  }

  /** `n` sessions (`session`, n ≥ 3), their hash tags drawn so that every master holds at least one: their keys. */
  async function many(n: number, user: () => string | null): Promise<string[]> {
    const tags: string[] = [];
    const masters = new Set<number>();
    while (tags.length < n) {
      const tag = randomUUID();
      const master = await masterOf(`${PREFIX}lc:{s:${tag}}:session`);
      // The last places go to masters holding none yet.
      if (!masters.has(master) || n - tags.length > 3 - masters.size) {
        masters.add(master);
        tags.push(tag);
      }
    }
    const keys: string[] = [];
    for (const tag of tags) keys.push(...(await session(user(), tag)));
    return keys;
  }

  const present = async (keys: readonly string[]) => {
    const found = await Promise.all(keys.map((key) => admin.exists(key)));
    return keys.filter((_key, i) => found[i] === 1);
  };

  /** How many of `keys` each master holds. */
  async function perMaster(keys: readonly string[]): Promise<number[]> {
    const masters: Redis[] = admin.nodes('master');
    return Promise.all(masters.map(async (node) => (await Promise.all(keys.map((key) => node.exists(key).catch(() => 0)))).filter((n) => n === 1).length));
  }

  async function user(id: string, email: string): Promise<string> {
    const now = Date.now();
    await db.insertInto('users').values({ id, email, password_hash: 'hash', name: null, created_at: now, updated_at: now }).execute();
    return (await createAuthRepository(db).createWebSession(id, hashToken(`web-${email}`), now, now + HOUR, 'hash')) as string;
  }

  it('--orphans: 30 deleted users\' sign-ins ended on every master, exact counts; 30 live, 10 anonymous, 3 of the app\'s own ids kept; dry run first', { timeout: 120_000 }, async () => {
    const live = randomUUID();
    const upper = randomUUID().toUpperCase();
    const mixed = [...randomUUID()].map((c, i) => (i % 2 === 0 ? c.toUpperCase() : c)).join('');
    const liveWeb = await user(live, 'live@example.com');
    await user(upper, 'upper@example.com');
    await user(mixed, 'mixed@example.com');
    const gone = Array.from({ length: 30 }, () => randomUUID());
    let next = 0;
    const orphans = await many(30, () => `${gone[next++] as string}/${randomUUID()}`);
    const kept = [
      ...(await many(20, () => `${live}/${randomUUID()}`)),
      ...(await many(5, () => `${upper.toLowerCase()}/${randomUUID()}`)),
      ...(await many(5, () => `${mixed.toLowerCase()}/${randomUUID()}`)),
      ...(await many(10, () => null)),
      ...(await session('u1')),
      ...(await session(gone[0] as string)),
      ...(await session(`${gone[1] as string}/admin`)),
    ];
    expect(kept).toHaveLength(2 * 43);
    // Every master holds some of the sessions to end.
    expect((await perMaster(orphans)).every((n) => n > 0)).toBe(true);
    const expected = {
      'access tokens': 0,
      'browser sign-ins': 0,
      'refresh tokens': 0,
      'password reset tokens': 0,
      'sessions signed in': 30,
      'sessions anonymous': 0,
      'component states': 30,
      'csrf nonces': 0,
      'sessions of user ids the app signs in itself': 3,
    };

    const dry = await runRevokeSessions({ orphans: true, dryRun: true }, { env: env() });
    expect([dry.code, dry.err, dry.out.at(-1)]).toEqual([0, [], 'revoke-sessions: dry run done: nothing was changed']);
    expect(dry.counts).toEqual(expected);
    expect(await present([...orphans, ...kept])).toHaveLength(orphans.length + kept.length);

    const run = await runRevokeSessions({ orphans: true }, { env: env() });
    expect([run.code, run.err, run.out.at(-1)]).toEqual([0, [], 'revoke-sessions: done']);
    expect(run.counts).toEqual(expected);
    expect(await present(orphans)).toEqual([]);
    expect(await present(kept)).toEqual(kept);
    // The live users' sign-ins are still live in the database.
    expect(await createAuthRepository(db).webSessionUser(live, liveWeb, Date.now())).toBeDefined();
  });

  it('--user-id typed in capitals: an imported account\'s sessions written in capitals, on every master, ended; others kept', { timeout: 120_000 }, async () => {
    const id = randomUUID().toUpperCase();
    const web = await user(id, 'imported@example.com');
    const theirs = [...(await many(8, () => `${id}/${web.toUpperCase()}`)), ...(await many(4, () => id))];
    const others = await many(6, () => `${randomUUID()}/${randomUUID()}`);
    expect((await perMaster(theirs)).every((n) => n > 0)).toBe(true);
    const run = await runRevokeSessions({ userId: id }, { env: env() });
    expect([run.code, run.err, run.out.at(-1)]).toEqual([0, [], 'revoke-sessions: done']);
    expect(run.out[0]).toMatch(new RegExp(`^revoke-sessions: user ${id.toLowerCase()}: `));
    expect(run.counts).toMatchObject({ 'browser sign-ins': 1, 'sessions signed in': 12, 'component states': 12 });
    expect(await present(theirs)).toEqual([]);
    expect(await present(others)).toEqual(others);
  });
});
