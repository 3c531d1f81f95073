/**
 * A full Redis (maxmemory reached, noeviction) refuses every write: pages and actions answer 503
 * while /health/ready stays 200 (the health write needs no memory). /health and `doctor --connect`
 * must then say that Redis is full. And an ACL user without INFO or TIME, with which the app runs,
 * gets the doctor's precise reason instead of "Redis did not answer".
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runServiceChecks } from '../../src/cli/doctor-services.js';
import { prepareChecks, redisEvictionCheck, runCheck } from '../../src/ops/health/checks.js';
import { loadConfig } from '../../src/ops/config.js';
import { redisClientOf } from '../../src/store/redis/index.js';
import { demoApp } from '../helpers/demo.js';
import { REDIS_AVAILABLE, useRedisServer, whenReady } from './server.js';

const TOKEN = 'h'.repeat(32);
const FIX = 'raise maxmemory or free memory';

describe.skipIf(!REDIS_AVAILABLE)('a full Redis, and an ACL user without INFO or TIME', () => {
  const redis = useRedisServer();

  afterEach(async () => {
    await redis.admin.config('SET', 'maxmemory', '0');
    await redis.admin.flushall();
  });

  /** ~16 MB of filler keys, so a few connections more or less move used_memory by well under 1 %. */
  async function fill(): Promise<void> {
    const value = 'x'.repeat(1000);
    for (let batch = 0; batch < 16; batch++) {
      const pipeline = redis.admin.pipeline();
      for (let i = 0; i < 1000; i++) pipeline.set(`filler:${batch}:${i}`, value);
      await pipeline.exec();
    }
  }

  /**
   * Sets maxmemory so that used_memory is `ratio` of it (ratio halfway into a whole percent, so the
   * reported share is exact) and returns the maxmemory set.
   */
  async function setMaxmemoryAt(ratio: number): Promise<number> {
    await redis.admin.config('SET', 'maxmemory-policy', 'noeviction');
    const used = Number(/^used_memory:(\d+)/m.exec(await redis.admin.info('memory'))![1]);
    const maxmemory = Math.round(used / ratio);
    await redis.admin.config('SET', 'maxmemory', String(maxmemory));
    return maxmemory;
  }

  const doctorRedis = async (url: string) => (await runServiceChecks(loadConfig({ REDIS_URL: url, DATABASE_URL: 'sqlite::memory:' }), { timeoutMs: 2_000 }))[0]!;

  it('the health check warns at 96% of maxmemory and says writes are refused at 102%', async () => {
    const store = redis.open();
    await store.health();
    const [check] = prepareChecks([redisEvictionCheck(redisClientOf(store)!)]);
    await fill();
    const nearly = await setMaxmemoryAt(0.965);
    expect(await runCheck(check!, 2_000, 2_000)).toMatchObject({
      key: 'redis:eviction-policy',
      status: 'warn',
      output: `Redis is at 96% of maxmemory (${nearly} bytes): past 100% writes are refused (OOM) and every page and action answers 503; ${FIX}`,
    });
    const full = await setMaxmemoryAt(1.025);
    await expect(redis.admin.set('probe', 'x')).rejects.toThrow(/^OOM command not allowed/);
    expect(await runCheck(check!, 2_000, 2_000)).toMatchObject({
      status: 'warn',
      output: `Redis is at 102% of maxmemory (${full} bytes): writes are refused (OOM) and every page and action answers 503; ${FIX}`,
    });
    // Room again: nothing to say.
    await redis.admin.config('SET', 'maxmemory', '0');
    expect(await runCheck(check!, 2_000, 2_000)).toMatchObject({ status: 'pass', output: undefined });
  });

  it('the reference app on a full Redis: pages answer 503, /health/ready stays 200, /health says Redis is full', async () => {
    const demo = await demoApp({ REDIS_URL: redis.server.url, HEALTH_TOKEN: TOKEN });
    try {
      await whenReady(redisClientOf(demo.app.livecomponents.runtime.store)!);
      await fill();
      const full = await setMaxmemoryAt(1.025);
      expect((await demo.app.inject({ method: 'GET', url: '/' })).statusCode).toBe(503);
      expect((await demo.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
      const health = await demo.app.inject({ method: 'GET', url: '/health', headers: { authorization: `Bearer ${TOKEN}` } });
      expect(health.statusCode).toBe(200);
      expect(health.json().status).toBe('warn');
      expect(health.json().checks['redis:eviction-policy'][0]).toMatchObject({
        status: 'warn',
        output: `Redis is at 102% of maxmemory (${full} bytes): writes are refused (OOM) and every page and action answers 503; ${FIX}`,
      });
    } finally {
      await demo.app.close();
    }
  });

  it('doctor --connect fails a full Redis, saying so', async () => {
    await fill();
    const full = await setMaxmemoryAt(1.025);
    expect(await doctorRedis(redis.server.url)).toEqual({
      name: 'redis-server',
      ok: false,
      summary: expect.any(String),
      problems: [`Redis is at 102% of maxmemory (${full} bytes): writes are refused (OOM) and every page and action answers 503; ${FIX}`],
    });
  });

  it('doctor --connect names an ACL user without +info (the app runs with it), as /health does', async () => {
    await redis.admin.call('ACL', 'SETUSER', 'noinfo', 'reset', 'on', '>noinfo-pw', '~*', '&*', '+@all', '-info');
    const url = `redis://noinfo:noinfo-pw@127.0.0.1:${redis.server.port}`;
    const refusal = "NOPERM this user has no permissions to run the 'info' command";
    expect((await doctorRedis(url)).problems).toEqual([
      `REDIS_URL: cannot read INFO memory (${refusal}): the eviction policy and how full Redis is cannot be checked; grant the ACL user +info`,
      `REDIS_URL: cannot read INFO persistence (${refusal}): how Redis persists cannot be checked; grant the ACL user +info`,
    ]);
    const store = redis.open({ url });
    await store.health();
    const [check] = prepareChecks([redisEvictionCheck(redisClientOf(store)!)]);
    expect(await runCheck(check!, 2_000, 2_000)).toMatchObject({ status: 'warn', output: `could not read the eviction policy (${refusal}): grant the ACL user +info` });
  });

  it('doctor --connect names an ACL user without +time: the rate-limit scripts read Redis clock', async () => {
    await redis.admin.call('ACL', 'SETUSER', 'notime', 'reset', 'on', '>notime-pw', '~*', '&*', '+@all', '-time');
    const [redisLine, , clock] = await runServiceChecks(loadConfig({ REDIS_URL: `redis://notime:notime-pw@127.0.0.1:${redis.server.port}`, DATABASE_URL: 'sqlite::memory:' }), { timeoutMs: 2_000 });
    expect(redisLine!.problems).toEqual([
      "REDIS_URL: cannot read TIME (NOPERM this user has no permissions to run the 'time' command): rate-limited actions would fail (their scripts read Redis's clock) and the clocks cannot be compared; grant the ACL user +time",
    ]);
    expect(clock).toMatchObject({ ok: true, summary: 'no shared service answered to compare clocks with' });
  });
});
