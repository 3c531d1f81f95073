import { describe, expect, it } from 'vitest';
import { checkTimerDelay, MAX_TIMER_MS, timerDelayProblem } from './deadline.js';

const LIMIT = '2147483647 ms (about 24.8 days, the longest a Node.js timer can wait)';

describe('timerDelayProblem', () => {
  it('names what is wrong with a delay Node would not wait for as given', () => {
    expect(timerDelayProblem(Number.NaN)).toBe('must be a positive number of milliseconds (got NaN)');
    expect(timerDelayProblem(Number.POSITIVE_INFINITY)).toBe('must be a positive number of milliseconds (got Infinity)');
    expect(timerDelayProblem(-1)).toBe('must be a positive number of milliseconds (got -1)');
    expect(timerDelayProblem(0)).toBe('must be a positive number of milliseconds (got 0)');
    // Node waits 1 ms for a shorter delay: an interval of 0.5 ran every millisecond.
    expect(timerDelayProblem(0.5)).toBe('must be at least 1 millisecond, the shortest a Node.js timer waits (got 0.5)');
    // …and 1 ms for a longer one than 2^31 − 1: a deadline of 2^31 passed at once.
    expect(timerDelayProblem(2 ** 31)).toBe(`must be at most ${LIMIT} (got 2147483648)`);
    expect(timerDelayProblem('1000')).toBe('must be a positive number of milliseconds (got "1000")');
    expect(timerDelayProblem(undefined)).toBe('must be a positive number of milliseconds (got undefined)');
  });

  it('takes 1 to 2^31 − 1 ms, fractions above 1 included', () => {
    for (const value of [1, 1.5, 1_000, MAX_TIMER_MS - 0.5, MAX_TIMER_MS]) expect(timerDelayProblem(value), String(value)).toBeUndefined();
  });

  it('takes 0 only where 0 means no timer, and still no fraction below 1', () => {
    expect(timerDelayProblem(0, { zero: true })).toBeUndefined();
    expect(timerDelayProblem(-0, { zero: true })).toBeUndefined();
    expect(timerDelayProblem(0.5, { zero: true })).toBe('must be 0 or at least 1 millisecond, the shortest a Node.js timer waits (got 0.5)');
    expect(timerDelayProblem(Number.MIN_VALUE, { zero: true })).toBe('must be 0 or at least 1 millisecond, the shortest a Node.js timer waits (got 5e-324)');
    expect(timerDelayProblem(-1, { zero: true })).toBe('must be 0 or a positive number of milliseconds (got -1)');
    expect(timerDelayProblem(2 ** 31, { zero: true })).toBe(`must be at most ${LIMIT} (got 2147483648)`);
  });

  it('refuses fractions where whole ms are asked for', () => {
    expect(timerDelayProblem(1.5, { integer: true })).toBe('must be a positive whole number of milliseconds (got 1.5)');
    expect(timerDelayProblem(0.5, { integer: true, zero: true })).toBe('must be 0 or a positive whole number of milliseconds (got 0.5)');
    expect(timerDelayProblem(MAX_TIMER_MS, { integer: true })).toBeUndefined();
  });

  it('holds to a lower ceiling, and never to a higher one than a timer can wait', () => {
    expect(timerDelayProblem(1_001, { max: 1_000 })).toBe('must be at most 1000 ms (got 1001)');
    expect(timerDelayProblem(1_000, { max: 1_000 })).toBeUndefined();
    expect(timerDelayProblem(2 ** 31, { max: 2 ** 40 })).toBe(`must be at most ${LIMIT} (got 2147483648)`);
  });
});

describe('checkTimerDelay', () => {
  it('returns a good delay, and throws the caller’s error with the problem otherwise', () => {
    expect(checkTimerDelay(250, {}, () => new Error('unused'))).toBe(250);
    expect(() => checkTimerDelay(0.5, {}, (problem) => new RangeError(`Thing: waitMs ${problem}`))).toThrow(
      new RangeError('Thing: waitMs must be at least 1 millisecond, the shortest a Node.js timer waits (got 0.5)'),
    );
    expect(() => checkTimerDelay(2 ** 31, {}, (problem) => new RangeError(problem))).toThrow(RangeError);
  });
});
