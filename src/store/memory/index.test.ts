import { afterEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../core/clock.js';
import { runStoreContract } from '../contract.js';
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
