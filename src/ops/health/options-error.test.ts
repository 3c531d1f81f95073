import { describe, expect, it } from 'vitest';
import { InvalidOptionError, positiveMs } from './options-error.js';

describe('positiveMs', () => {
  it('is the one timer-limit check of the operations options: over 2^31 − 1 ms Node fires a timer after 1 ms', () => {
    for (const value of [2 ** 31, 2 ** 31 - 0.5, 1e12]) {
      const attempt = () => positiveMs('registerHealth', 'timeoutMs', value);
      expect(attempt, String(value)).toThrow(InvalidOptionError);
      expect(attempt, String(value)).toThrow(`registerHealth: timeoutMs must be at most 2147483647 ms (about 24.8 days, the longest a Node.js timer can wait) (got ${value})`);
    }
  });

  it('takes any number of ms from 1 up to the longest a timer can wait', () => {
    expect(positiveMs('installGracefulShutdown', 'graceMs', 2 ** 31 - 1)).toBe(2 ** 31 - 1);
    expect(positiveMs('installGracefulShutdown', 'drainMs', 1)).toBe(1);
    expect(positiveMs('installGracefulShutdown', 'drainMs', 1.5)).toBe(1.5);
    for (const value of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => positiveMs('installGracefulShutdown', 'graceMs', value), String(value)).toThrow(/graceMs must be a positive number of milliseconds/);
    }
  });

  it('refuses a fraction below 1 ms, which Node waited 1 ms for', () => {
    const attempt = () => positiveMs('installGracefulShutdown', 'drainMs', 0.5);
    expect(attempt).toThrow(InvalidOptionError);
    expect(attempt).toThrow('installGracefulShutdown: drainMs must be at least 1 millisecond, the shortest a Node.js timer waits (got 0.5)');
  });
});
