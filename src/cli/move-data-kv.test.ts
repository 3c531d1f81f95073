/**
 * The key-value half of `livecomponents move-data` (`./move-data-kv.ts`): which rows move and how,
 * and, against test-owned Redis servers (a single one and a three-master Cluster), that what it
 * writes is what the Redis store reads: a sliding-window log moved from its SQLite string answers
 * every later peek and step exactly as the SQLite store would have (the shared JavaScript
 * algorithms on the string), keys keep their hash tags and the store's prefix, TTLs are never
 * longer than what was left, and a key Redis holds already is left as it is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authKeys } from '../auth/keys.js';
import { pendingRecordText } from '../pipeline/idempotency/record.js';
import { rateLimitPeek, rateLimitStep } from '../pipeline/rate-limit/algorithms.js';
import { redisTarget } from '../runtime/backends.js';
import { storeKeys } from '../store/keys.js';
import { createRedisStore, redisClientOf } from '../store/redis/index.js';
import type { RateLimitPolicy, Store } from '../store/types.js';
import { REDIS_AVAILABLE, startRedis, startRedisCluster, type RedisCluster, type RedisServer } from '../../test/redis/server.js';
import { classify, copyToRedis, emptyCounts, type KvRow } from './move-data-kv.js';

describe('move-data: which key-value rows move, and how', () => {
  it('classifies every key the framework and the auth service write', () => {
    const done = '{"s":"done","fp":"f","html":"<p>","state":{},"created_at":"2026-01-15T10:30:00Z","exp":1}';
    const cases: [string, string, string, string][] = [
      [storeKeys.session('k'), '{"id":1}', 'session', 'string'],
      [storeKeys.componentState('k', 'counter:main'), 'sealed', 'component state', 'string'],
      [storeKeys.csrfNonce('k', '0'), 'n', 'csrf nonce', 'string'],
      [storeKeys.instanceLock('k', 'counter:main'), 't', 'instance lock', 'skip'],
      [storeKeys.idempotency('s:k', 'pay-1'), done, 'idempotency record', 'string'],
      [storeKeys.idempotency('s:k', 'pay-2'), pendingRecordText('f', 'lock', 1), 'idempotency claim in flight', 'skip'],
      [storeKeys.rateLimit('ip:1.2.3.4', 'payment', 'processPayment'), 'g:1796449544751.5', 'rate-limit counter', 'string'],
      [storeKeys.rateLimit('ip:1.2.3.4', '~auth', 'login'), 'w:1,2,2', 'rate-limit counter', 'log'],
      [storeKeys.rateLimit('ip:1.2.3.4', '~auth', 'login'), 'w:2,1', 'unreadable rate-limit state', 'skip'],
      [authKeys.loginFailures('a@example.com'), 'w:5', 'rate-limit counter', 'log'],
      [authKeys.loginAttempts('a@example.com'), 'w:5', 'rate-limit counter', 'log'],
      [authKeys.deviceAttempts('a@example.com', 'token'), 'w:5', 'rate-limit counter', 'log'],
      [authKeys.resetMails('u1', null), 'w:5', 'rate-limit counter', 'log'],
      [authKeys.devices('a@example.com'), 'abc def', 'trusted devices', 'string'],
      [authKeys.cleanupLease(), 'instance', 'lease or health check', 'skip'],
      ['lc:{health}:write-check', '1', 'lease or health check', 'skip'],
      ['app:own-key', 'w:1', 'other', 'string'],
    ];
    expect(cases.map(([key, value]) => { const m = classify(key, value); return [m.kind, m.as]; })).toEqual(cases.map(([, , kind, as]) => [kind, as]));
  });
});

const POLICY: RateLimitPolicy = { algorithm: 'sliding-window', limit: 5, windowMs: 60_000 };

/** Rows as the SQLite store leaves them at `now`: `w:` logs expiring with their newest entry, a session, GCRA state. */
function sqliteRows(now: number): KvRow[] {
  const logs = [[now - 50_000], [now - 40_000, now - 30_000, now - 30_000], [now - 59_000, now - 20_000, now - 10_000, now - 5_000, now - 1_000]];
  const rows: KvRow[] = logs.map((log, i) => ({
    key: storeKeys.rateLimit(`ip:10.0.0.${i}`, '~auth', 'login'),
    value: `w:${log.join(',')}`,
    expires_at: (log.at(-1) as number) + POLICY.windowMs,
  }));
  rows.push({ key: storeKeys.session('moved'), value: '{"id":"moved"}', expires_at: now + 3_600_000 });
  rows.push({ key: storeKeys.rateLimit('ip:10.0.0.9', 'payment', 'processPayment'), value: `g:${now + 60_000}`, expires_at: now + 60_000 });
  return rows;
}

/** Against the store `open()` gives (its client and prefix): moved logs read as the JavaScript algorithms read the strings. */
function movesExactly(name: string, open: () => Promise<{ store: Store; prefix: string; close(): Promise<void> }>) {
  it(`${name}: sliding windows answer every peek and step as the SQLite string did; TTLs no longer; present keys left`, async () => {
    const { store, prefix, close } = await open();
    try {
      const client = redisClientOf(store);
      if (client === undefined) throw new Error('no client');
      const now = Date.now();
      const rows = sqliteRows(now);
      const counts = emptyCounts();
      const expired = await copyToRedis(rows, counts, { store, client, keyPrefix: prefix });
      expect([expired, counts['rate-limit counter'], counts.session]).toEqual([0, { moved: 4, present: 0, skipped: 0 }, { moved: 1, present: 0, skipped: 0 }]);
      for (const row of rows) {
        const ttl = await client.pttl(prefix + row.key);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(row.expires_at - now);
      }
      for (const row of rows.slice(0, 3)) {
        for (const at of [now, now + 5_000, now + 30_000]) {
          const [peek] = await store.batch([{ op: 'rateLimitPeek', key: row.key, policy: POLICY, nowMs: at }]);
          expect(peek).toEqual(rateLimitPeek(row.value, POLICY, at));
        }
        // The next step too: the moved log admits and refuses as the string would.
        expect(await store.rateLimit(row.key, POLICY, now + 1)).toEqual(rateLimitStep(row.value, POLICY, now + 1).decision);
      }
      expect(await store.get(rows[3]?.key as string)).toBe('{"id":"moved"}');
      // Run again: everything is there already, nothing is overwritten (the step above changed the logs).
      const again = emptyCounts();
      await copyToRedis(rows, again, { store, client, keyPrefix: prefix });
      expect([again['rate-limit counter'], again.session]).toEqual([{ moved: 0, present: 4, skipped: 0 }, { moved: 0, present: 1, skipped: 0 }]);
      expect(await client.zcard(prefix + (rows[0]?.key as string))).toBe(2);
    } finally {
      await close();
    }
  });
}

describe.skipIf(!REDIS_AVAILABLE)('move-data: key-value rows into Redis', { timeout: 60_000 }, () => {
  let single: RedisServer;
  let cluster: RedisCluster;
  beforeAll(async () => {
    [single, cluster] = await Promise.all([startRedis(), startRedisCluster(3)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([single?.stop(), cluster?.stop()]);
  });

  movesExactly('a single Redis', async () => {
    const store = createRedisStore({ url: single.url, rateLimitClock: 'caller' });
    return { store, prefix: '', close: () => store.close() };
  });

  movesExactly('a Redis Cluster with a key prefix, through the client REDIS_URL gives', async () => {
    const store = createRedisStore({ ...redisTarget(cluster.nodes.map((n) => n.url).join(',')), keyPrefix: 'shop:', rateLimitClock: 'caller' });
    return { store, prefix: 'shop:', close: () => store.close() };
  });

  it('a key Redis holds as another type (a sorted set where the file has a string) is left as it is and counted; the rows around it are copied', async () => {
    const store = createRedisStore({ url: single.url, keyPrefix: 'wt:' });
    try {
      const client = redisClientOf(store);
      if (client === undefined) throw new Error('no client');
      await store.health();
      const now = Date.now();
      const gcra = storeKeys.rateLimit('ip:10.9.9.9', 'payment', 'processPayment');
      // An app on Redis keeps this limit as a sliding window now: its sorted set is newer than the file's GCRA string.
      await client.zadd(`wt:${gcra}`, now, 'm1');
      const rows: KvRow[] = [
        { key: storeKeys.session('wt-before'), value: '{"id":"before"}', expires_at: now + 60_000 },
        { key: gcra, value: `g:${now + 1_000}`, expires_at: now + 60_000 },
        { key: storeKeys.session('wt-after'), value: '{"id":"after"}', expires_at: now + 60_000 },
      ];
      const counts = emptyCounts();
      expect(await copyToRedis(rows, counts, { store, client, keyPrefix: 'wt:' })).toBe(0);
      expect([counts.session, counts['rate-limit counter']]).toEqual([{ moved: 2, present: 0, skipped: 0 }, { moved: 0, present: 1, skipped: 0 }]);
      expect([await client.type(`wt:${gcra}`), await client.zcard(`wt:${gcra}`)]).toEqual(['zset', 1]);
      expect([await store.get(storeKeys.session('wt-before')), await store.get(storeKeys.session('wt-after'))]).toEqual(['{"id":"before"}', '{"id":"after"}']);
    } finally {
      await store.close();
    }
  });

  it('a row whose TTL ran out before its batch is not written', async () => {
    const store = createRedisStore({ url: single.url });
    try {
      const client = redisClientOf(store);
      if (client === undefined) throw new Error('no client');
      const now = Date.now();
      const counts = emptyCounts();
      const rows = [{ key: storeKeys.session('late'), value: '{}', expires_at: now + 10 }, { key: storeKeys.rateLimit('late', 'c', 'a'), value: 'w:1', expires_at: now + 10 }];
      // The clock of the copy reads past both expiries.
      expect(await copyToRedis(rows, counts, { store, client, keyPrefix: '', now: () => now + 20 })).toBe(2);
      expect([await client.exists(rows[0]?.key as string), await client.exists(rows[1]?.key as string), counts.session.moved]).toEqual([0, 0, 0]);
    } finally {
      await store.close();
    }
  });
});
