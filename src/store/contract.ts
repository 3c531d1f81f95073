/**
 * The contract every `Store` backend passes: one Vitest suite, run by each backend's own test file
 * (`src/store/memory/index.test.ts`, later SQLite and Redis). Imports Vitest, so only tests import it.
 *
 * Keys share one Redis Cluster hash tag per run, so multi-key commands stay in one slot, and carry a
 * random run id, so a backend that keeps data between runs (a database, a shared Redis) is safe.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../core/clock.js';
import { StoreUnavailableError } from '../core/errors.js';
import type { RateLimitAlgorithm, Store, StoreOp } from './types.js';
import { runRateLimitPeekContract } from './contract-peek.js';
import { runConditionalWriteContract } from './contract-conditional.js';

/** The clock handed to `makeStore`: tests move it by hand. */
export type ManualClock = ReturnType<typeof manualClock>;

export interface StoreContractOptions {
  /**
   * The backend measures TTLs on its own clock (SQLite's, Redis's) rather than the injected one:
   * expiry is then tested with short real sleeps instead of moving the clock.
   * @default false
   */
  realTimeTtl?: boolean;
}

/**
 * Registers the contract suite for one backend (with the `rateLimitPeek` op's, `contract-peek.ts`,
 * and the conditional writes', `contract-conditional.ts`).
 *
 * @param makeStore - builds a fresh, open store for each test; gets the test's manual clock
 * @example
 * runStoreContract('memory', async (clock) => createMemoryStore({ clock }));
 */
export function runStoreContract(
  name: string,
  makeStore: (clock: ManualClock) => Promise<Store>,
  opts: StoreContractOptions = {},
): void {
  const realTime = opts.realTimeTtl ?? false;

  describe(`Store contract: ${name}`, () => {
    let clock: ManualClock;
    let store: Store;
    const run = randomUUID();
    let n = 0;
    /** A key unique to this test, in the run's hash-tag slot. */
    const key = (label = 'k') => `lc:{contract:${run}}:${label}:${++n}`;
    /** Lets `ms` pass for TTL purposes: the manual clock, or real time. */
    const elapse = async (ms: number) => {
      clock.advance(ms);
      if (realTime) await new Promise((resolve) => setTimeout(resolve, ms));
    };
    /** A TTL long enough to survive slow real-time backends, short enough to sleep through. */
    const SHORT_TTL = realTime ? 150 : 1_000;

    beforeEach(async () => {
      clock = manualClock();
      store = await makeStore(clock);
    });
    afterEach(async () => {
      await store.close();
    });

    it('get/set/delete', async () => {
      const k = key();
      expect(await store.get(k)).toBeNull();
      await store.set(k, 'one', 60_000);
      expect(await store.get(k)).toBe('one');
      await store.set(k, 'two', 60_000);
      expect(await store.get(k)).toBe('two');
      await store.delete(k);
      expect(await store.get(k)).toBeNull();
      await expect(store.delete(k)).resolves.toBeUndefined();
      await store.set(k, '', 60_000);
      expect(await store.get(k)).toBe('');
    });

    it('expires values after their TTL, and set renews the TTL', async () => {
      const k = key();
      const other = key();
      await store.set(k, 'v', SHORT_TTL);
      await store.set(other, 'w', 60_000);
      if (!realTime) {
        await elapse(SHORT_TTL - 1);
        expect(await store.get(k)).toBe('v');
        await elapse(1);
      } else {
        await elapse(SHORT_TTL * 2);
      }
      expect(await store.get(k)).toBeNull();
      expect(await store.getMany([k])).toEqual([null]);
      expect(await store.get(other)).toBe('w');
      await store.set(k, 'again', SHORT_TTL);
      await elapse(SHORT_TTL / 2);
      await store.set(k, 'renewed', SHORT_TTL * 4);
      await elapse(SHORT_TTL);
      expect(await store.get(k)).toBe('renewed');
    });

    it('rejects TTLs that are not positive finite numbers', async () => {
      for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        await expect(store.set(key(), 'v', ttl)).rejects.toBeInstanceOf(TypeError);
        await expect(store.claim(key(), 'v', ttl)).rejects.toBeInstanceOf(TypeError);
        await expect(store.touch(key(), ttl)).rejects.toBeInstanceOf(TypeError);
      }
      // Checked before the key is looked at: a live key keeps its value and TTL.
      const live = key();
      await store.set(live, 'v', SHORT_TTL);
      await expect(store.touch(live, 0)).rejects.toBeInstanceOf(TypeError);
      await expect(store.batch([{ op: 'touch', key: live, ttlMs: Number.NaN }])).rejects.toBeInstanceOf(TypeError);
      await elapse(realTime ? SHORT_TTL * 2 : SHORT_TTL);
      expect(await store.get(live)).toBeNull();
    });

    it('getMany keeps the order, repeats and nulls', async () => {
      const [a, b, missing] = [key('a'), key('b'), key('missing')];
      await store.set(a, 'A', 60_000);
      await store.set(b, 'B', 60_000);
      expect(await store.getMany([b, missing, a, b])).toEqual(['B', null, 'A', 'B']);
      expect(await store.getMany([])).toEqual([]);
    });

    it('claim: exactly one of 200 concurrent callers wins', async () => {
      const k = key();
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.claim(k, `caller-${i}`, 60_000)));
      const winners = results.flatMap((r, i) => (r === null ? [i] : []));
      expect(winners).toHaveLength(1);
      const winner = `caller-${winners[0]}`;
      expect(results.filter((r) => r !== null).every((r) => r === winner)).toBe(true);
      expect(await store.get(k)).toBe(winner);
    });

    it('claim returns the value already there, and succeeds again after expiry', async () => {
      const k = key();
      await store.set(k, 'held', SHORT_TTL);
      expect(await store.claim(k, 'mine', SHORT_TTL)).toBe('held');
      expect(await store.get(k)).toBe('held');
      await elapse(realTime ? SHORT_TTL * 2 : SHORT_TTL);
      expect(await store.claim(k, 'mine', 60_000)).toBeNull();
      expect(await store.get(k)).toBe('mine');
      expect(await store.claim(k, 'late', 60_000)).toBe('mine');
    });

    it('deleteIfEquals deletes only on an exact match', async () => {
      const k = key();
      expect(await store.deleteIfEquals(k, 'x')).toBe(false);
      await store.set(k, 'token-1', 60_000);
      for (const wrong of ['token-', 'token-10', 'TOKEN-1', 'token-1 ', '']) {
        expect(await store.deleteIfEquals(k, wrong)).toBe(false);
      }
      expect(await store.get(k)).toBe('token-1');
      expect(await store.deleteIfEquals(k, 'token-1')).toBe(true);
      expect(await store.get(k)).toBeNull();
      expect(await store.deleteIfEquals(k, 'token-1')).toBe(false);
      await store.set(k, 'gone-soon', SHORT_TTL);
      await elapse(realTime ? SHORT_TTL * 2 : SHORT_TTL);
      expect(await store.deleteIfEquals(k, 'gone-soon')).toBe(false);
    });

    it('touch renews the TTL of a live key and leaves its value unchanged', async () => {
      const [k, other] = [key(), key()];
      const value = `état 🙂 ${'x'.repeat(300)}`;
      await store.set(k, value, SHORT_TTL);
      await store.set(other, 'w', SHORT_TTL);
      await elapse(SHORT_TTL / 2);
      expect(await store.touch(k, SHORT_TTL * 3)).toBe(true);
      expect(await store.get(k)).toBe(value);
      // Past the old TTL: still there (the key beside it, not touched, is gone).
      await elapse(SHORT_TTL);
      expect(await store.getMany([k, other])).toEqual([value, null]);
      if (!realTime) {
        // The new TTL runs from the touch: SHORT_TTL / 2 + 3 × SHORT_TTL in all.
        await elapse(SHORT_TTL * 2 - 1);
        expect(await store.get(k)).toBe(value);
        await elapse(1);
      } else {
        await elapse(SHORT_TTL * 3);
      }
      expect(await store.get(k)).toBeNull();
    });

    it('touch of a missing or expired key resolves false and creates nothing', async () => {
      const [missing, expired] = [key('missing'), key('expired')];
      expect(await store.touch(missing, 60_000)).toBe(false);
      await store.set(expired, 'old', SHORT_TTL);
      await elapse(realTime ? SHORT_TTL * 2 : SHORT_TTL);
      expect(await store.touch(expired, 60_000)).toBe(false);
      expect(await store.getMany([missing, expired])).toEqual([null, null]);
      // Nothing was made under either key: a claim finds both free.
      expect(await store.claim(missing, 'new', 60_000)).toBeNull();
      expect(await store.claim(expired, 'new', 60_000)).toBeNull();
    });

    it('touch in a batch: a boolean per op, and claim + touch (how a page view mounts) renews an existing key', async () => {
      const [held, fresh, missing] = [key('held'), key('fresh'), key('missing')];
      await store.set(held, 'state', SHORT_TTL);
      await elapse(SHORT_TTL / 2);
      expect(
        await store.batch([
          { op: 'claim', key: held, value: 'initial', ttlMs: SHORT_TTL * 3 },
          { op: 'touch', key: held, ttlMs: SHORT_TTL * 3 },
          { op: 'claim', key: fresh, value: 'initial', ttlMs: SHORT_TTL * 3 },
          { op: 'touch', key: fresh, ttlMs: SHORT_TTL * 3 },
          { op: 'touch', key: missing, ttlMs: SHORT_TTL * 3 },
          { op: 'get', key: held },
        ]),
      ).toEqual(['state', true, null, true, false, 'state']);
      // Past the held key's first TTL, it is still there, with its own value.
      await elapse(SHORT_TTL);
      expect(await store.getMany([held, fresh, missing])).toEqual(['state', 'initial', null]);
      await elapse(SHORT_TTL * 3);
      expect(await store.getMany([held, fresh])).toEqual([null, null]);
    });

    for (const algorithm of ['gcra', 'sliding-window'] as RateLimitAlgorithm[]) {
      it(`rateLimit (${algorithm}): exactly 60 of 200 concurrent callers are admitted`, async () => {
        const k = key('rl');
        const policy = { algorithm, limit: 60, windowMs: 60_000 };
        const now = clock.now();
        const decisions = await Promise.all(Array.from({ length: 200 }, () => store.rateLimit(k, policy, now)));
        const allowed = decisions.filter((d) => d.allowed);
        expect(allowed).toHaveLength(60);
        expect(allowed.map((d) => d.remaining).sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, i) => i));
        for (const d of decisions.filter((x) => !x.allowed)) {
          expect(d).toMatchObject({ limit: 60, remaining: 0 });
          expect(d.retryAfterMs).toBeGreaterThan(0);
        }
        const later = await store.rateLimit(k, policy, now + 60_000);
        expect(later).toMatchObject({ allowed: true, limit: 60, retryAfterMs: 0 });
      });
    }

    it('rateLimit keeps separate budgets per key and resets with its state', async () => {
      const [a, b] = [key('rl-a'), key('rl-b')];
      const policy = { algorithm: 'gcra' as const, limit: 1, windowMs: 60_000 };
      const now = clock.now();
      expect((await store.rateLimit(a, policy, now)).allowed).toBe(true);
      expect(await store.rateLimit(a, policy, now)).toEqual({ allowed: false, limit: 1, remaining: 0, resetMs: 60_000, retryAfterMs: 60_000, nextMs: 60_000 });
      expect((await store.rateLimit(b, policy, now)).allowed).toBe(true);
      await store.delete(a);
      expect((await store.rateLimit(a, policy, now)).allowed).toBe(true);
    });

    it('batch runs every kind of op in order and returns their results', async () => {
      const [a, b, c, rl] = [key('a'), key('b'), key('c'), key('rl')];
      await store.set(a, 'A', 60_000);
      const policy = { algorithm: 'gcra' as const, limit: 1, windowMs: 60_000 };
      const now = clock.now();
      const results = await store.batch([
        { op: 'get', key: a },
        { op: 'set', key: b, value: 'B', ttlMs: 60_000 },
        { op: 'get', key: b },
        { op: 'claim', key: c, value: 'C', ttlMs: 60_000 },
        { op: 'claim', key: c, value: 'D', ttlMs: 60_000 },
        { op: 'deleteIfEquals', key: a, expected: 'nope' },
        { op: 'deleteIfEquals', key: a, expected: 'A' },
        { op: 'delete', key: b },
        { op: 'rateLimit', key: rl, policy, nowMs: now },
        { op: 'rateLimit', key: rl, policy, nowMs: now },
      ]);
      expect(results).toEqual(['A', null, 'B', null, 'C', false, true, null,
        { allowed: true, limit: 1, remaining: 0, resetMs: 60_000, retryAfterMs: 0, nextMs: 60_000 },
        { allowed: false, limit: 1, remaining: 0, resetMs: 60_000, retryAfterMs: 60_000, nextMs: 60_000 },
      ]);
      expect(await store.getMany([a, b, c])).toEqual([null, null, 'C']);
      expect(await store.batch([])).toEqual([]);
    });

    it('batch ops keep their TTLs and their atomicity under 200 concurrent batches', async () => {
      const [rl, claimed, brief] = [key('rl'), key('claimed'), key('brief')];
      const policy = { algorithm: 'sliding-window' as const, limit: 60, windowMs: 60_000 };
      const now = clock.now();
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          store.batch([
            { op: 'rateLimit', key: rl, policy, nowMs: now },
            { op: 'claim', key: claimed, value: `caller-${i}`, ttlMs: 60_000 },
          ]),
        ),
      );
      expect(results.filter(([d]) => (d as { allowed: boolean }).allowed)).toHaveLength(60);
      expect(results.filter(([, c]) => c === null)).toHaveLength(1);
      await store.batch([{ op: 'set', key: brief, value: 'v', ttlMs: SHORT_TTL }]);
      await elapse(realTime ? SHORT_TTL * 2 : SHORT_TTL);
      expect(await store.batch([{ op: 'get', key: brief }])).toEqual([null]);
    });

    it('applies the ops of one hash tag together: a compare-and-replace is never split by 199 concurrent claims', async () => {
      const k = key('replace');
      await store.set(k, 'pending', 60_000);
      const [replaced, ...claims] = await Promise.all([
        store.batch([
          { op: 'deleteIfEquals', key: k, expected: 'pending' },
          { op: 'claim', key: k, value: 'done', ttlMs: 60_000 },
        ]),
        ...Array.from({ length: 199 }, (_, i) => store.claim(k, `intruder-${i}`, 60_000)),
      ]);
      expect(replaced).toEqual([true, null]);
      // Every intruder found the key held, before the batch ('pending') or after it ('done').
      expect(claims.filter((held) => held !== 'pending' && held !== 'done')).toEqual([]);
      expect(await store.get(k)).toBe('done');
    });

    it('a deleteIfEquals + claim pair behaves as the two ops: mismatch, expired entry, missing key, new TTL', async () => {
      const [held, expired, missing, renewed] = [key('held'), key('expired'), key('missing'), key('renewed')];
      await store.set(held, 'theirs', 60_000);
      await store.set(expired, 'ours', SHORT_TTL);
      await store.set(renewed, 'ours', 60_000);
      await elapse(realTime ? SHORT_TTL * 2 : SHORT_TTL);
      const pair = (k: string, ttlMs = 60_000): StoreOp[] => [
        { op: 'deleteIfEquals', key: k, expected: 'ours' },
        { op: 'claim', key: k, value: 'done', ttlMs },
      ];
      // Another value: nothing deleted, the claim finds it. Expired or missing: nothing to delete, the claim wins.
      expect(await store.batch([...pair(held), ...pair(expired), ...pair(missing), ...pair(renewed, SHORT_TTL)])).toEqual([
        false,
        'theirs',
        false,
        null,
        false,
        null,
        true,
        null,
      ]);
      expect(await store.getMany([held, expired, missing, renewed])).toEqual(['theirs', 'done', 'done', 'done']);
      // The replaced entry took the claim's TTL, not the one it had.
      await elapse(realTime ? SHORT_TTL * 2 : SHORT_TTL);
      expect(await store.get(renewed)).toBeNull();
      expect(await store.get(held)).toBe('theirs');
    });

    it('batch with a malformed op rejects with TypeError and changes nothing', async () => {
      const [a, b] = [key('a'), key('b')];
      const ops = [
        { op: 'set', key: a, value: 'A', ttlMs: 60_000 },
        { op: 'set', key: b, value: 'B', ttlMs: 0 },
      ] as const;
      await expect(store.batch(ops)).rejects.toBeInstanceOf(TypeError);
      expect(await store.getMany([a, b])).toEqual([null, null]);
    });

    it('setIfAllowed writes only when the rateLimit step right before it admitted: true, else false and nothing written', async () => {
      const now = clock.now();
      for (const algorithm of ['gcra', 'sliding-window'] as const) {
        const [rl, a, b, held] = [key('rl'), key('a'), key('b'), key('held')];
        await store.set(held, 'before', 60_000);
        const policy = { algorithm, limit: 1, windowMs: 60_000 };
        const guarded = (k: string, ttlMs = 60_000): StoreOp[] => [
          { op: 'rateLimit', key: rl, policy, nowMs: now },
          { op: 'setIfAllowed', key: k, value: 'v', ttlMs },
        ];
        const results = await store.batch([...guarded(a, SHORT_TTL), ...guarded(b), ...guarded(held)]);
        expect(results.map((r) => (typeof r === 'object' && r !== null ? r.allowed : r)), algorithm).toEqual([true, true, false, false, false, false]);
        expect(await store.getMany([a, b, held]), algorithm).toEqual(['v', null, 'before']);
        // It keeps its own TTL, as `set` does.
        await elapse(realTime ? SHORT_TTL * 2 : SHORT_TTL);
        expect(await store.get(a), algorithm).toBeNull();
      }
    });

    it('setIfAllowed anywhere but right after a rateLimit step rejects the batch with TypeError, before anything is written or charged', async () => {
      const now = clock.now();
      const policy = { algorithm: 'gcra' as const, limit: 1, windowMs: 60_000 };
      const [rl, a, b] = [key('rl'), key('a'), key('b')];
      const misplaced: StoreOp[][] = [
        [{ op: 'setIfAllowed', key: a, value: 'v', ttlMs: 60_000 }],
        [{ op: 'set', key: a, value: 'v', ttlMs: 60_000 }, { op: 'setIfAllowed', key: b, value: 'v', ttlMs: 60_000 }],
        [{ op: 'rateLimitPeek', key: rl, policy, nowMs: now }, { op: 'setIfAllowed', key: b, value: 'v', ttlMs: 60_000 }],
        [{ op: 'rateLimit', key: rl, policy, nowMs: now }, { op: 'get', key: a }, { op: 'setIfAllowed', key: b, value: 'v', ttlMs: 60_000 }],
        [{ op: 'rateLimit', key: rl, policy, nowMs: now }, { op: 'setIfAllowed', key: b, value: 'v', ttlMs: 0 }],
      ];
      for (const ops of misplaced) await expect(store.batch(ops), JSON.stringify(ops.map((op) => op.op))).rejects.toBeInstanceOf(TypeError);
      expect(await store.getMany([a, b])).toEqual([null, null]);
      // The step of a refused batch charged nothing: its one request is still there, and the same
      // write in its place (right after the step) is admitted and written.
      const placed = await store.batch([
        { op: 'rateLimit', key: rl, policy, nowMs: now },
        { op: 'setIfAllowed', key: b, value: 'v', ttlMs: 60_000 },
      ]);
      expect([(placed[0] as { allowed: boolean }).allowed, placed[1]]).toEqual([true, true]);
      expect(await store.getMany([a, b])).toEqual([null, 'v']);
    });

    it('setIfAllowed under 200 concurrent guarded batches: exactly the 60 admitted write', async () => {
      const rl = key('rl');
      const policy = { algorithm: 'gcra' as const, limit: 60, windowMs: 3_600_000 };
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
      expect(results.filter(([d, written]) => (d as { allowed: boolean }).allowed && written === true)).toHaveLength(60);
      expect(results.filter(([d, written]) => !(d as { allowed: boolean }).allowed && written === false)).toHaveLength(140);
      expect((await store.getMany(keys)).filter((v) => v === 'v')).toHaveLength(60);
    });

    it('stores 1 MiB values intact', async () => {
      const k = key();
      const big = 'x'.repeat(1024 * 1024 - 1) + 'y';
      await store.set(k, big, 60_000);
      const back = await store.get(k);
      expect(back?.length).toBe(big.length);
      expect(back === big).toBe(true);
      const bigUnicode = '漢字🙂'.repeat(100_000);
      expect(await store.claim(key(), bigUnicode, 60_000)).toBeNull();
      expect((await store.getMany([k]))[0] === big).toBe(true);
    });

    it('keeps unicode keys and values distinct and intact', async () => {
      // One prefix, so keys that differ only in Unicode normalization are really compared.
      const p = key('unicode');
      const pairs: [string, string][] = [
        [`${p}:ключ-🔑`, 'значение 🙂 ✓'],
        [`${p}:键-漢字`, '値・日本語テキスト 𝔘𝔫𝔦𝔠𝔬𝔡𝔢'],
        [`${p}:e\u0301`, 'combining e\u0301'],
        [`${p}:\u00e9`, 'precomposed \u00e9'],
        [`${p}:👨‍👩‍👧‍👦`, '👍🏽 family 🇫🇷'],
      ];
      for (const [k, v] of pairs) await store.set(k, v, 60_000);
      expect(await store.getMany(pairs.map(([k]) => k))).toEqual(pairs.map(([, v]) => v));
      const [first] = pairs[0] as [string, string];
      expect(await store.deleteIfEquals(first, 'значение 🙂 ✓')).toBe(true);
      expect(await store.claim(first, '🆕', 60_000)).toBeNull();
      expect(await store.get(first)).toBe('🆕');
    });

    it('keeps long non-ASCII values intact through every op that reads or compares them', async () => {
      // Past 256 characters the memory store re-encodes values (src/store/memory/compact.ts): Latin-1
      // only (one byte per character in V8, two in UTF-8), BMP, astral, and exactly at the threshold.
      const values = ['café '.repeat(60), `<button>−</button>${'x'.repeat(300)}`, '漢字🙂'.repeat(100), `é${'a'.repeat(255)}`];
      for (const value of values) {
        const k = key();
        await store.set(k, value, 60_000);
        expect(await store.get(k)).toBe(value);
        expect(await store.getMany([k])).toEqual([value]);
        expect(await store.claim(k, 'other', 60_000)).toBe(value);
        expect(await store.deleteIfEquals(k, `${value}.`)).toBe(false);
        const next = `${value}🆕`;
        // The pair an idempotency record is completed with: compare against the long value, replace it.
        expect(await store.batch([{ op: 'deleteIfEquals', key: k, expected: value }, { op: 'claim', key: k, value: next, ttlMs: 60_000 }])).toEqual([true, null]);
        expect(await store.get(k)).toBe(next);
        expect(await store.deleteIfEquals(k, next)).toBe(true);
        expect(await store.get(k)).toBeNull();
      }
    });

    it('refuses keys, values and expected values with a lone surrogate in every op (TypeError), changing nothing', async () => {
      // UTF-8 cannot carry a lone surrogate: backends kept three different strings (or one Redis key
      // for '\uD800', '\uDC00' and '\uFFFD'), so every store refuses them before anything is done.
      const ok = key('well-formed');
      const policy = { algorithm: 'gcra' as const, limit: 1, windowMs: 60_000 };
      const now = clock.now();
      for (const lone of ['a\uDFFF', '\uD800', `b\uDC00c`, `${'x'.repeat(300)}\uD83D`, `\uDE42${'é'.repeat(300)}`]) {
        const bad = `${key('lone')}${lone}`;
        const calls: [string, () => Promise<unknown>][] = [
          ['get', () => store.get(bad)],
          ['getMany', () => store.getMany([ok, bad])],
          ['set key', () => store.set(bad, 'v', 60_000)],
          ['set value', () => store.set(ok, lone, 60_000)],
          ['claim key', () => store.claim(bad, 'v', 60_000)],
          ['claim value', () => store.claim(ok, lone, 60_000)],
          ['touch', () => store.touch(bad, 60_000)],
          ['deleteIfEquals key', () => store.deleteIfEquals(bad, 'v')],
          ['deleteIfEquals expected', () => store.deleteIfEquals(ok, lone)],
          ['delete', () => store.delete(bad)],
          ['rateLimit', () => store.rateLimit(bad, policy, now)],
        ];
        const ops: StoreOp[] = [
          { op: 'get', key: bad },
          { op: 'set', key: bad, value: 'v', ttlMs: 60_000 },
          { op: 'set', key: ok, value: lone, ttlMs: 60_000 },
          { op: 'claim', key: bad, value: 'v', ttlMs: 60_000 },
          { op: 'claim', key: ok, value: lone, ttlMs: 60_000 },
          { op: 'touch', key: bad, ttlMs: 60_000 },
          { op: 'deleteIfEquals', key: bad, expected: 'v' },
          { op: 'deleteIfEquals', key: ok, expected: lone },
          { op: 'delete', key: bad },
          { op: 'rateLimit', key: bad, policy, nowMs: now },
        ];
        // In a batch, after a valid write: the whole batch is refused, the write included.
        for (const op of ops) calls.push([`batch ${op.op}`, () => store.batch([{ op: 'set', key: ok, value: 'written', ttlMs: 60_000 }, op])]);
        for (const [name, call] of calls) await expect(call(), `${name} ${JSON.stringify(lone)}`).rejects.toBeInstanceOf(TypeError);
        expect(await store.get(ok)).toBeNull();
      }
      // U+FFFD and surrogate pairs are characters like any other: kept distinct and intact.
      const p = key('unicode');
      const pairs: [string, string][] = [
        [`${p}:\uFFFD`, 'a\uFFFD'],
        [`${p}:\uD83D\uDE42`, `a\uD83D\uDE42${'é'.repeat(300)}`],
        [`${p}:\uD83D\uDE43`, `a\uD83D\uDE43${'é'.repeat(300)}`],
      ];
      for (const [k, v] of pairs) await store.set(k, v, 60_000);
      expect(await store.getMany(pairs.map(([k]) => k))).toEqual(pairs.map(([, v]) => v));
      const [[first, value]] = pairs as [[string, string]];
      expect(await store.deleteIfEquals(first, 'a\uFFFD\uFFFD')).toBe(false);
      expect(await store.deleteIfEquals(first, value)).toBe(true);
    });

    it('rateLimit (gcra) reads exactly the state format it writes: `g:` and a decimal number, anything else is no state', async () => {
      const policy = { algorithm: 'gcra' as const, limit: 1, windowMs: 60_000 };
      const now = clock.now();
      const admitted = { allowed: true, limit: 1, remaining: 0, resetMs: 60_000, retryAfterMs: 0, nextMs: 60_000 };
      const refused = { allowed: false, limit: 1, remaining: 0, resetMs: 60_000, retryAfterMs: 60_000, nextMs: 60_000 };
      // The state a step leaves is in that format, and read back as such under another key.
      const [first, copy] = [key('rl'), key('rl')];
      expect(await store.rateLimit(first, policy, now)).toEqual(admitted);
      const state = await store.get(first);
      expect(state).toMatch(/^g:-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?$/);
      await store.set(copy, state as string, 60_000);
      expect(await store.rateLimit(copy, policy, now)).toEqual(refused);
      // A TAT one window ahead, written as the format allows (also with an exponent): the next request is refused.
      const tat = now + 60_000;
      for (const held of [`g:${tat}`, `g:${tat}.0`, `g:${tat.toExponential()}`]) {
        const k = key('rl');
        await store.set(k, held, 60_000);
        expect(await store.rateLimit(k, policy, now), held).toEqual(refused);
      }
      // The same number in any other form is no state (a full bucket): what `Number` or Lua's `tonumber` would also take.
      for (const held of [String(tat), ` ${tat}`, `g: ${tat}`, `g:${tat} `, `g:+${tat}`, `g:0x${tat.toString(16)}`, `x:${tat}`, `w:${tat}`, 'g:']) {
        const k = key('rl');
        await store.set(k, held, 60_000);
        expect(await store.rateLimit(k, policy, now), JSON.stringify(held)).toEqual(admitted);
      }
    });

    it('rateLimit refuses a window over 2^40 ms or a limit over 2^31 − 1 (TypeError), and runs at those bounds', async () => {
      const now = clock.now();
      const tooBig = [
        { algorithm: 'gcra' as const, limit: 1, windowMs: 1e300 },
        { algorithm: 'sliding-window' as const, limit: 1, windowMs: 1e17 },
        { algorithm: 'gcra' as const, limit: 1, windowMs: 2 ** 40 + 1 },
        { algorithm: 'gcra' as const, limit: 2 ** 60, windowMs: 1_000 },
        { algorithm: 'sliding-window' as const, limit: 2 ** 31, windowMs: 1_000 },
      ];
      for (const policy of tooBig) {
        const k = key('rl');
        await expect(store.rateLimit(k, policy, now), JSON.stringify(policy)).rejects.toBeInstanceOf(TypeError);
        await expect(store.batch([{ op: 'rateLimit', key: k, policy, nowMs: now }]), JSON.stringify(policy)).rejects.toBeInstanceOf(TypeError);
      }
      const [gcra, wide, window] = [key('rl'), key('rl'), key('rl')];
      const most = { algorithm: 'gcra' as const, limit: 2 ** 31 - 1, windowMs: 2 ** 40 };
      // Interval: 2^40 / (2^31 − 1) ms rounded down to the 2^-10 ms grid, 512 ms.
      expect(await store.rateLimit(gcra, most, now)).toEqual({ allowed: true, limit: 2 ** 31 - 1, remaining: 2 ** 31 - 2, resetMs: 512, retryAfterMs: 0, nextMs: 512 });
      for (const [k, algorithm] of [[wide, 'gcra'], [window, 'sliding-window']] as const) {
        const policy = { algorithm, limit: 1, windowMs: 2 ** 40 };
        expect(await store.rateLimit(k, policy, now), algorithm).toEqual({ allowed: true, limit: 1, remaining: 0, resetMs: 2 ** 40, retryAfterMs: 0, nextMs: 2 ** 40 });
        expect(await store.rateLimit(k, policy, now + 1), algorithm).toEqual({ allowed: false, limit: 1, remaining: 0, resetMs: 2 ** 40 - 1, retryAfterMs: 2 ** 40 - 1, nextMs: 2 ** 40 - 1 });
      }
      for (const k of [gcra, wide, window]) await store.delete(k);
    });

    it('rateLimit refuses a time of 2^43 ms or more either side of zero (TypeError), and runs just below it', async () => {
      // At 2^44 a 2^-10 ms interval vanished in the rounding: memory and SQLite admitted without
      // charging (remaining = limit, resetMs 0), Redis failed (`SET … PX 0`).
      const policy = { algorithm: 'gcra' as const, limit: 1_000, windowMs: 0.5 };
      const window = { algorithm: 'sliding-window' as const, limit: 1, windowMs: 1_000 };
      for (const nowMs of [2 ** 44, 2 ** 43, -(2 ** 43), 1e300]) {
        for (const p of [policy, window]) {
          const k = key('rl');
          await expect(store.rateLimit(k, p, nowMs), `${p.algorithm} ${nowMs}`).rejects.toBeInstanceOf(TypeError);
          await expect(store.batch([{ op: 'set', key: k, value: 'v', ttlMs: 60_000 }, { op: 'rateLimit', key: k, policy: p, nowMs }]), `batch ${p.algorithm} ${nowMs}`).rejects.toBeInstanceOf(TypeError);
          expect(await store.get(k)).toBeNull();
        }
      }
      const k = key('rl');
      expect(await store.rateLimit(k, policy, 2 ** 43 - 1)).toEqual({ allowed: true, limit: 1_000, remaining: 999, resetMs: 1, retryAfterMs: 0, nextMs: 1 });
      await store.delete(k);
    });

    it('rounds a fractional TTL up to a whole millisecond, in every op', async () => {
      // One batch reads at the instant it writes, whatever clock the backend measures TTLs on.
      const [a, b, c] = [key(), key(), key()];
      await store.set(c, 'w', 60_000);
      expect(
        await store.batch([
          { op: 'set', key: a, value: 'v', ttlMs: 1e-6 },
          { op: 'claim', key: b, value: 'v', ttlMs: 0.5 },
          { op: 'touch', key: c, ttlMs: 1e-9 },
          { op: 'get', key: a },
          { op: 'get', key: b },
          { op: 'get', key: c },
        ]),
      ).toEqual([null, null, true, 'v', 'v', 'w']);
      if (!realTime) {
        // 1.5 ms lives 2 ms, 1e-6 lives 1 ms: the same in every call.
        const [d, e, f] = [key(), key(), key()];
        await store.set(d, 'v', 1.5);
        expect(await store.claim(e, 'v', 1e-6)).toBeNull();
        await store.set(f, 'w', 60_000);
        expect(await store.touch(f, 0.25)).toBe(true);
        expect(await store.getMany([d, e, f])).toEqual(['v', 'v', 'w']);
        await elapse(0.5);
        expect(await store.getMany([d, e, f])).toEqual(['v', 'v', 'w']);
        await elapse(0.5);
        expect(await store.getMany([d, e, f])).toEqual(['v', null, null]);
        await elapse(0.5);
        expect(await store.get(d)).toBe('v');
        await elapse(0.5);
        expect(await store.get(d)).toBeNull();
      }
    });

    it('health resolves while open', async () => {
      await expect(store.health()).resolves.toBeUndefined();
    });

    it('after close, every method rejects with StoreUnavailableError; close again resolves', async () => {
      const k = key();
      await store.set(k, 'v', 60_000);
      await store.close();
      const policy = { algorithm: 'gcra' as const, limit: 1, windowMs: 1_000 };
      const calls: [string, () => Promise<unknown>][] = [
        ['get', () => store.get(k)],
        ['getMany', () => store.getMany([k])],
        ['set', () => store.set(k, 'w', 1_000)],
        ['claim', () => store.claim(k, 'w', 1_000)],
        ['touch', () => store.touch(k, 1_000)],
        ['deleteIfEquals', () => store.deleteIfEquals(k, 'v')],
        ['delete', () => store.delete(k)],
        ['rateLimit', () => store.rateLimit(k, policy, clock.now())],
        ['batch', () => store.batch([{ op: 'get', key: k }])],
        ['getMany []', () => store.getMany([])],
        ['batch []', () => store.batch([])],
        ['health', () => store.health()],
      ];
      for (const [method, call] of calls) {
        await expect(call(), method).rejects.toBeInstanceOf(StoreUnavailableError);
      }
      await expect(store.close()).resolves.toBeUndefined();
    });

    it('after close, a call with bad arguments still rejects with TypeError: arguments are checked first, in every method', async () => {
      await store.close();
      const lone = 'lc:\uD800';
      const policy = { algorithm: 'gcra' as const, limit: 1, windowMs: 1_000 };
      const ok = key();
      const calls: [string, () => Promise<unknown>][] = [
        ['get', () => store.get(lone)],
        ['getMany', () => store.getMany([ok, lone])],
        ['set', () => store.set(ok, 'v', 0)],
        ['claim', () => store.claim(ok, 'v', Number.NaN)],
        ['touch', () => store.touch(ok, -1)],
        ['deleteIfEquals', () => store.deleteIfEquals(ok, lone)],
        ['delete', () => store.delete(lone)],
        ['rateLimit', () => store.rateLimit(ok, { ...policy, limit: 0 }, clock.now())],
        ['batch', () => store.batch([{ op: 'get', key: ok }, { op: 'set', key: ok, value: 'v', ttlMs: 0 }])],
        ['batch rateLimit', () => store.batch([{ op: 'rateLimit', key: ok, policy, nowMs: Number.NaN }])],
      ];
      for (const [method, call] of calls) {
        await expect(call(), method).rejects.toBeInstanceOf(TypeError);
      }
    });
  });
  // The read-only rate-limit op, in a file of its own (`contract-peek.ts`).
  runRateLimitPeekContract(name, makeStore);
  // `replaceIfEquals` and `setIfAllowed`'s algorithms and TTL, in a file of their own (`contract-conditional.ts`).
  runConditionalWriteContract(name, makeStore, realTime);
}
