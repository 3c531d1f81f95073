import { afterEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../core/clock.js';
import { checkOp } from '../checks.js';
import { runStoreContract } from '../contract.js';
import type { StoreOp } from '../types.js';
import { createMemoryStore } from './index.js';

runStoreContract('memory', async (clock) => createMemoryStore({ clock }));
// The real-time mode of the contract (for SQLite and Redis), checked here on the system clock.
runStoreContract('memory on the system clock', async () => createMemoryStore(), { realTimeTtl: true });

describe('memory store', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is kind "memory"', async () => {
    const store = createMemoryStore();
    expect(store.kind).toBe('memory');
    await store.close();
  });

  it('sweeps expired entries on its timer, and close() stops the timer', async () => {
    vi.useFakeTimers();
    const clock = manualClock();
    const store = createMemoryStore({ clock, sweepIntervalMs: 1_000 });
    await store.set('a', '1', 500);
    await store.set('b', '2', 5_000);
    expect(vi.getTimerCount()).toBe(1);
    clock.advance(600);
    vi.advanceTimersByTime(1_000);
    // `a` was swept without being read: claiming it succeeds and `b` is untouched.
    expect(await store.claim('a', 'new', 1_000)).toBeNull();
    expect(await store.get('b')).toBe('2');
    await store.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('runs no timer when the sweep is off, and checks its options', async () => {
    vi.useFakeTimers();
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    expect(vi.getTimerCount()).toBe(0);
    await store.close();
    expect(() => createMemoryStore({ sweepIntervalMs: -1 })).toThrow(TypeError);
  });

  it('refuses a sweep interval a timer cannot wait: Node ran one of 2^31 ms every 1 ms', () => {
    for (const sweepIntervalMs of [2 ** 31, 2 ** 31 - 0.5, 1e12]) {
      expect(() => createMemoryStore({ sweepIntervalMs }), String(sweepIntervalMs)).toThrow(/^createMemoryStore: sweepIntervalMs must be a number of ms from 0 \(no sweep\) to 2147483647 ms/);
    }
  });

  it('takes the longest sweep interval a timer can wait, without an overflow warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void (warning.name === 'TimeoutOverflowWarning' && warnings.push(warning));
    process.on('warning', onWarning);
    try {
      const store = createMemoryStore({ sweepIntervalMs: 2 ** 31 - 1 });
      await store.set('a', '1', 60_000);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await store.get('a')).toBe('1');
      await store.close();
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('checks a long value of a batch through its compacted copy: the same refusals and errors as checkOp', async () => {
    const store = createMemoryStore();
    const long = (middle: string) => `${'−'.repeat(300)}${middle}${'x'.repeat(10)}`;
    // Well-formed, a genuine U+FFFD (the bytes a lone surrogate would give) and a pair: kept exactly.
    for (const value of [long(''), long('\uFFFD'), long('\uD83D\uDE42'), 'a'.repeat(300)]) {
      expect(await store.batch([{ op: 'claim', key: 'k', value, ttlMs: 60_000 }, { op: 'get', key: 'k' }])).toEqual([null, value]);
      expect(await store.batch([{ op: 'deleteIfEquals', key: 'k', expected: value }, { op: 'claim', key: 'k', value: `${value}.`, ttlMs: 60_000 }])).toEqual([true, null]);
      expect(await store.get('k')).toBe(`${value}.`);
      await store.delete('k');
    }
    // A lone surrogate, a bad key and a bad TTL: refused as checkOp refuses them, nothing written.
    const refusals: [StoreOp, string][] = [
      [{ op: 'set', key: 'k', value: long('\uD800'), ttlMs: 60_000 }, 'Store value must be well-formed UTF-16 (it has a lone surrogate)'],
      [{ op: 'claim', key: 'k', value: long('\uDC00'), ttlMs: 60_000 }, 'Store value must be well-formed UTF-16 (it has a lone surrogate)'],
      [{ op: 'set', key: 'k\uD800', value: long(''), ttlMs: 60_000 }, 'Store key must be well-formed UTF-16 (it has a lone surrogate)'],
      [{ op: 'claim', key: 'k', value: long(''), ttlMs: 0 }, 'Store TTL must be a positive number of ms, got 0'],
    ];
    for (const [op, message] of refusals) {
      expect(() => checkOp(op)).toThrow(message);
      await expect(store.batch([{ op: 'set', key: 'first', value: long(''), ttlMs: 60_000 }, op])).rejects.toThrow(new TypeError(message));
      expect(await store.getMany(['first', 'k'])).toEqual([null, null]);
    }
    await store.close();
  });

  it('lets rate-limit state expire on the store clock', async () => {
    const clock = manualClock();
    const store = createMemoryStore({ clock });
    const policy = { algorithm: 'gcra' as const, limit: 1, windowMs: 10_000 };
    expect((await store.rateLimit('rl', policy, clock.now())).allowed).toBe(true);
    expect(await store.get('rl')).toBe(`g:${clock.now() + 10_000}`);
    clock.advance(10_000);
    expect(await store.get('rl')).toBeNull();
    await store.close();
  });
});

describe('memory store key families', () => {
  it('keeps keys of every family apart and whole: same suffix, batch across families, delete, close', async () => {
    const clock = manualClock();
    const store = createMemoryStore({ clock });
    const keys = ['lc:{s:a}:x', 'lc:{i:a}:x', 'lc:{r:a}:x', 'lc:{', 'a:x', 'lc:{é:a}:x'];
    const results = await store.batch(keys.map((key, i) => ({ op: 'claim' as const, key, value: `v${i}`, ttlMs: 1_000 })));
    expect(results).toEqual(keys.map(() => null));
    expect(await store.getMany(keys)).toEqual(keys.map((_, i) => `v${i}`));
    await store.delete('lc:{i:a}:x');
    expect(await store.getMany(keys)).toEqual(['v0', null, 'v2', 'v3', 'v4', 'v5']);
    clock.advance(1_000);
    expect(await store.getMany(keys)).toEqual(keys.map(() => null));
    await store.close();
    await expect(store.get('lc:{s:a}:x')).rejects.toThrow();
  });
});
