/**
 * Redis dies, hangs or drops connections under traffic. Every call must settle: resolve, or reject
 * with `StoreUnavailableError` within the deadline (plus scheduling slack) — no hang, no unhandled
 * rejection, no crash — and the same store object must recover by itself once Redis is back.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import type { Store, StoreOp } from '../../src/store/types.js';
import { REDIS_AVAILABLE, sleep, useRedisServer } from './server.js';
import { TIMEOUT_MS, WORKERS, expectOnlyFastUnavailable, recoveryTime, slowestOf, traffic } from './traffic.js';

describe.skipIf(!REDIS_AVAILABLE)('Redis store under faults', () => {
  const redis = useRedisServer();
  let store: Store;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(() => {
    process.on('unhandledRejection', onUnhandled);
  });
  beforeEach(async () => {
    store = createRedisStore({ url: redis.server.url, commandTimeoutMs: TIMEOUT_MS });
    await store.health();
  });
  afterEach(async () => {
    await store.close();
    expect(unhandled).toEqual([]);
  });
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  it('Redis killed under 200 concurrent callers, then restarted on the same port', async () => {
    const load = traffic(store);
    await sleep(300);
    const killedAt = performance.now();
    await redis.server.kill();
    await sleep(1_000);
    const downOutcomes = load.outcomes.filter((o) => o.at > killedAt + 50);
    await redis.server.restart();
    const recovered = await recoveryTime(store);
    const restartedAt = performance.now();
    await sleep(500);
    await load.stop();

    // Every call settled, none hung, every failure was a 503-style error.
    expect(load.outcomes).toHaveLength(load.started);
    expectOnlyFastUnavailable(load.outcomes);
    // Healthy before the kill; every call failed while Redis was down, and at once (no queueing):
    // settled before the event loop's next turn, not timed (shared, noisy machines).
    expect(load.outcomes.filter((o) => o.at < killedAt && o.ok).length).toBeGreaterThan(WORKERS);
    expect(downOutcomes.length).toBeGreaterThan(WORKERS);
    expect(downOutcomes.every((o) => !o.ok)).toBe(true);
    expect(downOutcomes.filter((o) => o.atOnce).length).toBeGreaterThan(downOutcomes.length * 0.9);
    // Back by itself (recoveryTime resolved; a store that stays down fails the test by timeout), and
    // every call after recovery succeeds.
    const after = load.outcomes.filter((o) => o.at > restartedAt + 100);
    expect(after.length).toBeGreaterThan(WORKERS);
    expect(after.filter((o) => !o.ok).map((o) => String(o.error))).toEqual([]);
    console.info(
      `[redis faults] kill: ${load.outcomes.length} calls, ${load.outcomes.filter((o) => !o.ok).length} failed; ` +
        `slowest ${Math.round(slowestOf(load.outcomes))} ms; recovered ${Math.round(recovered)} ms after restart`,
    );
  });

  it('Redis hanging (SIGSTOP): calls time out within the deadline, then fail fast; recovers on SIGCONT', async () => {
    const load = traffic(store);
    await sleep(200);
    const pausedAt = performance.now();
    redis.server.pause();
    try {
      await sleep(3_500);
    } finally {
      redis.server.resume();
    }
    const hung = load.outcomes.filter((o) => o.at > pausedAt + 50);
    const recovered = await recoveryTime(store);
    const resumedAt = performance.now();
    await sleep(400);
    await load.stop();

    expect(load.outcomes).toHaveLength(load.started);
    expectOnlyFastUnavailable(load.outcomes);
    expect(hung.length).toBeGreaterThan(WORKERS);
    expect(hung.filter((o) => o.ok)).toEqual([]);
    // Calls made once the silent socket was dropped fail at once instead of waiting the deadline.
    const late = hung.filter((o) => o.at > pausedAt + 3_000);
    expect(late.length).toBeGreaterThan(0);
    expect(late.filter((o) => o.atOnce).length).toBeGreaterThan(late.length * 0.9);
    // Back by itself: recoveryTime resolved (a store that stays down fails the test by timeout).
    const after = load.outcomes.filter((o) => o.at > resumedAt + 100);
    expect(after.filter((o) => !o.ok).map((o) => String(o.error))).toEqual([]);
    console.info(
      `[redis faults] hang: ${hung.length} calls while stopped, slowest ${Math.round(slowestOf(hung))} ms; ` +
        `recovered ${Math.round(recovered)} ms after SIGCONT`,
    );
  });

  it('connections killed mid-batch: each batch applies entirely or not at all', async () => {
    const admin = new Redis(redis.server.url);
    const big = 'b'.repeat(1024 * 1024);
    let killing = true;
    const killer = (async () => {
      while (killing) {
        await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes').catch(() => undefined);
        await sleep(20);
      }
    })();
    const results: { i: number; ok: boolean }[] = [];
    const batchOf = (i: number): StoreOp[] => [
      { op: 'set', key: `lc:{tx${i}}:a`, value: big, ttlMs: 60_000 },
      { op: 'set', key: `lc:{tx${i}}:b`, value: big, ttlMs: 60_000 },
      { op: 'claim', key: `lc:{tx${i}}:c`, value: 'claimed', ttlMs: 60_000 },
    ];
    const deadline = performance.now() + 2_000;
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (performance.now() < deadline) {
          const i = next++;
          const ok = await store.batch(batchOf(i)).then(
            () => true,
            (error: unknown) => {
              expect(error).toBeInstanceOf(StoreUnavailableError);
              return false;
            },
          );
          results.push({ i, ok });
          await sleep(2);
        }
      }),
    );
    killing = false;
    await killer;
    let partial = 0;
    let applied = 0;
    for (const { i, ok } of results) {
      const present = (await admin.exists(`lc:{tx${i}}:a`)) + (await admin.exists(`lc:{tx${i}}:b`)) + (await admin.exists(`lc:{tx${i}}:c`));
      if (present === 3) applied++;
      else if (present !== 0) partial++;
      if (ok) expect(present).toBe(3);
    }
    admin.disconnect();
    expect(partial).toBe(0);
    expect(results.filter((r) => !r.ok).length).toBeGreaterThan(0);
    expect(applied).toBeGreaterThan(0);
    console.info(`[redis faults] connection kills: ${results.length} batches, ${applied} applied whole, 0 partial`);
  });
});
