/**
 * `livecomponents revoke-sessions` with a `REDIS_KEY_PREFIX` that is not the app's (unset, mistyped,
 * a prefix of the real one): the walk under it found no session, ended none and exited 0, so the
 * operator believed everyone signed out. Now, when no key of this framework is under the prefix and
 * sessions are under others, the run is refused (exit 1, dry run too) before anything changes, naming
 * the prefixes found with their exact session counts and the variable; a Redis holding no session
 * under any prefix is said plainly (exit 0). A prefix in use whose sessions are all ended already is
 * no refusal. On one server and on a Cluster of three masters.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/auth/tokens.js';
import type { RevokeSessionsArgs } from '../../src/cli/revoke-sessions.js';
import { redisTarget } from '../../src/runtime/backends.js';
import { createSessionManager } from '../../src/session/index.js';
import { storeKeys } from '../../src/store/keys.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import type { Store } from '../../src/store/types.js';
import { REDIS_AVAILABLE, startRedisCluster, useRedisServer, whenReady, type RedisCluster } from '../redis/server.js';
import { runRevokeSessions, useUsersDatabase } from './revoke-sessions.js';

const HOUR = 3_600_000;
const { url: databaseUrl, repo, users } = useUsersDatabase('revoke-prefix', ['ada@example.com']);
let ada: string;

beforeAll(() => {
  ada = users['ada@example.com'] as string;
});

/** A session in `store`: Ada's browser sign-in (with one component state and one CSRF nonce), or anonymous. Resolves the web sign-in's id, if any. */
async function session(store: Store, signedIn: boolean): Promise<string | undefined> {
  let userId: string | null = null;
  let web: string | undefined;
  if (signedIn) {
    web = (await repo.createWebSession(ada, hashToken(`web-${Math.random()}`), Date.now(), Date.now() + HOUR, 'hash')) as string;
    userId = `${ada}/${web}`;
  }
  const created = await createSessionManager({ store }).regenerate(null, userId);
  if (signedIn) {
    await store.set(storeKeys.componentState(created.key, 'counter:main'), 'sealed', HOUR);
    await store.set(storeKeys.csrfNonce(created.key, 'n1'), '1', HOUR);
  }
  return web;
}

/** `revoke-sessions` on this file's database, with `env`: `events`, how many it emitted. */
async function revoke(args: RevokeSessionsArgs, env: Record<string, string>) {
  const { code, out, err, counts, events } = await runRevokeSessions(args, { env: { DATABASE_URL: databaseUrl, ...env } });
  return { code, out, err, counts, events: events.length };
}

const liveWeb = async (web: string | undefined) => (await repo.webSessionUser(ada, web as string, Date.now())) !== undefined;

describe.skipIf(!REDIS_AVAILABLE)('revoke-sessions: a REDIS_KEY_PREFIX that is not the app\'s (one server)', () => {
  const redis = useRedisServer();

  it('unset, mistyped or a prefix of the app\'s: exit 1 before anything changes (dry run too), naming the prefix found, its sessions and the variable', { timeout: 60_000 }, async () => {
    const app = redis.open({ database: 6, keyPrefix: 'app:' });
    const web = await session(app, true);
    await session(app, false);
    await session(app, false);
    await app.set(storeKeys.rateLimit('ip:192.0.2.1', 'counter', 'increment'), 'g:1', HOUR);
    const keys = redis.adminOf(6);
    await keys.set('unrelated:key', 'x');
    const before = (await keys.keys('*')).sort();
    expect(before).toHaveLength(7);
    const where = `${redis.urlOf(6)}`;
    const refusal = (named: string) =>
      `revoke-sessions: ${where}: no key of this app under the key prefix ${named} (REDIS_KEY_PREFIX), but sessions under "app:" (3 sessions): set REDIS_KEY_PREFIX as the app's environment sets it (or, when the app has no key there now, its Redis emptied and the app stopped, add --key-prefix-empty); nothing was changed`;

    const cases: [Record<string, string>, { all?: boolean; user?: string; dryRun?: boolean }, string][] = [
      [{}, { all: true }, '"" (no prefix)'],
      [{ REDIS_KEY_PREFIX: 'ap' }, { all: true }, '"ap"'],
      [{ REDIS_KEY_PREFIX: 'app' }, { all: true, dryRun: true }, '"app"'],
      [{ REDIS_KEY_PREFIX: 'wrong:' }, { user: 'ada@example.com' }, '"wrong:"'],
    ];
    for (const [env, args, named] of cases) {
      const refused = await revoke(args, { REDIS_URL: where, ...env });
      expect(refused, JSON.stringify(env)).toEqual({ code: 1, out: [], err: [refusal(named)], counts: {}, events: 0 });
    }
    expect((await keys.keys('*')).sort()).toEqual(before);
    expect(await liveWeb(web)).toBe(true);

    // The app's prefix: every session ends, exact counts.
    const done = await revoke({ all: true }, { REDIS_URL: where, REDIS_KEY_PREFIX: 'app:' });
    expect([done.code, done.err, done.events]).toEqual([0, [], 1]);
    expect(done.counts).toMatchObject({ 'browser sign-ins': 1, 'sessions signed in': 1, 'sessions anonymous': 2, 'component states': 1, 'csrf nonces': 1 });
    expect(await liveWeb(web)).toBe(false);
    expect((await keys.keys('*')).sort()).toEqual(['app:' + storeKeys.rateLimit('ip:192.0.2.1', 'counter', 'increment'), 'unrelated:key'].sort());

    // Run again with sessions of another app under another prefix: the app's prefix holds a key of it
    // (the rate-limit state) but no session, as a mistyped prefix a test or an old deployment left a
    // key under would: refused, unless the operator says the app has no session now; with that, no
    // session of its own is left to end, none of the other's is ended.
    const shop = redis.open({ database: 6, keyPrefix: 'shop:' });
    await session(shop, false);
    await session(shop, false);
    const refused = await revoke({ all: true }, { REDIS_URL: where, REDIS_KEY_PREFIX: 'app:' });
    expect([refused.code, refused.out]).toEqual([1, []]);
    expect(refused.err).toEqual([expect.stringContaining('no session under the key prefix "app:" (REDIS_KEY_PREFIX; only other keys of this framework')]);
    const again = await revoke({ all: true, keyPrefixEmpty: true }, { REDIS_URL: where, REDIS_KEY_PREFIX: 'app:' });
    expect([again.code, again.err]).toEqual([0, []]);
    expect(again.counts).toMatchObject({ 'sessions signed in': 0, 'sessions anonymous': 0 });
    expect(await keys.keys('shop:*')).toHaveLength(2);
  });

  it('sessions under several other prefixes (one of them none): each named with its count, sorted', { timeout: 60_000 }, async () => {
    const none = redis.open({ database: 7, keyPrefix: '' });
    const a = redis.open({ database: 7, keyPrefix: 'a:' });
    const b = redis.open({ database: 7, keyPrefix: 'b:' });
    await session(none, false);
    await session(a, false);
    await session(a, true);
    await b.set(storeKeys.rateLimit('ip:192.0.2.1', 'counter', 'increment'), 'g:1', HOUR);
    const refused = await revoke({ all: true }, { REDIS_URL: `${redis.urlOf(7)}`, REDIS_KEY_PREFIX: 'c:' });
    expect(refused.code).toBe(1);
    expect(refused.err).toEqual([
      `revoke-sessions: ${redis.urlOf(7)}: no key of this app under the key prefix "c:" (REDIS_KEY_PREFIX), but sessions under "" (no prefix) (1 session), "a:" (2 sessions): set REDIS_KEY_PREFIX as the app's environment sets it (or, when the app has no key there now, its Redis emptied and the app stopped, add --key-prefix-empty); nothing was changed`,
    ]);
    expect(await redis.adminOf(7).dbsize()).toBe(6);
  });

  it('a Redis holding no session under any prefix is said plainly, exit 0', { timeout: 60_000 }, async () => {
    const empty = await revoke({ all: true }, { REDIS_URL: `${redis.urlOf(9)}`, REDIS_KEY_PREFIX: 'app:' });
    expect([empty.code, empty.err, empty.events]).toEqual([0, [], 1]);
    expect(empty.out).toContain(`revoke-sessions: none to end: no session under any key prefix in ${redis.urlOf(9)}`);
    // Keys of this framework, none a session, under another prefix: named, still no refusal.
    await redis.open({ database: 10, keyPrefix: 'x:' }).set(storeKeys.rateLimit('ip:192.0.2.1', 'counter', 'increment'), 'g:1', HOUR);
    const dry = await revoke({ all: true, dryRun: true }, { REDIS_URL: `${redis.urlOf(10)}`, REDIS_KEY_PREFIX: 'app:' });
    expect([dry.code, dry.err]).toEqual([0, []]);
    expect(dry.out).toContain(`revoke-sessions: none to end: no session under any key prefix in ${redis.urlOf(10)} (other keys of this framework under "x:")`);
  });
});

describe.skipIf(!REDIS_AVAILABLE)('revoke-sessions: a REDIS_KEY_PREFIX that is not the app\'s (Cluster of three masters)', () => {
  let cluster: RedisCluster;
  let url: string;
  let app: Store;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    url = cluster.nodes.map((n) => n.url).join(',');
    app = createRedisStore({ ...redisTarget(url), keyPrefix: 'app:' });
    await app.health();
  }, 180_000);
  afterAll(async () => {
    await app?.close();
    await cluster?.stop();
  });

  it('finds the app\'s sessions on every master and refuses the wrong prefix with their exact count; the right one ends them', { timeout: 120_000 }, async () => {
    for (let i = 0; i < 12; i++) await session(app, false);
    const admin = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
    try {
      await whenReady(admin);
      const perMaster = async () => Promise.all(admin.nodes('master').map(async (node) => (await node.keys('app:*')).length));
      const before = await perMaster();
      expect(before.filter((n) => n > 0).length, 'sessions on more than one master').toBeGreaterThan(1);
      const refused = await revoke({ all: true }, { REDIS_URL: url, REDIS_KEY_PREFIX: 'wrong:' });
      expect(refused.code).toBe(1);
      expect(refused.err).toEqual([expect.stringMatching(/: no key of this app under the key prefix "wrong:" \(REDIS_KEY_PREFIX\), but sessions under "app:" \(12 sessions\): .*; nothing was changed$/)]);
      expect(await perMaster()).toEqual(before);
      const done = await revoke({ all: true }, { REDIS_URL: url, REDIS_KEY_PREFIX: 'app:' });
      expect([done.code, done.err]).toEqual([0, []]);
      expect(done.counts).toMatchObject({ 'sessions anonymous': 12 });
      expect(await perMaster()).toEqual([0, 0, 0]);
    } finally {
      admin.disconnect();
    }
  });
});
