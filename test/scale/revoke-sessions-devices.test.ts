/**
 * `livecomponents revoke-sessions` forgets trusted devices (src/auth/device.ts: a browser that signed
 * in to an account keeps a sign-in budget of its own for it, apart from the per-account one) in
 * Redis, under the app's key prefix: `--user` that account's list, `--all` every account's, on one
 * server and on every master of a Cluster. Exact counts (accounts, devices) in the dry run and the
 * run; another prefix's lists and the devices' rate-limit state stay.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authKeys, deviceDigest } from '../../src/auth/keys.js';
import type { RevokeSessionsArgs } from '../../src/cli/revoke-sessions.js';
import { redisTarget } from '../../src/runtime/backends.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import type { Store } from '../../src/store/types.js';
import { REDIS_AVAILABLE, startRedisCluster, useRedisServer, whenReady, type RedisCluster } from '../redis/server.js';
import { runRevokeSessions, useUsersDatabase } from './revoke-sessions.js';

const HOUR = 3_600_000;
const EMAILS = Array.from({ length: 8 }, (_, i) => `user${i}@example.com`);
const { url: databaseUrl } = useUsersDatabase('revoke-devices', EMAILS);

async function revoke(args: RevokeSessionsArgs, env: Record<string, string>) {
  const { code, err, out, events } = await runRevokeSessions(args, { env: { DATABASE_URL: databaseUrl, ...env } });
  return { code, err, devices: out.find((l) => l.startsWith('revoke-sessions: trusted devices')), events };
}

/** Each account i trusts i + 1 devices (36 in all over 8 accounts), in `store`. */
async function trust(store: Store): Promise<void> {
  for (const [i, email] of EMAILS.entries()) {
    await store.set(authKeys.devices(email), Array.from({ length: i + 1 }, (_, d) => deviceDigest(`${email}-${d}`)).join(' '), HOUR);
  }
}

async function forgets(url: string, ours: Store, theirs: Store, keysOf: (prefix: string) => Promise<number>) {
  await trust(ours);
  await trust(theirs);
  const attempts = authKeys.deviceAttempts('user3@example.com', 'user3@example.com-0');
  await ours.set(attempts, 'g:1', HOUR);
  expect(await keysOf('app:')).toBe(9);
  const env = { REDIS_URL: url, REDIS_KEY_PREFIX: 'app:' };

  const dryOne = await revoke({ user: 'user3@example.com', dryRun: true }, env);
  expect([dryOne.code, dryOne.err, dryOne.devices]).toEqual([0, [], 'revoke-sessions: trusted devices of 1 account: 4 would be forgotten']);
  expect(await keysOf('app:')).toBe(9);
  const one = await revoke({ user: 'user3@example.com' }, env);
  expect([one.code, one.err, one.devices]).toEqual([0, [], 'revoke-sessions: trusted devices of 1 account: 4 forgotten']);
  expect(one.events[0]?.description).toMatch(/, 4 trusted devices forgotten$/);
  expect(await ours.get(authKeys.devices('user3@example.com'))).toBeNull();
  expect(await ours.get(authKeys.devices('user4@example.com'))).not.toBeNull();

  const dryAll = await revoke({ all: true, dryRun: true }, env);
  expect([dryAll.code, dryAll.err, dryAll.devices]).toEqual([0, [], 'revoke-sessions: trusted devices of 7 accounts: 32 would be forgotten']);
  const all = await revoke({ all: true }, env);
  expect([all.code, all.err, all.devices]).toEqual([0, [], 'revoke-sessions: trusted devices of 7 accounts: 32 forgotten']);
  // Only the device's rate-limit state is left of the app; the other prefix keeps its 8 lists.
  expect(await keysOf('app:')).toBe(1);
  expect(await ours.get(attempts)).toBe('g:1');
  expect(await keysOf('shop:')).toBe(8);
}

describe.skipIf(!REDIS_AVAILABLE)('revoke-sessions forgets trusted devices in Redis', () => {
  const redis = useRedisServer();

  it('one server: --user that account\'s list, --all every account\'s, exact counts; another prefix untouched', { timeout: 60_000 }, async () => {
    const [ours, theirs] = [redis.open({ database: 3, keyPrefix: 'app:' }), redis.open({ database: 3, keyPrefix: 'shop:' })];
    const admin = redis.adminOf(3);
    await forgets(redis.urlOf(3), ours, theirs, async (prefix) => (await admin.keys(`${prefix}*`)).length);
  });
});

describe.skipIf(!REDIS_AVAILABLE)('revoke-sessions forgets trusted devices on a Redis Cluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
  }, 180_000);
  afterAll(async () => cluster?.stop());

  it('every master: --user, then --all, exact counts; another prefix untouched', { timeout: 120_000 }, async () => {
    const url = cluster.nodes.map((n) => n.url).join(',');
    const ours = createRedisStore({ ...redisTarget(url), keyPrefix: 'app:' });
    const theirs = createRedisStore({ ...redisTarget(url), keyPrefix: 'shop:' });
    const admin = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
    try {
      await ours.health();
      await theirs.health();
      await whenReady(admin);
      const keysOf = async (prefix: string) => (await Promise.all(admin.nodes('master').map((node) => node.keys(`${prefix}*`)))).reduce((n, keys) => n + keys.length, 0);
      await forgets(url, ours, theirs, keysOf);
      const spread = await Promise.all(admin.nodes('master').map((node) => node.keys('shop:*')));
      expect(spread.filter((keys) => keys.length > 0).length, 'lists on more than one master').toBeGreaterThan(1);
    } finally {
      await ours.close();
      await theirs.close();
      admin.disconnect();
    }
  });
});
