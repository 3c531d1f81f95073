import { afterEach, describe, expect, it, vi } from 'vitest';
import { sweepIntervalOf } from './checks.js';
import { createMemoryStore } from './memory/index.js';

describe('sweepIntervalOf', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('takes 0 (no sweep) and 1 to 2^31 − 1 ms', () => {
    for (const value of [0, 1, 1.5, 60_000, 2 ** 31 - 1]) expect(sweepIntervalOf('createMemoryStore', value)).toBe(value);
  });

  it('refuses a fraction below 1 like 0 is refused elsewhere: Node ran an interval of 0.5 ms every millisecond', () => {
    const message = /^createMemoryStore: sweepIntervalMs must be a number of ms from 0 \(no sweep\) to 2147483647 ms .*, and not between 0 and 1 \(Node runs a shorter interval every millisecond\)$/;
    for (const value of [0.5, 0.999, Number.MIN_VALUE]) expect(() => sweepIntervalOf('createMemoryStore', value), String(value)).toThrow(message);
    vi.useFakeTimers();
    expect(() => createMemoryStore({ sweepIntervalMs: 0.5 })).toThrow(TypeError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses what it always refused', () => {
    for (const value of [-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) expect(() => sweepIntervalOf('createSqliteStore', value), String(value)).toThrow(TypeError);
  });
});
