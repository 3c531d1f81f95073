/**
 * The Lua rate-limit scripts against the JavaScript algorithms they port: the same random sequences
 * of requests (bursts, steady traffic, long pauses, time going backwards by less than a window and
 * by far more, up to an hour, fractional times and windows) must give the same decision at every
 * step and leave the same state, the state clamped after a step back included.
 *
 * Redis expires keys on its own clock while these sequences run on an invented one, so each step
 * runs the shipped script with its expiry calls taken out: both sides keep their state for the
 * whole sequence. (Undoing them with a PERSIST at the end of the same script was not enough: on a
 * loaded CI machine a 1 ms TTL once expired before it, seed 2009 step 67.) The store's own path to
 * the scripts, TTLs included, is covered by the store contract.
 */
import { describe, expect, it } from 'vitest';
import { gcraStep, slidingWindowStep } from '../../src/pipeline/rate-limit/algorithms.js';
import { toDecision } from '../../src/store/redis/commands.js';
import { GCRA_LUA, SLIDING_WINDOW_LUA, type RateLimitReply } from '../../src/store/redis/lua/index.js';
import type { RateLimitAlgorithm, RateLimitDecision, RateLimitPolicy } from '../../src/store/types.js';
import { REDIS_AVAILABLE, useRedisServer } from './server.js';
import { prng } from '../helpers/prng.js';

const LIMITS = [1, 2, 3, 5, 7, 10, 60];
const WINDOWS = [1, 3, 333.3, 1_000, 7_777, 60_000, 300_000];

/** The next time step: bursts, steady traffic, pauses, backwards steps (small and large), fractional times. */
function nextDelta(random: () => number, policy: RateLimitPolicy): number {
  const r = random();
  const interval = policy.windowMs / policy.limit;
  if (r < 0.3) return 0;
  if (r < 0.7) return Math.floor(random() * interval * 2);
  if (r < 0.8) return random() * interval;
  if (r < 0.87) return Math.floor(policy.windowMs * (1 + random()));
  if (r < 0.94) return -Math.floor(random() * policy.windowMs * 0.5);
  // A clock step back by one to three windows, or by up to an hour: the stored state is ahead of now.
  if (r < 0.97) return -Math.floor(policy.windowMs * (1 + 2 * random()));
  return -Math.floor(random() * 3_600_000) - 1;
}

/** Whether the state the step reads is ahead of what a correct clock could have left at `now`. */
function ahead(state: number | number[] | null, policy: RateLimitPolicy, now: number): boolean {
  if (state === null) return false;
  if (typeof state === 'number') return state > now + policy.windowMs;
  return state.some((t) => t > now);
}

const STEPS = 250;
const SEQUENCES = 16;

describe.skipIf(!REDIS_AVAILABLE)('Lua rate limits agree with the JavaScript algorithms', () => {
  const redis = useRedisServer();

  /** The shipped script with its expiry calls removed (each one must be found, so a changed script is noticed). */
  function withoutExpiry(lua: string, expiries: readonly [string, string][]): string {
    let out = lua;
    for (const [call, replacement] of expiries) {
      if (!out.includes(call)) throw new Error(`the script no longer contains ${call}`);
      out = out.replaceAll(call, replacement);
    }
    if (/PEXPIRE|'PX'/.test(out)) throw new Error('the script sets a TTL this test does not take out');
    return out;
  }
  const GCRA_STEP = withoutExpiry(GCRA_LUA, [
    ["redis.call('PEXPIRE', key, resetMs)", 'local _ = resetMs'],
    ["redis.call('SET', key, 'g:' .. string.format('%.17g', now + debt), 'PX', resetMs)", "redis.call('SET', key, 'g:' .. string.format('%.17g', now + debt))"],
    ["redis.call('SET', key, 'g:' .. string.format('%.17g', base), 'PX', resetMs)", "redis.call('SET', key, 'g:' .. string.format('%.17g', base))"],
  ]);
  const WINDOW_STEP = withoutExpiry(SLIDING_WINDOW_LUA, [["redis.call('PEXPIRE', key, resetMs)", 'local _ = resetMs']]);

  async function luaStep(key: string, policy: RateLimitPolicy, now: number, member: string): Promise<RateLimitDecision> {
    const reply =
      policy.algorithm === 'gcra'
        ? await redis.admin.eval(GCRA_STEP, 1, key, policy.limit, policy.windowMs, now)
        : await redis.admin.eval(WINDOW_STEP, 1, key, policy.limit, policy.windowMs, now, member);
    return toDecision(reply as RateLimitReply, policy.limit);
  }

  async function luaState(algorithm: RateLimitAlgorithm, key: string): Promise<number | number[] | null> {
    if (algorithm === 'gcra') {
      const raw = await redis.admin.get(key);
      // `g:<TAT>`, the format of the JavaScript backends.
      return raw === null ? null : raw.startsWith('g:') ? Number(raw.slice(2)) : NaN;
    }
    const flat = await redis.admin.zrange(key, '0', '-1', 'WITHSCORES');
    return flat.length === 0 ? null : flat.filter((_, i) => i % 2 === 1).map(Number);
  }

  for (const algorithm of ['gcra', 'sliding-window'] as RateLimitAlgorithm[]) {
    it(`${algorithm}: ${SEQUENCES} random sequences of ${STEPS} steps`, async () => {
      let steps = 0;
      let refused = 0;
      let clamped = 0;
      for (let s = 0; s < SEQUENCES; s++) {
        const seed = (algorithm === 'gcra' ? 1_000 : 2_000) + s;
        const random = prng(seed);
        const policy: RateLimitPolicy = {
          algorithm,
          limit: LIMITS[Math.floor(random() * LIMITS.length)] as number,
          windowMs: WINDOWS[Math.floor(random() * WINDOWS.length)] as number,
        };
        const key = `lc:{agree:${seed}}:rl`;
        let now = Date.UTC(2026, 0, 15, 10, 30) + Math.floor(random() * 1e6);
        let gcraState: number | null = null;
        let windowState: number[] | null = null;
        for (let i = 0; i < STEPS; i++) {
          now += nextDelta(random, policy);
          if (ahead(algorithm === 'gcra' ? gcraState : windowState, policy, now)) clamped++;
          const js = algorithm === 'gcra' ? gcraStep(gcraState, policy, now) : slidingWindowStep(windowState, policy, now);
          if (algorithm === 'gcra') gcraState = js.state as number;
          else windowState = js.state as number[];
          const lua = await luaStep(key, policy, now, `m${i}`);
          const where = `seed ${seed}, step ${i}, now ${now}, policy ${JSON.stringify(policy)}`;
          expect(lua, where).toEqual(js.decision);
          const expectedState = algorithm === 'gcra' ? gcraState : (windowState as number[]).length > 0 ? windowState : null;
          expect(await luaState(algorithm, key), where).toEqual(expectedState);
          steps++;
          if (!lua.allowed) refused++;
        }
      }
      // The sequences exercise both branches a lot.
      expect(refused).toBeGreaterThan(steps * 0.1);
      expect(steps - refused).toBeGreaterThan(steps * 0.1);
      // And read state left ahead of the clock by a step back, which both sides clamp.
      expect(clamped).toBeGreaterThan(SEQUENCES * 2);
    });
  }
});
