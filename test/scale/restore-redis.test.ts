/**
 * `livecomponents revoke-sessions` when sessions live in Redis (`REDIS_URL`, `REDIS_KEY_PREFIX`): a
 * Redis restored from an RDB/AOF brings back the sessions ended since, as a SQLite file does, and the
 * command ends them there. Exact counts for `--user` and then `--all`, with a dry run between that
 * changes nothing; the other users' sessions survive `--user`; idempotency records and rate-limit
 * state survive both; the keys of other apps — another key prefix in the same database, the same
 * prefix in another database — survive both. Then on a Redis Cluster of three masters, whose
 * sessions are spread over all of them.
 */
import { Cluster, type Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/auth/tokens.js';
import type { RevokeSessionsArgs } from '../../src/cli/revoke-sessions.js';
import { redisTarget } from '../../src/runtime/backends.js';
import { createSessionManager } from '../../src/session/index.js';
import { storeKeys } from '../../src/store/keys.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import type { Store } from '../../src/store/types.js';
import { waitUntil } from '../helpers/wait-until.js';
import { REDIS_AVAILABLE, startRedisCluster, useRedisServer, whenReady, type RedisCluster } from '../redis/server.js';
import { runRevokeSessions, useUsersDatabase } from './revoke-sessions.js';

const HOUR = 3_600_000;
const PREFIX = 'drill:';
const { url: databaseUrl, repo, users } = useUsersDatabase('restore-redis', ['ada@example.com', 'bob@example.com']);

/** A browser sign-in of `email` and its session in `store` (with `state` sealed component states and a CSRF nonce each); `null`: anonymous. */
async function session(store: Store, email: string | null, state = 0): Promise<string> {
  const sessions = createSessionManager({ store });
  let userId: string | null = null;
  if (email !== null) {
    const id = users[email] as string;
    const web = await repo.createWebSession(id, hashToken(`web-${Math.random()}`), Date.now(), Date.now() + HOUR, 'hash');
    userId = `${id}/${web}`;
  }
  const created = await sessions.regenerate(null, userId);
  for (let i = 0; i < state; i++) {
    await store.set(storeKeys.componentState(created.key, `counter:c${i}`), 'sealed', HOUR);
    await store.set(storeKeys.csrfNonce(created.key, `n${i}`), '1', HOUR);
  }
  return created.key;
}

/** `revoke-sessions` in this process: exit code, counts by kind, lines. */
async function revoke(args: RevokeSessionsArgs, env: Record<string, string>) {
  const { code, counts, out, err } = await runRevokeSessions(args, { env: { DATABASE_URL: databaseUrl, ...env } });
  return { code, counts, out, err };
}

const sessionCounts = (signedIn: number, anonymous: number, states: number, nonces: number) => ({
  'sessions signed in': signedIn,
  'sessions anonymous': anonymous,
  'component states': states,
  'csrf nonces': nonces,
});

describe.skipIf(!REDIS_AVAILABLE)('revoke-sessions on Redis (key prefix, database number)', () => {
  const redis = useRedisServer();
  let ours: Store;
  let otherPrefix: Store;
  let otherDatabase: Store;
  let admin2: Redis;
  let admin0: Redis;
  beforeAll(() => {
    ours = redis.openShared({ database: 2, keyPrefix: PREFIX });
    otherPrefix = redis.openShared({ database: 2, keyPrefix: 'shop:' });
    otherDatabase = redis.openShared({ database: 0, keyPrefix: PREFIX });
    admin2 = redis.adminOf(2);
    admin0 = redis.admin;
    // The RDB test restarts the server: the clients reconnect by themselves.
    for (const admin of [admin2, admin0]) admin.on('error', () => undefined);
  });

  it('--user ends that user\'s sessions only; a dry run changes nothing; --all ends the rest; other apps\' keys stay', { timeout: 60_000 }, async () => {
    const env = { REDIS_URL: redis.urlOf(2), REDIS_KEY_PREFIX: PREFIX };
    const ada1 = await session(ours, 'ada@example.com', 2);
    const ada2 = await session(ours, 'ada@example.com');
    const bob = await session(ours, 'bob@example.com', 1);
    const anonymous = [await session(ours, null, 1), await session(ours, null)];
    await ours.set(storeKeys.idempotency(`s:${anonymous[0]}`, 'pay-1'), 'record', HOUR);
    await ours.set(storeKeys.rateLimit('ip:192.0.2.1', 'counter', 'increment'), 'g:1', HOUR);
    // Other apps: one in the same database under another prefix, one in database 0 under ours; both
    // hold sessions naming Ada's id, which are not this app's to end.
    await session(otherPrefix, 'ada@example.com', 1);
    await session(otherDatabase, 'ada@example.com', 1);
    await session(otherDatabase, null);
    const theirs = async () => ({ db0: (await admin0.keys('*')).sort(), shop: (await admin2.keys('shop:*')).sort() });
    const before = await theirs();
    expect(before.db0).toHaveLength(4);
    expect(before.shop).toHaveLength(3);

    const one = await revoke({ user: 'ada@example.com' }, env);
    expect([one.code, one.err]).toEqual([0, []]);
    // The database is shared by the three apps here: Ada's sign-ins of the other two are revoked too
    // (her tokens are hers wherever she signed in), their sessions are not this app's to end.
    expect(one.counts).toEqual({ 'access tokens': 0, 'browser sign-ins': 4, 'refresh tokens': 0, 'password reset tokens': 0, ...sessionCounts(2, 0, 2, 2) });
    for (const key of [ada1, ada2]) expect(await ours.get(storeKeys.session(key))).toBeNull();
    for (const key of [bob, ...anonymous]) expect(await ours.get(storeKeys.session(key))).not.toBeNull();
    expect(await ours.get(storeKeys.componentState(bob, 'counter:c0'))).toBe('sealed');
    expect(await theirs()).toEqual(before);

    const dryKeys = (await admin2.keys(`${PREFIX}*`)).sort();
    const dry = await revoke({ all: true, dryRun: true }, env);
    expect(dry.counts).toEqual({ 'access tokens': 0, 'browser sign-ins': 1, 'refresh tokens': 0, 'password reset tokens': 0, ...sessionCounts(1, 2, 2, 2) });
    expect((await admin2.keys(`${PREFIX}*`)).sort()).toEqual(dryKeys);

    const all = await revoke({ all: true }, env);
    expect([all.code, all.err]).toEqual([0, []]);
    expect(all.counts).toEqual({ 'access tokens': 0, 'browser sign-ins': 1, 'refresh tokens': 0, 'password reset tokens': 0, ...sessionCounts(1, 2, 2, 2) });
    // Only what is no session's is left of this app: the idempotency record and the rate-limit state.
    expect((await admin2.keys(`${PREFIX}*`)).sort()).toEqual(
      [PREFIX + storeKeys.idempotency(`s:${anonymous[0]}`, 'pay-1'), PREFIX + storeKeys.rateLimit('ip:192.0.2.1', 'counter', 'increment')].sort(),
    );
    expect(await theirs()).toEqual(before);

    // Every session of the app ended, the other app's under 'shop:': the prefix is refused as possibly
    // mistyped, unless the operator says the app has no session now.
    const refused = await revoke({ all: true }, env);
    expect([refused.code, refused.out]).toEqual([1, []]);
    expect(refused.err).toEqual([expect.stringContaining(`no session under the key prefix "${PREFIX}" (REDIS_KEY_PREFIX; only other keys of this framework`)]);
    const again = await revoke({ all: true, keyPrefixEmpty: true }, env);
    expect([again.code, again.err]).toEqual([0, []]);
    expect(again.counts).toEqual({ 'access tokens': 0, 'browser sign-ins': 0, 'refresh tokens': 0, 'password reset tokens': 0, ...sessionCounts(0, 0, 0, 0) });
  });

  it('an RDB snapshot restored brings back a session ended after it; --user ends it again', { timeout: 60_000 }, async () => {
    const env = { REDIS_URL: redis.urlOf(2), REDIS_KEY_PREFIX: PREFIX };
    const sessions = createSessionManager({ store: ours });
    const id = users['bob@example.com'] as string;
    const web = await repo.createWebSession(id, hashToken('web-rdb'), Date.now(), Date.now() + HOUR, 'hash');
    const bob = await sessions.regenerate(null, `${id}/${web}`);
    await admin2.save();
    // Bob signs out after the snapshot: the record goes, and the sign-in is revoked in the database.
    await sessions.destroy(bob);
    expect(await repo.revokeWebSession(web as string, Date.now())).toBe(true);
    // Redis restarts from the snapshot (the test server's folder keeps dump.rdb; no AOF).
    await redis.server.restart();
    await waitUntil('the store to answer after the restart', () => ours.health().then(() => true, () => false));
    expect(await ours.get(storeKeys.session(bob.key)), 'the ended session is back').not.toBeNull();
    const ended = await revoke({ user: 'bob@example.com' }, env);
    expect([ended.code, ended.err]).toEqual([0, []]);
    expect(ended.counts).toMatchObject(sessionCounts(1, 0, 0, 0));
    expect(await ours.get(storeKeys.session(bob.key))).toBeNull();
  });

  it('a key of another type where a session record would be (WRONGTYPE for GET) is no record: --user and --all finish', { timeout: 60_000 }, async () => {
    const odd = redis.open({ database: 3, keyPrefix: 'odd:' });
    const admin3 = redis.adminOf(3);
    const env = { REDIS_URL: redis.urlOf(3), REDIS_KEY_PREFIX: 'odd:' };
    const ada = await session(odd, 'ada@example.com', 1);
    const anonymous = await session(odd, null);
    await admin3.hset('odd:lc:{s:not-a-record}:session', 'field', 'value');
    const one = await revoke({ user: 'ada@example.com' }, env);
    expect([one.code, one.err]).toEqual([0, []]);
    expect(one.counts).toMatchObject(sessionCounts(1, 0, 1, 1));
    expect(await odd.get(storeKeys.session(ada))).toBeNull();
    expect(await admin3.exists('odd:lc:{s:not-a-record}:session')).toBe(1);
    const dry = await revoke({ all: true, dryRun: true }, env);
    expect([dry.code, dry.err]).toEqual([0, []]);
    // Like a value that does not parse, it counts as a session of no user.
    expect(dry.counts).toMatchObject(sessionCounts(0, 2, 0, 0));
    const all = await revoke({ all: true }, env);
    expect([all.code, all.err]).toEqual([0, []]);
    expect(all.counts).toMatchObject(sessionCounts(0, 2, 0, 0));
    expect(await odd.get(storeKeys.session(anonymous))).toBeNull();
    expect(await admin3.keys('odd:lc:{s:*')).toEqual([]);
  });

  it('REDIS_KEY_PREFIX is read as the app reads it (trimmed: a value ending in a line break names the same prefix)', { timeout: 60_000 }, async () => {
    const trimmed = redis.open({ database: 4, keyPrefix: 'trim:' });
    const anonymous = await session(trimmed, null);
    const result = await revoke({ all: true }, { REDIS_URL: redis.urlOf(4), REDIS_KEY_PREFIX: ' trim:\n' });
    expect([result.code, result.err]).toEqual([0, []]);
    expect(result.out).toContain(`revoke-sessions: sessions in ${redis.server.url}/4 (key prefix trim:):`);
    expect(result.counts).toMatchObject(sessionCounts(0, 1, 0, 0));
    expect(await trimmed.get(storeKeys.session(anonymous))).toBeNull();
  });

  it('an ACL user that runs the app\'s scripts but not SCAN or UNLINK: exit 1 before anything is revoked, naming the grant', { timeout: 60_000 }, async () => {
    const id = users['bob@example.com'] as string;
    const web = await repo.createWebSession(id, hashToken('web-acl'), Date.now(), Date.now() + HOUR, 'hash');
    const acl = redis.open({ database: 5, keyPrefix: 'acl:' });
    const anonymous = await session(acl, null);
    for (const command of ['scan', 'unlink']) {
      await admin0.call('ACL', 'SETUSER', `no-${command}`, 'on', '>secret-pw', '~*', '&*', '+@all', `-${command}`);
      const url = redis.urlOf(5).replace('redis://', `redis://no-${command}:secret-pw@`);
      for (const dryRun of [true, false]) {
        const refused = await revoke({ all: true, dryRun }, { REDIS_URL: url, REDIS_KEY_PREFIX: 'acl:' });
        expect(refused.code).toBe(1);
        expect(refused.out).toEqual([]);
        expect(refused.err).toEqual([expect.stringMatching(new RegExp(`^revoke-sessions: redis://127\\.0\\.0\\.1:\\d+/5: NOPERM .*'${command}'.*: ending sessions needs SCAN, GET and UNLINK .*; nothing was changed$`))]);
        expect(refused.err[0]).not.toContain('secret-pw');
      }
    }
    expect(await repo.webSessionUser(id, web as string, Date.now())).toBeDefined();
    expect(await acl.get(storeKeys.session(anonymous))).not.toBeNull();
  });

  it('refuses a Redis that does not answer, exit 1, nothing revoked', { timeout: 60_000 }, async () => {
    const web = await repo.createWebSession(users['bob@example.com'] as string, hashToken('web-refused'), Date.now(), Date.now() + HOUR, 'hash');
    const refused = await revoke({ all: true }, { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(refused.code).toBe(1);
    expect(refused.err).toEqual([expect.stringMatching(/^revoke-sessions: redis:\/\/127\.0\.0\.1:1: .*; nothing was changed$/)]);
    expect(await repo.webSessionUser(users['bob@example.com'] as string, web as string, Date.now())).toBeDefined();
  });
});

describe.skipIf(!REDIS_AVAILABLE)('revoke-sessions on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let url: string;
  let ours: Store;
  let theirs: Store;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    url = cluster.nodes.map((n) => n.url).join(',');
    ours = createRedisStore({ ...redisTarget(url), keyPrefix: PREFIX });
    theirs = createRedisStore({ ...redisTarget(url), keyPrefix: 'shop:' });
    // The cluster clients learn the slot table first (calls fail at once until they are connected).
    await ours.health();
    await theirs.health();
  }, 180_000);
  afterAll(async () => {
    await Promise.all([ours?.close(), theirs?.close()]);
    await cluster?.stop();
  });

  it('finds the sessions on every master: --user, then --all, exact counts; another prefix untouched', { timeout: 120_000 }, async () => {
    const ada: string[] = [];
    for (let i = 0; i < 12; i++) ada.push(await session(ours, 'ada@example.com', 1));
    for (let i = 0; i < 12; i++) await session(ours, null);
    for (let i = 0; i < 4; i++) await session(theirs, 'ada@example.com', 1);
    const admin = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
    try {
      await whenReady(admin);
      /** Keys of `prefix` per master. */
      const perMaster = async (prefix: string) => Promise.all(admin.nodes('master').map(async (node) => (await node.keys(`${prefix}*`)).length));
      expect((await perMaster(PREFIX)).filter((n) => n > 0).length, 'sessions on more than one master').toBeGreaterThan(1);
      const shop = await perMaster('shop:');
      const env = { REDIS_URL: url, REDIS_KEY_PREFIX: PREFIX };

      const one = await revoke({ user: 'ada@example.com' }, env);
      expect([one.code, one.err]).toEqual([0, []]);
      expect(one.counts).toMatchObject(sessionCounts(12, 0, 12, 12));
      for (const key of ada) expect(await ours.get(storeKeys.session(key))).toBeNull();
      const all = await revoke({ all: true }, env);
      expect(all.counts).toMatchObject(sessionCounts(0, 12, 0, 0));
      expect(await perMaster(PREFIX)).toEqual([0, 0, 0]);
      expect(await perMaster('shop:')).toEqual(shop);
    } finally {
      admin.disconnect();
    }
  });
});
