/**
 * A Redis that answers PING but refuses the store's writes: a replica (READONLY — what an instance
 * sees after a failover while REDIS_URL still names the old master) and an ACL user barred from
 * scripts (NOPERM … 'evalsha'). Every page and action of the app answers 503 there, so readiness
 * fails too and `doctor --connect` says FAIL, both naming the cause; a master stays ready, even a
 * full one (the health write is a PEXPIRE of a missing key: nothing created, no memory needed).
 */
import { describe, expect, it } from 'vitest';
import { runServiceChecks } from '../../src/cli/doctor-services.js';
import { loadConfig } from '../../src/ops/config.js';
import { createRedisStore, redisClientOf } from '../../src/store/redis/index.js';
import type { Store } from '../../src/store/types.js';
import { demoApp } from '../helpers/demo.js';
import { REDIS_AVAILABLE, useRedisServer, whenReady } from './server.js';
import { Redis } from 'ioredis';

const TOKEN = 'h'.repeat(32);

describe.skipIf(!REDIS_AVAILABLE)('a Redis that refuses the store writes', () => {
  const master = useRedisServer({ args: ['--user', 'app', 'on', '>app-pw', '~*', '&*', '+@all', '-@scripting'] });
  const replica = useRedisServer({ args: () => ['--replicaof', '127.0.0.1', String(master.server.port)] });
  /** An ACL user with every command but scripts (EVAL, EVALSHA…). */
  const noScripts = () => `redis://app:app-pw@127.0.0.1:${master.server.port}`;

  const cases = () => [
    { name: 'a replica', url: replica.server.url, cause: /READONLY You can't write against a read only replica.*REDIS_URL names a replica/ },
    { name: 'an ACL user without scripts', url: noScripts(), cause: /NOPERM this user has no permissions to run the 'eval(sha)?' command.*\+@scripting/ },
  ];

  it('the store health check rejects, naming READONLY or NOPERM; on the master it passes', async () => {
    const stores: Store[] = [];
    try {
      for (const { url, cause } of cases()) {
        const store = createRedisStore({ url });
        stores.push(store);
        // PING passes: it was the whole health check.
        await whenReady(redisClientOf(store)!);
        await expect(redisClientOf(store)!.ping()).resolves.toBe('PONG');
        await expect(store.health()).rejects.toThrow(cause);
      }
      const good = createRedisStore({ url: master.server.url });
      stores.push(good);
      await expect(good.health()).resolves.toBeUndefined();
      // The probe key was never created.
      expect(await redisClientOf(good)!.exists('lc:{health}:write-check')).toBe(0);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('a full master (maxmemory reached, noeviction) stays healthy: the health write needs no memory', async () => {
    const admin = new Redis(master.server.url);
    const store = createRedisStore({ url: master.server.url });
    try {
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '1');
      await expect(admin.set('x', 'y')).rejects.toThrow(/OOM/);
      await expect(store.health()).resolves.toBeUndefined();
    } finally {
      await admin.config('SET', 'maxmemory', '0');
      admin.disconnect();
      await store.close();
    }
  });

  it('the reference app is not ready on either (503, cause in /health), and ready on the master', async () => {
    for (const { url, cause } of [...cases(), { name: 'the master', url: master.server.url, cause: undefined }]) {
      const demo = await demoApp({ REDIS_URL: url, HEALTH_TOKEN: TOKEN });
      try {
        await whenReady(redisClientOf(demo.app.livecomponents.runtime.store)!);
        const ready = await demo.app.inject({ method: 'GET', url: '/health/ready' });
        const health = await demo.app.inject({ method: 'GET', url: '/health', headers: { authorization: `Bearer ${TOKEN}` } });
        if (cause === undefined) {
          expect(ready.statusCode, url).toBe(200);
          expect(health.json().status).toBe('pass');
          continue;
        }
        expect(ready.statusCode, url).toBe(503);
        expect(health.statusCode).toBe(503);
        expect(health.json().status).toBe('fail');
        expect(health.json().checks['store:responsiveness'][0]).toMatchObject({ status: 'fail', output: expect.stringMatching(cause) });
        // As the pages themselves, which is the point.
        expect((await demo.app.inject({ method: 'GET', url: '/' })).statusCode).toBe(503);
      } finally {
        await demo.app.close();
      }
    }
  });

  it('doctor --connect fails on either, naming READONLY or NOPERM, and passes the master', async () => {
    const check = async (url: string) => (await runServiceChecks(loadConfig({ REDIS_URL: url, DATABASE_URL: 'sqlite::memory:' }), { timeoutMs: 2_000 }))[0];
    for (const { url, cause } of cases()) {
      const result = await check(url);
      expect(result?.ok, url).toBe(false);
      expect(result?.problems).toEqual([expect.stringMatching(/^REDIS_URL: Redis refuses .*so the app's store would answer 503$/)]);
      expect(result?.problems[0]).toMatch(cause);
    }
    const good = await check(master.server.url);
    expect(good).toMatchObject({ ok: true, problems: [] });
  });
});
