/**
 * Rate limits on Redis's own clock (`rateLimitClock`, default `redis`): instances whose clocks
 * disagree still count one budget exactly. On the callers' clocks, an instance a minute ahead
 * reads every stored budget as refilled (over-admits) and one behind reads it as spent (locks out).
 */
import { describe, expect, it } from 'vitest';
import { REDIS_AVAILABLE, useRedisServer } from '../../../test/redis/server.js';
import type { RateLimitAlgorithm, RateLimitDecision, RateLimitPolicy, Store } from '../types.js';
import { createRedisStore, type RateLimitClock } from './index.js';

const SKEW_MS = 60_000;
const ALGORITHMS: RateLimitAlgorithm[] = ['gcra', 'sliding-window'];

describe.skipIf(!REDIS_AVAILABLE)('redis store: rate limits on Redis’s clock', () => {
  const redis = useRedisServer();
  let keys = 0;
  const key = () => `lc:{clock${keys++}}:rl`;

  /** One step as a single call or inside a batch (the pipeline's path). */
  async function step(store: Store, via: 'call' | 'batch', k: string, policy: RateLimitPolicy, nowMs: number): Promise<RateLimitDecision> {
    if (via === 'call') return store.rateLimit(k, policy, nowMs);
    const [decision] = await store.batch([{ op: 'rateLimit', key: k, policy, nowMs }]);
    return decision as RateLimitDecision;
  }

  /** 10 requests through an instance on time, then 10 through one a minute ahead; the number admitted. */
  async function admittedAcrossSkew(clock: RateLimitClock | undefined, algorithm: RateLimitAlgorithm, via: 'call' | 'batch'): Promise<number> {
    const onTime = redis.open(clock === undefined ? {} : { rateLimitClock: clock });
    const ahead = redis.open(clock === undefined ? {} : { rateLimitClock: clock });
    const policy = { algorithm, limit: 5, windowMs: 60_000 };
    const k = key();
    let admitted = 0;
    for (let i = 0; i < 20; i++) {
      const [store, now] = i < 10 ? [onTime, Date.now()] : [ahead, Date.now() + SKEW_MS];
      if ((await step(store, via, k, policy, now)).allowed) admitted++;
    }
    return admitted;
  }

  for (const algorithm of ALGORITHMS) {
    for (const via of ['call', 'batch'] as const) {
      it(`${algorithm} (${via}): instances a minute apart admit exactly the limit between them`, async () => {
        expect(await admittedAcrossSkew(undefined, algorithm, via)).toBe(5);
      });
    }

    it(`${algorithm}: on the callers' clocks the same traffic gets twice the limit (why Redis's clock is the default)`, async () => {
      expect(await admittedAcrossSkew('caller', algorithm, 'batch')).toBe(10);
    });

    it(`${algorithm}: exactly 60 of 200 concurrent callers are admitted, on any caller clock`, async () => {
      const stores = [redis.open(), redis.open()];
      const policy = { algorithm, limit: 60, windowMs: 60_000 };
      const k = key();
      const decisions = await Promise.all(
        Array.from({ length: 200 }, (_, i) => step(stores[i % 2] as Store, i % 3 === 0 ? 'call' : 'batch', k, policy, i % 2 === 0 ? Date.now() : 0)),
      );
      const allowed = decisions.filter((d) => d.allowed);
      expect(allowed).toHaveLength(60);
      expect(allowed.map((d) => d.remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i));
      for (const refused of decisions.filter((d) => !d.allowed)) {
        expect(refused.resetMs).toBeGreaterThan(0);
        expect(refused.resetMs).toBeLessThanOrEqual(60_000);
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
      }
    });

    it(`${algorithm}: a caller clock far off changes nothing in the answer or the key's lifetime`, async () => {
      const store = redis.open();
      const policy = { algorithm, limit: 2, windowMs: 10_000 };
      const k = key();
      const first = await store.rateLimit(k, policy, 0); // 1970
      const second = await store.rateLimit(k, policy, Date.now() + 365 * 86_400_000); // a year ahead
      const third = await store.rateLimit(k, policy, Date.now());
      expect([first.allowed, second.allowed, third.allowed]).toEqual([true, true, false]);
      expect(first.resetMs).toBeLessThanOrEqual(10_000);
      expect(third.retryAfterMs).toBeGreaterThan(0);
      expect(third.retryAfterMs).toBeLessThanOrEqual(10_000);
      const pttl = await redis.admin.pttl(`${k}`);
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(10_000);
    });
  }

  it('refuses an unknown clock', () => {
    expect(() => createRedisStore({ url: redis.server.url, rateLimitClock: 'local' as RateLimitClock })).toThrow(TypeError);
  });
});
