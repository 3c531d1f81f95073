/**
 * Round trips per action, counted twice: by the store's `onRoundTrip` hook and on the wire by a
 * proxy between the store and Redis. An action needs at most two: one batch before it runs (rate
 * limit, idempotency claim, session, state) and one after (state, idempotency record, session).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { storeKeys } from '../../src/store/keys.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import type { Store, StoreOp } from '../../src/store/types.js';
import { startCountingProxy, type CountingProxy } from './proxy.js';
import { REDIS_AVAILABLE, useRedisServer } from './server.js';

/** Simulated network latency (server → client), so the wall time shows the round trips too. */
const LATENCY_MS = 40;

describe.skipIf(!REDIS_AVAILABLE)('Redis round trips', () => {
  const redis = useRedisServer();
  let proxy: CountingProxy;
  let store: Store;
  let hooked = 0;

  beforeAll(async () => {
    proxy = await startCountingProxy(redis.server.port, LATENCY_MS);
    store = createRedisStore({ url: proxy.url, onRoundTrip: () => hooked++ });
    await store.health(); // connection handshake and first command, not counted below
  });
  afterEach(() => {
    proxy.reset();
    hooked = 0;
  });
  afterAll(async () => {
    await store?.close();
    await proxy?.close();
  });

  /** Runs `work` and returns [round trips on the wire, round trips the hook reported]. */
  async function measure(work: () => Promise<unknown>): Promise<[number, number]> {
    proxy.reset();
    hooked = 0;
    await work();
    return [proxy.turns, hooked];
  }

  it('one action = two round trips (one batch before, one after)', async () => {
    const session = 'c2Vzc2lvbi1rZXktaGFzaA';
    const policy = { algorithm: 'gcra' as const, limit: 5, windowMs: 300_000 };
    const before: StoreOp[] = [
      { op: 'rateLimit', key: storeKeys.rateLimit('ip:127.0.0.1', 'payment', 'processPayment'), policy, nowMs: Date.now() },
      { op: 'claim', key: storeKeys.idempotency(`s:${session}`, 'order-42'), value: '{"state":"pending"}', ttlMs: 86_400_000 },
      { op: 'get', key: storeKeys.session(session) },
      { op: 'get', key: storeKeys.componentState(session, 'payment:main') },
    ];
    const after: StoreOp[] = [
      { op: 'set', key: storeKeys.componentState(session, 'payment:main'), value: 'sealed-state'.repeat(50), ttlMs: 3_600_000 },
      { op: 'set', key: storeKeys.idempotency(`s:${session}`, 'order-42'), value: '{"state":"done"}', ttlMs: 86_400_000 },
      { op: 'set', key: storeKeys.session(session), value: '{"csrf":"…"}', ttlMs: 3_600_000 },
    ];
    const started = performance.now();
    const counts = await measure(async () => {
      const [decision, claimed] = await store.batch(before);
      expect(decision).toMatchObject({ allowed: true });
      expect(claimed).toBeNull();
      await store.batch(after);
    });
    const elapsed = performance.now() - started;
    // Two network latencies, not seven (one per op): counted on the wire, where a client waiting for
    // a reply before sending more starts a new turn, not timed (shared, noisy machines).
    expect(counts).toEqual([2, 2]);
    // The proxy's latency was on the path of both (a lower bound: timers never fire early, save
    // rounding).
    expect(elapsed).toBeGreaterThanOrEqual(2 * LATENCY_MS - 2);
  });

  it('a batch of 4 ops = 1 round trip; each single call = 1; getMany of 10 keys = 1', async () => {
    const ops: StoreOp[] = [
      { op: 'set', key: 'lc:{rt:a}:1', value: 'A', ttlMs: 60_000 },
      { op: 'get', key: 'lc:{rt:b}:2' },
      { op: 'deleteIfEquals', key: 'lc:{rt:c}:3', expected: 'x' },
      { op: 'rateLimit', key: 'lc:{rt:d}:4', policy: { algorithm: 'sliding-window', limit: 3, windowMs: 1_000 }, nowMs: Date.now() },
    ];
    expect(await measure(() => store.batch(ops))).toEqual([1, 1]);
    expect(await measure(() => store.get('lc:{rt:a}:1'))).toEqual([1, 1]);
    expect(await measure(() => store.claim('lc:{rt:e}:5', 'v', 60_000))).toEqual([1, 1]);
    expect(await measure(() => store.rateLimit('lc:{rt:f}:6', { algorithm: 'gcra', limit: 3, windowMs: 1_000 }, Date.now()))).toEqual([1, 1]);
    const keys = Array.from({ length: 10 }, (_, i) => `lc:{rt:m${i}}:k`);
    expect(await measure(() => store.getMany(keys))).toEqual([1, 1]);
  });

  it('a 1 MiB batch is still one round trip', async () => {
    const big = 'x'.repeat(1024 * 1024);
    const ops: StoreOp[] = [
      { op: 'set', key: 'lc:{big}:a', value: big, ttlMs: 60_000 },
      { op: 'set', key: 'lc:{big}:b', value: big, ttlMs: 60_000 },
      { op: 'get', key: 'lc:{big}:a' },
    ];
    const [wire, hook] = await measure(() => store.batch(ops));
    expect([wire, hook]).toEqual([1, 1]);
  });
});
