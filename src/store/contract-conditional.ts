/**
 * The store contract of the conditional writes (run by `runStoreContract` for every backend):
 * `replaceIfEquals`, the strict replace of what was read, and `setIfAllowed`'s algorithms, counts and
 * TTL. Kept apart from `contract.ts` for its size. Imports Vitest, so only tests import it.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../core/clock.js';
import { StoreUnavailableError } from '../core/errors.js';
import type { RateLimitAlgorithm, RateLimitDecision, Store, StoreOp } from './types.js';

type ManualClock = ReturnType<typeof manualClock>;

export function runConditionalWriteContract(name: string, makeStore: (clock: ManualClock) => Promise<Store>, realTime: boolean): void {
  describe(`Store contract, conditional writes: ${name}`, () => {
    let clock: ManualClock;
    let store: Store;
    const run = randomUUID();
    let n = 0;
    /** A key unique to this test, in the run's hash-tag slot. */
    const key = (label = 'cw') => `lc:{contract-cw:${run}}:${label}:${++n}`;
    const elapse = async (ms: number) => {
      clock.advance(ms);
      if (realTime) await new Promise((resolve) => setTimeout(resolve, ms));
    };
    const SHORT_TTL = realTime ? 150 : 1_000;
    const replace = (k: string, expected: string, value: string, ttlMs = 60_000): StoreOp => ({ op: 'replaceIfEquals', key: k, expected, value, ttlMs });

    beforeEach(async () => {
      clock = manualClock();
      store = await makeStore(clock);
    });
    afterEach(async () => {
      await store.close();
    });

    it('replaceIfEquals replaces only the exact value read: true; another value, a missing key, an expired key: false and nothing written', async () => {
      const [held, other, missing, expired, deleted] = [key('held'), key('other'), key('missing'), key('expired'), key('deleted')];
      await store.set(held, 'ours', 60_000);
      await store.set(other, 'theirs', 60_000);
      await store.set(expired, 'ours', SHORT_TTL);
      await store.set(deleted, 'ours', 60_000);
      await store.delete(deleted); // a sign-out between the read and the write
      await elapse(realTime ? SHORT_TTL * 2 : SHORT_TTL);
      expect(
        await store.batch([
          replace(held, 'ours', 'new'),
          replace(other, 'ours', 'new'),
          replace(other, 'theirs ', 'new'), // a longer value is another value
          replace(other, 'THEIRS', 'new'),
          replace(missing, 'ours', 'new'),
          replace(expired, 'ours', 'new'),
          replace(deleted, 'ours', 'new'),
          replace(missing, '', 'new'), // an empty expected is not "absent"
        ]),
      ).toEqual([true, false, false, false, false, false, false, false]);
      expect(await store.getMany([held, other, missing, expired, deleted])).toEqual(['new', 'theirs', null, null, null]);
      // No key was made: a later claim of each finds it free.
      for (const k of [missing, expired, deleted]) expect(await store.claim(k, 'claimed', 60_000)).toBeNull();
    });

    it('replaceIfEquals gives the value its own TTL: present just before it, gone after', async () => {
      const k = key();
      await store.set(k, 'old', 60_000);
      expect(await store.batch([replace(k, 'old', 'new', SHORT_TTL)])).toEqual([true]);
      if (!realTime) {
        await elapse(SHORT_TTL - 1);
        expect(await store.get(k)).toBe('new');
        await elapse(1);
      } else {
        expect(await store.get(k)).toBe('new');
        await elapse(SHORT_TTL * 2);
      }
      expect(await store.get(k)).toBeNull();
      // Expired, it is not replaced again (nothing made).
      expect(await store.batch([replace(k, 'new', 'newer')])).toEqual([false]);
      expect(await store.get(k)).toBeNull();
    });

    it('replaceIfEquals: of 200 concurrent writers replacing one read value, exactly one wins, and the key holds its value', async () => {
      const k = key();
      await store.set(k, 'read', 60_000);
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.batch([replace(k, 'read', `w${i}`)])));
      const winners = results.flatMap(([r], i) => (r === true ? [i] : []));
      expect(winners).toHaveLength(1);
      expect(results.filter(([r]) => r === false)).toHaveLength(199);
      expect(await store.get(k)).toBe(`w${winners[0] as number}`);
    });

    it('replaceIfEquals makes read-modify-write lossless: 20 concurrent increments, each retried from its read on a conflict, count 20', async () => {
      const k = key();
      await store.set(k, '0', 60_000);
      const increment = async (): Promise<number> => {
        for (let tries = 1; ; tries++) {
          const read = (await store.get(k)) as string;
          const [replaced] = await store.batch([replace(k, read, String(Number(read) + 1))]);
          if (replaced === true) return tries;
        }
      };
      await Promise.all(Array.from({ length: 20 }, increment));
      expect(await store.get(k)).toBe('20');
    });

    it('replaceIfEquals next to other ops on the same key: each op as it is alone (no pair is fused into another meaning)', async () => {
      const [a, b, c] = [key('a'), key('b'), key('c')];
      await store.set(b, 'x', 60_000);
      await store.set(c, 'x', 60_000);
      expect(
        await store.batch([
          replace(a, 'x', 'y'), // missing: nothing
          { op: 'claim', key: a, value: 'claimed', ttlMs: 60_000 }, // so the claim finds it free
          { op: 'deleteIfEquals', key: b, expected: 'x' },
          replace(b, 'x', 'y'), // deleted just before, in this batch: nothing
          replace(c, 'x', 'y'),
          replace(c, 'y', 'z'), // sees the op before it
          { op: 'get', key: c },
        ]),
      ).toEqual([false, null, true, false, true, true, 'z']);
      expect(await store.getMany([a, b, c])).toEqual(['claimed', null, 'z']);
    });

    it('replaceIfEquals with a bad argument rejects the batch with TypeError, before anything is written, open or closed', async () => {
      const [a, b] = [key('a'), key('b')];
      await store.set(b, 'read', 60_000);
      const bad: StoreOp[] = [
        replace(b, 'read', 'new', 0),
        replace(b, 'read', 'new', Number.NaN),
        replace(b, 'read', '\uD800'),
        replace(b, '\uDC00', 'new'),
        replace('lc:\uD800', 'read', 'new'),
        { op: 'replaceIfEquals', key: b, expected: 'read', value: 42 as unknown as string, ttlMs: 60_000 },
        { op: 'replaceIfEquals', key: b, expected: undefined as unknown as string, value: 'new', ttlMs: 60_000 },
      ];
      for (const op of bad) {
        await expect(store.batch([{ op: 'set', key: a, value: 'A', ttlMs: 60_000 }, op]), JSON.stringify(op)).rejects.toBeInstanceOf(TypeError);
      }
      expect(await store.getMany([a, b])).toEqual([null, 'read']);
      await store.close();
      await expect(store.batch([replace(b, 'read', 'new', -1)])).rejects.toBeInstanceOf(TypeError);
      await expect(store.batch([replace(b, 'read', 'new')])).rejects.toBeInstanceOf(StoreUnavailableError);
    });

    for (const algorithm of ['gcra', 'sliding-window'] as RateLimitAlgorithm[]) {
      it(`setIfAllowed (${algorithm}) under 200 concurrent guarded batches: exactly the 60 admitted write`, async () => {
        const rl = key('rl');
        const policy = { algorithm, limit: 60, windowMs: 3_600_000 };
        const now = clock.now();
        const keys = Array.from({ length: 200 }, () => key('guarded'));
        const results = await Promise.all(
          keys.map((k) =>
            store.batch([
              { op: 'rateLimit', key: rl, policy, nowMs: now },
              { op: 'setIfAllowed', key: k, value: 'v', ttlMs: 60_000 },
            ]),
          ),
        );
        const admitted = results.map(([d]) => (d as RateLimitDecision).allowed);
        expect(results.filter(([d, written]) => (d as RateLimitDecision).allowed && written === true)).toHaveLength(60);
        expect(results.filter(([d, written]) => !(d as RateLimitDecision).allowed && written === false)).toHaveLength(140);
        // Exactly the admitted ones' keys hold a value.
        expect((await store.getMany(keys)).map((v) => v === 'v')).toEqual(admitted);
      });

      it(`setIfAllowed (${algorithm}): the written value is there just before its TTL, gone after; a refused one never was`, async () => {
        const [rl, written, refused] = [key('rl'), key('written'), key('refused')];
        const policy = { algorithm, limit: 1, windowMs: 3_600_000 };
        const now = clock.now();
        const results = await store.batch([
          { op: 'rateLimit', key: rl, policy, nowMs: now },
          { op: 'setIfAllowed', key: written, value: 'v', ttlMs: SHORT_TTL },
          { op: 'rateLimit', key: rl, policy, nowMs: now },
          { op: 'setIfAllowed', key: refused, value: 'v', ttlMs: SHORT_TTL },
        ]);
        expect([(results[0] as RateLimitDecision).allowed, results[1], (results[2] as RateLimitDecision).allowed, results[3]]).toEqual([true, true, false, false]);
        if (!realTime) {
          await elapse(SHORT_TTL - 1);
          expect(await store.getMany([written, refused])).toEqual(['v', null]);
          await elapse(1);
        } else {
          expect(await store.getMany([written, refused])).toEqual(['v', null]);
          await elapse(SHORT_TTL * 2);
        }
        expect(await store.getMany([written, refused])).toEqual([null, null]);
      });
    }
  });
}
