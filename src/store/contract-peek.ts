/**
 * The contract of the read-only `rateLimitPeek` batch op, part of the store contract (`contract.ts`
 * registers it for every backend): the budget as it stands, the numbers of the step before it and
 * of the step after it, nothing written, arguments checked as for `rateLimit`. Imports Vitest, so
 * only tests import it.
 *
 * The random sequences keep every time and window on a whole-second grid (or a third of one, for a
 * GCRA interval of 7000 / 3 ms), so a state never has under ~300 ms left to live: a backend whose
 * keys expire on its own clock (Redis, the real-time modes) keeps it through the test as the
 * JavaScript model does.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../core/clock.js';
import { StoreUnavailableError } from '../core/errors.js';
import { prng } from '../../test/helpers/prng.js';
import { rateLimitPeek, rateLimitStep } from '../pipeline/rate-limit/algorithms.js';
import type { RateLimitAlgorithm, RateLimitDecision, RateLimitPolicy, Store, StoreOp } from './types.js';

type ManualClock = ReturnType<typeof manualClock>;

/** What a peek right after the step `d` (same key, same time) shows. */
function afterStep(d: RateLimitDecision): RateLimitDecision {
  if (!d.allowed) return d;
  return d.remaining > 0
    ? { allowed: true, limit: d.limit, remaining: d.remaining, resetMs: d.resetMs, retryAfterMs: 0, nextMs: d.nextMs }
    : { allowed: false, limit: d.limit, remaining: 0, resetMs: d.resetMs, retryAfterMs: d.nextMs, nextMs: d.nextMs };
}

export function runRateLimitPeekContract(name: string, makeStore: (clock: ManualClock) => Promise<Store>): void {
  describe(`Store contract, rateLimitPeek: ${name}`, () => {
    let clock: ManualClock;
    let store: Store;
    const run = randomUUID();
    let n = 0;
    const key = (label = 'peek') => `lc:{contract-peek:${run}}:${label}:${++n}`;
    const peek = async (k: string, policy: RateLimitPolicy, nowMs: number): Promise<RateLimitDecision> =>
      (await store.batch([{ op: 'rateLimitPeek', key: k, policy, nowMs }]))[0] as RateLimitDecision;
    const step = async (k: string, policy: RateLimitPolicy, nowMs: number): Promise<RateLimitDecision> =>
      (await store.batch([{ op: 'rateLimit', key: k, policy, nowMs }]))[0] as RateLimitDecision;

    beforeEach(async () => {
      clock = manualClock();
      store = await makeStore(clock);
    });
    afterEach(async () => {
      await store.close();
    });

    for (const algorithm of ['gcra', 'sliding-window'] as RateLimitAlgorithm[]) {
      it(`(${algorithm}) a missing key shows the whole budget, and the peek makes no key`, async () => {
        const k = key();
        const policy = { algorithm, limit: 5, windowMs: 60_000 };
        expect(await peek(k, policy, clock.now())).toEqual({ allowed: true, limit: 5, remaining: 5, resetMs: 0, retryAfterMs: 0, nextMs: 0 });
        expect(await store.get(k)).toBeNull();
        // The first step then takes one: nothing was charged by the peek.
        expect((await step(k, policy, clock.now())).remaining).toBe(4);
      });

      it(`(${algorithm}) after N steps shows the Nth step's numbers; before a step, its remaining + 1 and its nextMs (0 at a full budget)`, async () => {
        const k = key();
        const policy = { algorithm, limit: 5, windowMs: 60_000 };
        const now = clock.now();
        const first = await step(k, policy, now);
        expect(await peek(k, policy, now)).toEqual(
          algorithm === 'gcra'
            ? { allowed: true, limit: 5, remaining: 4, resetMs: 12_000, retryAfterMs: 0, nextMs: 12_000 }
            : { allowed: true, limit: 5, remaining: 4, resetMs: 60_000, retryAfterMs: 0, nextMs: 60_000 },
        );
        expect(afterStep(first)).toEqual(await peek(k, policy, now));
        // Steps 2 to 7 (the last two refused), and the budget as time passes: peek, then step, at each time.
        for (let i = 2; i <= 7; i++) {
          const d = await step(k, policy, now);
          expect(await peek(k, policy, now), `after step ${i}`).toEqual(afterStep(d));
        }
        expect(await peek(k, policy, now)).toEqual(
          algorithm === 'gcra'
            ? { allowed: false, limit: 5, remaining: 0, resetMs: 60_000, retryAfterMs: 12_000, nextMs: 12_000 }
            : { allowed: false, limit: 5, remaining: 0, resetMs: 60_000, retryAfterMs: 60_000, nextMs: 60_000 },
        );
        for (const later of [5_000, 12_000, 30_000, 59_000, 60_000, 200_000]) {
          const p = await peek(k, policy, now + later);
          const d = await step(k, policy, now + later);
          if (!d.allowed) expect(p, `at +${later}`).toEqual(d);
          else if (d.remaining + 1 === d.limit) expect(p, `at +${later}`).toEqual({ allowed: true, limit: 5, remaining: 5, resetMs: 0, retryAfterMs: 0, nextMs: 0 });
          else expect(p, `at +${later}`).toEqual({ ...d, remaining: d.remaining + 1, resetMs: p.resetMs });
          expect(await peek(k, policy, now + later), `after the step at +${later}`).toEqual(afterStep(d));
        }
      });

      it(`(${algorithm}) changes nothing: 100 peeks before each step leave every decision as stepping without them`, async () => {
        const [peeked, plain] = [key('peeked'), key('plain')];
        const policy = { algorithm, limit: 3, windowMs: 6_000 };
        const start = clock.now();
        // Forwards, then a clock that went back (a peek must not write the clamped state either).
        for (const at of [0, 0, 1_000, 1_000, 1_000, 2_000, 9_000, 9_000, 4_000, 4_000, 5_000, 20_000]) {
          const peeks: StoreOp[] = Array.from({ length: 100 }, () => ({ op: 'rateLimitPeek', key: peeked, policy, nowMs: start + at }));
          const shown = await store.batch(peeks);
          expect(new Set(shown.map((p) => JSON.stringify(p))).size).toBe(1);
          const [withPeeks, without] = [await step(peeked, policy, start + at), await step(plain, policy, start + at)];
          expect(withPeeks, `step at +${at}`).toEqual(without);
          if (algorithm === 'gcra') expect(await store.get(peeked)).toBe(await store.get(plain));
        }
      });

      it(`(${algorithm}) state it cannot read shows the whole budget and stays as it was`, async () => {
        const k = key();
        await store.set(k, 'x:unreadable', 60_000);
        const policy = { algorithm, limit: 2, windowMs: 60_000 };
        expect(await peek(k, policy, clock.now())).toEqual({ allowed: true, limit: 2, remaining: 2, resetMs: 0, retryAfterMs: 0, nextMs: 0 });
        expect(await store.get(k)).toBe('x:unreadable');
      });
    }

    it('random sequences of steps and peeks, time going back and forth, match the JavaScript arithmetic exactly', async () => {
      const policies: RateLimitPolicy[] = [
        { algorithm: 'gcra', limit: 3, windowMs: 7_000 },
        { algorithm: 'gcra', limit: 5, windowMs: 60_000 },
        { algorithm: 'gcra', limit: 1, windowMs: 10_000 },
        { algorithm: 'sliding-window', limit: 3, windowMs: 7_000 },
        { algorithm: 'sliding-window', limit: 4, windowMs: 60_000 },
      ];
      const moves = [0, 0, 0, 1_000, 1_000, 2_000, 3_000, -1_000, -3_000, 7_000, 60_000];
      for (let seed = 1; seed <= 4; seed++) {
        const random = prng(seed);
        for (const policy of policies) {
          const k = key('random');
          let model: string | null = null;
          let at = clock.now();
          for (let i = 0; i < 40; i++) {
            at += moves[Math.floor(random() * moves.length)] as number;
            const where = `seed ${seed}, ${policy.algorithm} ${policy.limit}/${policy.windowMs}, op ${i}`;
            expect(await peek(k, policy, at), `peek, ${where}`).toEqual(rateLimitPeek(model, policy, at));
            if (random() < 0.6) {
              const expected = rateLimitStep(model, policy, at);
              expect(await step(k, policy, at), `step, ${where}`).toEqual(expected.decision);
              model = expected.ttlMs > 0 ? expected.state : null;
            }
          }
        }
      }
    });

    it('refuses bad arguments as rateLimit does (TypeError), writing nothing of the batch', async () => {
      const ok = key('written');
      const good = { algorithm: 'gcra' as const, limit: 1, windowMs: 1_000 };
      const now = clock.now();
      const bad: [string, StoreOp][] = [
        ['unknown algorithm', { op: 'rateLimitPeek', key: key(), policy: { ...good, algorithm: 'leaky' as RateLimitAlgorithm }, nowMs: now }],
        ['limit 0', { op: 'rateLimitPeek', key: key(), policy: { ...good, limit: 0 }, nowMs: now }],
        ['fractional limit', { op: 'rateLimitPeek', key: key(), policy: { ...good, limit: 1.5 }, nowMs: now }],
        ['limit over 2^31 - 1', { op: 'rateLimitPeek', key: key(), policy: { ...good, limit: 2 ** 31 }, nowMs: now }],
        ['window 0', { op: 'rateLimitPeek', key: key(), policy: { ...good, windowMs: 0 }, nowMs: now }],
        ['window over 2^40', { op: 'rateLimitPeek', key: key(), policy: { algorithm: 'sliding-window', limit: 1, windowMs: 2 ** 40 + 1 }, nowMs: now }],
        ['time NaN', { op: 'rateLimitPeek', key: key(), policy: good, nowMs: Number.NaN }],
        ['time 2^43', { op: 'rateLimitPeek', key: key(), policy: good, nowMs: 2 ** 43 }],
        ['lone surrogate key', { op: 'rateLimitPeek', key: `${key()}\uD800`, policy: good, nowMs: now }],
      ];
      for (const [what, op] of bad) {
        await expect(store.batch([{ op: 'set', key: ok, value: 'v', ttlMs: 60_000 }, op]), what).rejects.toBeInstanceOf(TypeError);
      }
      expect(await store.get(ok)).toBeNull();
      // At the bounds it runs.
      expect(await peek(key(), { algorithm: 'gcra', limit: 2 ** 31 - 1, windowMs: 2 ** 40 }, 2 ** 43 - 1)).toMatchObject({ allowed: true, remaining: 2 ** 31 - 1 });
    });

    it('after close rejects with StoreUnavailableError, or TypeError for bad arguments', async () => {
      await store.close();
      const policy = { algorithm: 'gcra' as const, limit: 1, windowMs: 1_000 };
      await expect(peek(key(), policy, clock.now())).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(peek(key(), { ...policy, limit: 0 }, clock.now())).rejects.toBeInstanceOf(TypeError);
    });
  });
}
