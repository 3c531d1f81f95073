import { describe, expect, it } from 'vitest';
import type { RateLimitPolicy } from '../../store/types.js';
import { gcraStep, rateLimitStep, slidingWindowStep, type RateLimitStep } from './algorithms.js';

const T0 = Date.UTC(2026, 0, 15, 10, 30);
const gcra = (limit: number, windowMs: number): RateLimitPolicy => ({ algorithm: 'gcra', limit, windowMs });
const sliding = (limit: number, windowMs: number): RateLimitPolicy => ({ algorithm: 'sliding-window', limit, windowMs });

/** Runs `count` steps at `now`, threading the state; returns the steps and the last state. */
function burst<S>(step: (s: S | null, p: RateLimitPolicy, n: number) => RateLimitStep<S>, policy: RateLimitPolicy, now: number, count: number, start: S | null = null) {
  let state = start;
  const steps: RateLimitStep<S>[] = [];
  for (let i = 0; i < count; i++) {
    const r = step(state, policy, now);
    state = r.state;
    steps.push(r);
  }
  return { steps, state };
}

const HOUR = 3_600_000;

/** Runs `step` from `state` at each of `times` (in order), threading the state; returns the decisions. */
function run<S>(step: (s: S | null, p: RateLimitPolicy, n: number) => RateLimitStep<S>, policy: RateLimitPolicy, state: S | null, times: readonly number[]) {
  return times.map((now) => {
    const r = step(state, policy, now);
    state = r.state;
    return r.decision;
  });
}

/** Request offsets for the minutes after a clock step: a burst, steady traffic, a pause, another burst. */
const AFTER_STEP = [
  0, 0, 0, 1, 999,
  ...Array.from({ length: 60 }, (_, i) => 2_000 + i * 3_000),
  ...Array.from({ length: 8 }, () => 300_000),
  ...Array.from({ length: 30 }, (_, i) => 300_001 + i * 7_001),
];

/**
 * Random traffic on a clock that steps back now and then (by up to an hour), checked in real time:
 * the clock reads `real + offset`, and each step back lowers `offset`. Returns the real times of the
 * admissions, after checking every decision: a refusal's wait is at most one window (and exactly
 * when stated: refused 1 ms before `retryAfterMs`, admitted at it).
 */
function steppingClock<S>(step: (s: S | null, p: RateLimitPolicy, n: number) => RateLimitStep<S>, policy: RateLimitPolicy, seed: number) {
  let x = seed;
  const random = () => (x = (x * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const interval = policy.windowMs / policy.limit;
  let state: S | null = null;
  let real = T0;
  let offset = 0;
  let steps = 0;
  const admitted: number[] = [];
  const problems: string[] = [];
  const maxWait = Math.ceil(policy.windowMs);
  const maxRetry = policy.algorithm === 'gcra' ? Math.ceil(interval) : maxWait;
  for (let i = 0; i < 3_000; i++) {
    const r = random();
    real += r < 0.4 ? 0 : r < 0.9 ? Math.floor(random() * interval * 1.5) : Math.floor(random() * policy.windowMs * 2);
    if (random() < 0.03) {
      offset -= random() < 0.5 ? Math.floor(random() * policy.windowMs * 3) + 1 : Math.floor(random() * HOUR) + 1;
      steps++;
    }
    const now = real + offset;
    const out = step(state, policy, now);
    const where = `${JSON.stringify(policy)} step ${i}, offset ${offset}`;
    if (out.decision.resetMs > maxWait || out.ttlMs > maxWait) problems.push(`${where}: resetMs ${out.decision.resetMs}, ttlMs ${out.ttlMs}`);
    if (out.decision.allowed) admitted.push(real);
    else {
      const wait = out.decision.retryAfterMs;
      if (wait > maxRetry) problems.push(`${where}: retryAfterMs ${wait}`);
      if (wait > 1 && step(out.state, policy, now + wait - 1).decision.allowed) problems.push(`${where}: admitted before retryAfterMs`);
      if (!step(out.state, policy, now + wait).decision.allowed) problems.push(`${where}: refused at retryAfterMs`);
    }
    state = out.state;
  }
  expect(problems).toEqual([]);
  expect(steps).toBeGreaterThan(50);
  expect(admitted.length).toBeGreaterThan(500);
  return admitted;
}

describe('gcraStep', () => {
  const p = gcra(5, 300_000);

  it('admits a burst of `limit`, then refuses the next with retryAfter = one interval', () => {
    const { steps, state } = burst(gcraStep, p, T0, 6);
    // Full again after `resetMs`; each spent token comes back one interval after the previous (`nextMs`).
    expect(steps.slice(0, 5).map((s) => [s.decision.allowed, s.decision.remaining, s.decision.resetMs, s.decision.nextMs])).toEqual([
      [true, 4, 60_000, 60_000],
      [true, 3, 120_000, 60_000],
      [true, 2, 180_000, 60_000],
      [true, 1, 240_000, 60_000],
      [true, 0, 300_000, 60_000],
    ]);
    expect(steps[0]?.ttlMs).toBe(60_000);
    expect(steps[5]?.decision).toEqual({ allowed: false, limit: 5, remaining: 0, resetMs: 300_000, retryAfterMs: 60_000, nextMs: 60_000 });
    expect(state).toBe(T0 + 300_000);
  });

  it('charges nothing for refusals and refills one token per interval', () => {
    const { state } = burst(gcraStep, p, T0, 20);
    expect(state).toBe(T0 + 300_000);
    expect(gcraStep(state, p, T0 + 59_999).decision).toMatchObject({ allowed: false, retryAfterMs: 1 });
    const refilled = gcraStep(state, p, T0 + 60_000);
    expect(refilled.decision).toEqual({ allowed: true, limit: 5, remaining: 0, resetMs: 300_000, retryAfterMs: 0, nextMs: 60_000 });
    expect(gcraStep(refilled.state, p, T0 + 60_000).decision.retryAfterMs).toBe(60_000);
    // Two intervals later: two tokens back.
    expect(gcraStep(state, p, T0 + 120_000).decision).toMatchObject({ allowed: true, remaining: 1, resetMs: 240_000 });
  });

  it('reads an old TAT as a full bucket', () => {
    const { state } = burst(gcraStep, p, T0, 5);
    const r = gcraStep(state, p, T0 + 3_600_000);
    expect(r.decision).toEqual({ allowed: true, limit: 5, remaining: 4, resetMs: 60_000, retryAfterMs: 0, nextMs: 60_000 });
    expect(r.state).toBe(T0 + 3_660_000);
  });

  it('limit 1: one per window', () => {
    const one = gcra(1, 10_000);
    const first = gcraStep(null, one, T0);
    expect(first.decision).toEqual({ allowed: true, limit: 1, remaining: 0, resetMs: 10_000, retryAfterMs: 0, nextMs: 10_000 });
    expect(gcraStep(first.state, one, T0 + 9_999).decision).toEqual({ allowed: false, limit: 1, remaining: 0, resetMs: 1, retryAfterMs: 1, nextMs: 1 });
    expect(gcraStep(first.state, one, T0 + 10_000).decision.allowed).toBe(true);
  });

  it('time going backwards: a TAT beyond now + depth reads as an empty bucket, one that is not is kept', () => {
    const { state } = burst(gcraStep, p, T0, 5);
    const back = gcraStep(state, p, T0 - 100_000);
    // Empty: the next request one interval from now, the full budget one window from now.
    expect(back.decision).toEqual({ allowed: false, limit: 5, remaining: 0, resetMs: 300_000, retryAfterMs: 60_000, nextMs: 60_000 });
    expect(back.state).toBe(T0 + 200_000);
    expect(back.ttlMs).toBe(300_000);
    // Two spent of five, 1 s back: within what a correct clock leaves, so read as it is (nothing extra).
    const partial = burst(gcraStep, p, T0, 2).state;
    const { steps } = burst(gcraStep, p, T0 - 1_000, 5, partial);
    expect(steps.filter((s) => s.decision.allowed)).toHaveLength(2);
  });

  it('a clock step back of 1 h after 5 of 5 per 60 s: refused for one interval, not for the hour', () => {
    const p60 = gcra(5, 60_000);
    const { state } = burst(gcraStep, p60, T0, 5);
    expect(state).toBe(T0 + 60_000);
    const s = T0 - HOUR;
    const back = gcraStep(state, p60, s);
    expect(back.decision).toEqual({ allowed: false, limit: 5, remaining: 0, resetMs: 60_000, retryAfterMs: 12_000, nextMs: 12_000 });
    expect(back.state).toBe(s + 60_000);
    expect(back.ttlMs).toBe(60_000);
    // The serialized path the memory and SQLite stores take gives the same.
    expect(rateLimitStep(`g:${state}`, p60, s)).toEqual({ decision: back.decision, state: `g:${s + 60_000}`, ttlMs: 60_000 });
    // Admitted exactly when stated, one per interval, the full budget back one window after the step.
    expect(gcraStep(back.state, p60, s + 11_999).decision).toEqual({ allowed: false, limit: 5, remaining: 0, resetMs: 48_001, retryAfterMs: 1, nextMs: 1 });
    expect(gcraStep(back.state, p60, s + 12_000).decision).toEqual({ allowed: true, limit: 5, remaining: 0, resetMs: 60_000, retryAfterMs: 0, nextMs: 12_000 });
    expect(gcraStep(back.state, p60, s + 60_000).decision).toEqual({ allowed: true, limit: 5, remaining: 4, resetMs: 12_000, retryAfterMs: 0, nextMs: 12_000 });
    expect(gcraStep(back.state, p60, s + 120_000).decision.allowed).toBe(true);
    // Nothing extra either: from the step on, exactly the decisions a clock that never stepped gives.
    const stepped = run(gcraStep, p60, state, AFTER_STEP.map((t) => s + t));
    expect(stepped).toEqual(run(gcraStep, p60, state, AFTER_STEP.map((t) => T0 + t)));
    expect(stepped.filter((d) => d.allowed).length).toBeGreaterThan(20);
  });

  it('a clock that steps back at random: waits at most one interval, and what it admits a correct clock admits too', () => {
    for (const [policy, seed] of [[gcra(5, 60_000), 1], [gcra(3, 1_000), 2], [gcra(60, 60_000), 3], [gcra(1, 10_000), 4]] as const) {
      const admitted = steppingClock(gcraStep, policy, seed);
      // The admissions, at their real times, conform to GCRA on a clock that never stepped.
      const decisions = run(gcraStep, policy, null, admitted);
      expect(decisions.filter((d) => !d.allowed)).toEqual([]);
    }
  });

  it('is exact for intervals that are not whole milliseconds', () => {
    for (const windowMs of [1_000, 7_000, 60_000, 86_400_000]) {
      for (let limit = 1; limit <= 120; limit++) {
        const policy = gcra(limit, windowMs);
        const now = T0 + 0.5 + limit;
        const { steps, state } = burst(gcraStep, policy, now, limit + 2);
        expect(steps.filter((s) => s.decision.allowed)).toHaveLength(limit);
        expect(steps[limit - 1]?.decision.remaining).toBe(0);
        expect(steps[limit - 1]?.decision.resetMs).toBeLessThanOrEqual(windowMs);
        for (const k of [1, 2]) {
          const later = burst(gcraStep, policy, now + (k * windowMs) / limit, k + 1, state).steps;
          expect(later.filter((s) => s.decision.allowed)).toHaveLength(Math.min(k, limit));
        }
      }
    }
  });

  it('treats an unreadable TAT as none and rejects bad policies', () => {
    expect(gcraStep(Number.NaN, p, T0).decision.remaining).toBe(4);
    expect(() => gcraStep(null, gcra(0, 1000), T0)).toThrow(TypeError);
    expect(() => gcraStep(null, gcra(1.5, 1000), T0)).toThrow(TypeError);
    expect(() => gcraStep(null, gcra(1, 0), T0)).toThrow(TypeError);
    expect(() => gcraStep(null, p, Number.NaN)).toThrow(TypeError);
  });
});

describe('slidingWindowStep', () => {
  const p = sliding(5, 300_000);

  it('admits 5 in a burst and refuses until the first leaves the window', () => {
    const { steps, state } = burst(slidingWindowStep, p, T0, 5);
    // All five leave together: no quota comes back before the window has passed.
    expect(steps.map((s) => [s.decision.allowed, s.decision.remaining, s.decision.resetMs, s.decision.nextMs])).toEqual([
      [true, 4, 300_000, 300_000],
      [true, 3, 300_000, 300_000],
      [true, 2, 300_000, 300_000],
      [true, 1, 300_000, 300_000],
      [true, 0, 300_000, 300_000],
    ]);
    expect(slidingWindowStep(state, p, T0 + 10_000)).toEqual({
      decision: { allowed: false, limit: 5, remaining: 0, resetMs: 290_000, retryAfterMs: 290_000, nextMs: 290_000 },
      state,
      ttlMs: 290_000,
    });
    expect(slidingWindowStep(state, p, T0 + 299_999).decision.retryAfterMs).toBe(1);
    const after = slidingWindowStep(state, p, T0 + 300_000);
    expect(after.decision).toEqual({ allowed: true, limit: 5, remaining: 4, resetMs: 300_000, retryAfterMs: 0, nextMs: 300_000 });
    expect(after.state).toEqual([T0 + 300_000]);
  });

  it('lets entries leave one by one and charges nothing for refusals', () => {
    let log: number[] | null = null;
    for (let i = 0; i < 5; i++) log = slidingWindowStep(log, p, T0 + i * 10_000).state;
    for (let i = 0; i < 10; i++) expect(slidingWindowStep(log, p, T0 + 100_000).decision.allowed).toBe(false);
    const first = slidingWindowStep(log, p, T0 + 300_000);
    // Full again only when the newest leaves (300 s), but one more fits when the oldest does (10 s).
    expect(first.decision).toEqual({ allowed: true, limit: 5, remaining: 0, resetMs: 300_000, retryAfterMs: 0, nextMs: 10_000 });
    expect(slidingWindowStep(first.state, p, T0 + 300_000).decision).toEqual({
      allowed: false,
      limit: 5,
      remaining: 0,
      resetMs: 300_000,
      retryAfterMs: 10_000,
      nextMs: 10_000,
    });
  });

  it('never admits more than `limit` in any trailing window', () => {
    const policy = sliding(7, 1_000);
    let log: number[] | null = null;
    const admitted: number[] = [];
    let seed = 42;
    let now = T0;
    for (let i = 0; i < 5_000; i++) {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      now += seed % 97;
      const r = slidingWindowStep(log, policy, now);
      log = r.state;
      if (r.decision.allowed) admitted.push(now);
    }
    for (let i = 7; i < admitted.length; i++) expect((admitted[i] as number) - (admitted[i - 7] as number)).toBeGreaterThanOrEqual(1_000);
    expect(admitted.length).toBeGreaterThan(1_000);
  });

  it('limit 1', () => {
    const one = sliding(1, 10_000);
    const first = slidingWindowStep(null, one, T0);
    expect(first.decision).toEqual({ allowed: true, limit: 1, remaining: 0, resetMs: 10_000, retryAfterMs: 0, nextMs: 10_000 });
    expect(slidingWindowStep(first.state, one, T0 + 1).decision).toEqual({ allowed: false, limit: 1, remaining: 0, resetMs: 9_999, retryAfterMs: 9_999, nextMs: 9_999 });
    expect(slidingWindowStep(first.state, one, T0 + 10_000).decision.allowed).toBe(true);
  });

  it('time going backwards: entries ahead of now count as made now', () => {
    const two = sliding(2, 10_000);
    const a = slidingWindowStep(null, two, T0);
    const b = slidingWindowStep(a.state, two, T0 - 5_000);
    expect(b.decision).toEqual({ allowed: true, limit: 2, remaining: 0, resetMs: 10_000, retryAfterMs: 0, nextMs: 10_000 });
    expect(b.state).toEqual([T0 - 5_000, T0 - 5_000]);
    expect(slidingWindowStep(b.state, two, T0 - 4_000).decision).toMatchObject({ allowed: false, retryAfterMs: 9_000 });
    expect(slidingWindowStep(b.state, two, T0 + 4_999).decision).toMatchObject({ allowed: false, retryAfterMs: 1 });
    expect(slidingWindowStep(b.state, two, T0 + 5_000).decision.remaining).toBe(1);
    // A step back within the window: only the entries ahead of now move; the oldest still blocks.
    const p60 = sliding(5, 60_000);
    let spread: number[] | null = null;
    for (const t of [0, 10_000, 20_000, 30_000, 40_000]) spread = slidingWindowStep(spread, p60, T0 + t).state;
    const back = slidingWindowStep(spread, p60, T0 + 15_000);
    expect(back).toEqual({
      decision: { allowed: false, limit: 5, remaining: 0, resetMs: 60_000, retryAfterMs: 45_000, nextMs: 45_000 },
      state: [T0, T0 + 10_000, T0 + 15_000, T0 + 15_000, T0 + 15_000],
      ttlMs: 60_000,
    });
  });

  it('a clock step back of 1 h after 5 of 5 per 60 s: refused for one window, not for the hour', () => {
    const p60 = sliding(5, 60_000);
    const { state } = burst(slidingWindowStep, p60, T0, 5);
    const s = T0 - HOUR;
    const back = slidingWindowStep(state, p60, s);
    expect(back).toEqual({
      decision: { allowed: false, limit: 5, remaining: 0, resetMs: 60_000, retryAfterMs: 60_000, nextMs: 60_000 },
      state: [s, s, s, s, s],
      ttlMs: 60_000,
    });
    // The serialized path the memory and SQLite stores take gives the same.
    expect(rateLimitStep(`w:${(state as number[]).join(',')}`, p60, s)).toEqual({ decision: back.decision, state: `w:${[s, s, s, s, s].join(',')}`, ttlMs: 60_000 });
    expect(slidingWindowStep(back.state, p60, s + 59_999).decision).toEqual({ allowed: false, limit: 5, remaining: 0, resetMs: 1, retryAfterMs: 1, nextMs: 1 });
    const after = slidingWindowStep(back.state, p60, s + 60_000);
    expect(after.decision).toEqual({ allowed: true, limit: 5, remaining: 4, resetMs: 60_000, retryAfterMs: 0, nextMs: 60_000 });
    expect(after.state).toEqual([s + 60_000]);
    expect(slidingWindowStep(back.state, p60, s + 120_000).decision.allowed).toBe(true);
    // Nothing extra either: from the step on, exactly the decisions a clock that never stepped gives,
    // and never more than 5 in any 60 s of the new clock, the 5 before the step (made just now) included.
    const times = AFTER_STEP.map((t) => s + t);
    const stepped = run(slidingWindowStep, p60, state, times);
    expect(stepped).toEqual(run(slidingWindowStep, p60, state, AFTER_STEP.map((t) => T0 + t)));
    const admitted = [s, s, s, s, s, ...times.filter((_, i) => stepped[i]?.allowed)];
    expect(admitted.length).toBeGreaterThan(20);
    for (let i = 5; i < admitted.length; i++) expect((admitted[i] as number) - (admitted[i - 5] as number)).toBeGreaterThanOrEqual(60_000);
  });

  it('a clock that steps back at random: waits at most one window, never more than `limit` in any trailing window of real time', () => {
    for (const [policy, seed] of [[sliding(5, 60_000), 1], [sliding(3, 1_000), 2], [sliding(60, 60_000), 3], [sliding(1, 10_000), 4]] as const) {
      const admitted = steppingClock(slidingWindowStep, policy, seed);
      const { limit, windowMs } = policy;
      const crowded = admitted.filter((t, i) => i >= limit && t - (admitted[i - limit] as number) < windowMs);
      expect(crowded).toEqual([]);
    }
  });
});

/**
 * A clock stepped back and then corrected (NTP undoing a bad step): the limit the one-number state
 * cannot cover (see the header of algorithms.ts). While the clock is behind, the clamped state is
 * written in its time; corrected, the clock reads that state as long past, a full budget. Pinned
 * here so that it stays at one budget per correction and does not grow.
 */
describe('a clock stepped back, then corrected', () => {
  const cases = [
    ['gcra', gcraStep],
    ['sliding-window', slidingWindowStep],
  ] as const;

  it.each(cases)('%s: 3 of 3 per 60 s, one request refused 1 h behind, corrected: a full budget again (known limit)', (algorithm, step) => {
    const policy: RateLimitPolicy = { algorithm, limit: 3, windowMs: 60_000 };
    const fn = step as (s: unknown, p: RateLimitPolicy, n: number) => RateLimitStep<unknown>;
    const before = burst(fn, policy, T0, 3);
    expect(before.steps.every((x) => x.decision.allowed)).toBe(true);
    const behind = fn(before.state, policy, T0 + 1 - HOUR);
    expect(behind.decision.allowed).toBe(false);
    const corrected = burst(fn, policy, T0 + 2, 4, behind.state);
    expect(corrected.steps.map((x) => x.decision.allowed)).toEqual([true, true, true, false]);
  });

  it.each(cases)('%s: through one step back and its correction, at most one budget more than a correct clock in any window of real time', (algorithm, step) => {
    const fn = step as (s: unknown, p: RateLimitPolicy, n: number) => RateLimitStep<unknown>;
    for (const [limit, windowMs] of [[1, 10_000], [3, 60_000], [5, 60_000], [7, 7_000], [60, 60_000]] as const) {
      const policy: RateLimitPolicy = { algorithm, limit, windowMs };
      // The most a correct clock admits within one window: `limit` (sliding window); GCRA also refills
      // `limit - 1` more during it.
      const correct = algorithm === 'gcra' ? 2 * limit - 1 : limit;
      for (let seed = 1; seed <= 100; seed++) {
        let x = seed * 7_919;
        const random = () => (x = (x * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
        // On time, then behind by a window up to an hour for up to 1.5 windows, then on time again.
        const phases = [
          [0, random() * windowMs],
          [-(windowMs + Math.floor(random() * HOUR)), Math.floor(random() * windowMs * 1.5)],
          [0, windowMs * 3],
        ] as const;
        let state: unknown = null;
        let real = T0;
        const admitted: number[] = [];
        for (const [offset, length] of phases) {
          for (const end = real + length; real < end; real += random() < 0.5 ? 0 : Math.floor((random() * windowMs) / limit)) {
            const r = fn(state, policy, real + offset);
            state = r.state;
            if (r.decision.allowed) admitted.push(real);
          }
        }
        let most = 0;
        for (let i = 0, j = 0; i < admitted.length; i++) {
          while (j < admitted.length && (admitted[j] as number) < (admitted[i] as number) + windowMs) j++;
          most = Math.max(most, j - i);
        }
        expect(most, `${algorithm} ${limit}/${windowMs} seed ${seed}`).toBeLessThanOrEqual(correct + limit);
      }
    }
  });
});

describe('nextMs (the `t` of the RateLimit field): exactly when one more request fits', () => {
  /** How many a burst at `now` would admit from `state` (up to limit + 1). */
  function capacity<S>(step: (s: S | null, p: RateLimitPolicy, n: number) => RateLimitStep<S>, policy: RateLimitPolicy, state: S, now: number): number {
    return burst(step, policy, now, policy.limit + 1, state).steps.filter((x) => x.decision.allowed).length;
  }

  const cases = [
    ['gcra', gcraStep, [gcra(5, 300_000), gcra(7, 7_000), gcra(60, 60_000), gcra(1, 10_000)]],
    ['sliding-window', slidingWindowStep, [sliding(5, 300_000), sliding(7, 7_000), sliding(60, 60_000), sliding(1, 10_000)]],
  ] as const;
  for (const [name, step, policies] of cases) {
    it(`${name}: after every step, \`remaining\` fit until nextMs − 1 and one more from nextMs; refusals: nextMs = retryAfterMs`, () => {
      let seed = 7;
      const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
      for (const policy of policies) {
        let state: unknown = null;
        let now = T0;
        const interval = policy.windowMs / policy.limit;
        for (let i = 0; i < 400; i++) {
          now += random() < 0.5 ? 0 : Math.floor(random() * interval * 1.5);
          const r = (step as (s: unknown, p: RateLimitPolicy, n: number) => RateLimitStep<unknown>)(state, policy, now);
          state = r.state;
          const { allowed, remaining, nextMs, retryAfterMs } = r.decision;
          if (!allowed) expect(nextMs).toBe(retryAfterMs);
          expect(nextMs).toBeGreaterThan(0);
          expect(nextMs).toBeLessThanOrEqual(r.decision.resetMs);
          const at = step as (s: unknown, p: RateLimitPolicy, n: number) => RateLimitStep<unknown>;
          expect(capacity(at, policy, state, now + nextMs - 1)).toBe(remaining);
          // GCRA gives back one token at a time; in the sliding window, admissions that share the oldest
          // time leave it together, so more than one may come back at once.
          const back = capacity(at, policy, state, now + nextMs);
          if (name === 'gcra') expect(back).toBe(Math.min(policy.limit, remaining + 1));
          else expect(back).toBeGreaterThanOrEqual(Math.min(policy.limit, remaining + 1));
        }
      }
    });
  }
});

describe('rateLimitStep (serialized state)', () => {
  it('round-trips GCRA and sliding-window state', () => {
    const g = rateLimitStep(null, gcra(5, 300_000), T0);
    expect(g.state).toBe(`g:${T0 + 60_000}`);
    expect(rateLimitStep(g.state, gcra(5, 300_000), T0).decision.remaining).toBe(3);
    const w = rateLimitStep(null, sliding(5, 300_000), T0);
    expect(w.state).toBe(`w:${T0}`);
    const w2 = rateLimitStep(w.state, sliding(5, 300_000), T0 + 1);
    expect(w2.state).toBe(`w:${T0},${T0 + 1}`);
    expect(w2.decision.remaining).toBe(3);
  });

  it('reads the other algorithm’s state or garbage as none', () => {
    const g = rateLimitStep(null, gcra(5, 300_000), T0).state;
    expect(rateLimitStep(g, sliding(5, 300_000), T0).decision.remaining).toBe(4);
    const w = rateLimitStep(null, sliding(5, 300_000), T0).state;
    expect(rateLimitStep(w, gcra(5, 300_000), T0).decision.remaining).toBe(4);
    for (const junk of ['', 'w:', 'w:x', 'w:3,2', 'g:', 'g:abc', 'zzz']) {
      expect(rateLimitStep(junk, sliding(5, 300_000), T0).decision.remaining).toBe(4);
      expect(rateLimitStep(junk, gcra(5, 300_000), T0).decision.remaining).toBe(4);
    }
    expect(() => rateLimitStep(null, { algorithm: 'nope' as 'gcra', limit: 1, windowMs: 1 }, T0)).toThrow(TypeError);
  });
});
