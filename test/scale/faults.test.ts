/**
 * The app when its store fails: a dead or hanging Redis never hangs a request (503
 * SERVICE_UNAVAILABLE, readiness 503, no crash, nothing partial), and the app recovers by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore } from '../../src/store/redis/index.js';
import { demoApp, type TestClient } from '../helpers/demo.js';
import { REDIS_AVAILABLE, sleep, useRedisServer } from '../redis/server.js';
import { waitUntil } from '../helpers/wait-until.js';

const TIMEOUT_MS = 300;

describe.skipIf(!REDIS_AVAILABLE)('store faults', () => {
  const redis = useRedisServer();
  let demo: Awaited<ReturnType<typeof demoApp>>;

  beforeAll(async () => {
    demo = await demoApp({}, { store: createRedisStore({ url: redis.server.url, commandTimeoutMs: TIMEOUT_MS }) });
  });
  afterAll(async () => {
    await demo?.app.close();
  });

  const ready = async () => (await demo.app.inject({ url: '/health/ready' })).statusCode;


  it('answers 503 fast while Redis hangs, keeps the data, and recovers when it answers again', async () => {
    const c: TestClient = await demo.client('/');
    expect((await c.action('counter:main', 'increment')).statusCode).toBe(200);
    expect(await ready()).toBe(200);

    // Bounded by the store deadline, not by how long Redis stays away: it stays paused until every
    // request has answered, so a request that waited for it fails the test by timeout (not timed:
    // shared, noisy machines).
    redis.server.pause();
    const results = await Promise.all(Array.from({ length: 20 }, () => c.action('counter:main', 'increment')));
    for (const r of results) {
      expect(r.statusCode).toBe(503);
      expect(r.json()).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(r.body).not.toMatch(/redis|timeout|ECONN/i);
    }
    expect(await ready()).toBe(503);

    redis.server.resume();
    await waitUntil('readiness to answer 200 again', async () => (await ready()) === 200);
    const res = await c.action('counter:main', 'increment');
    expect(res.statusCode).toBe(200);
    // Nothing partial: the 20 refused increments left no trace.
    expect(res.json().state).toEqual({ count: 2 });
  });

  it('survives Redis being killed under traffic and reconnects by itself after a restart', async () => {
    const c = await demo.client('/');
    const traffic = Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        await sleep(i * 10);
        return (await c.action('counter:main', 'increment')).statusCode;
      }),
    );
    await sleep(100);
    await redis.server.kill();
    const statuses = await traffic;
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    expect(statuses).toContain(503);
    expect(await ready()).toBe(503);

    await redis.server.restart();
    await waitUntil('readiness to answer 200 again', async () => (await ready()) === 200);
    // Redis kept nothing (no persistence): the browser reloads and carries on with a new session.
    const fresh = await demo.client('/');
    expect((await fresh.action('counter:main', 'increment')).statusCode).toBe(200);
  });
});
