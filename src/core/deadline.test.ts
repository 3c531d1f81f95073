import { describe, expect, it } from 'vitest';
import { MAX_TIMER_MS, withDeadline } from './deadline.js';

const after = (ms: number) => new Promise<string>((resolve) => setTimeout(() => resolve('done'), ms));

describe('withDeadline', () => {
  it('settles like the work when it is in time, and rejects when it is late', async () => {
    await expect(withDeadline(after(5), 1_000, (ms) => new Error(`late after ${ms}`))).resolves.toBe('done');
    await expect(withDeadline(after(200), 10, (ms) => new Error(`late after ${ms}`))).rejects.toThrow('late after 10');
  });

  it('waits for the work with a deadline a hair over the longest timer (a budget remainder in floating point)', async () => {
    // performance.now() + 2^31 − 1, minus a later performance.now(), can exceed 2^31 − 1 by a
    // fraction: Node fires such a timer after 1 ms, and every action at that limit answered 500.
    await expect(withDeadline(after(20), MAX_TIMER_MS + 0.25, () => new Error('late'))).resolves.toBe('done');
  });
});
