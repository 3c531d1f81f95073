import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS, withDeadline } from './deadline.js';

const after = (ms: number) => new Promise<string>((resolve) => setTimeout(() => resolve('done'), ms));

/** Holds the event loop (no timer can run) until `ms` have passed: a work slower than its deadline, by construction. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

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

describe('withDeadline given a function (armed, then run)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a work that holds the event loop past the deadline, then answers, rejects with the deadline error', async () => {
    // The answer is a promise already resolved when the work returns: its reaction runs before any
    // timer could, so only a deadline counted from the call's start (armed before the work ran) sees it late.
    const late = withDeadline(
      () => {
        block(30);
        return Promise.resolve('done');
      },
      10,
      (ms) => new Error(`late after ${ms}`),
    );
    await expect(late).rejects.toThrow('late after 10');
    // Failing late is still failing for its own reason: the caller learns why.
    const failed = withDeadline(
      () => {
        block(30);
        return Promise.reject(new Error('refused'));
      },
      10,
      () => new Error('late'),
      (error) => new Error(`wrapped: ${(error as Error).message}`),
    );
    await expect(failed).rejects.toThrow('wrapped: refused');
  });

  it('a work that throws, or returns no promise (bugs), rejects with its own error, not through `rejection`, and leaves no timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const bug = new TypeError('bad argument');
    const rejection = vi.fn((error: unknown) => error);
    const thrown = withDeadline(
      () => {
        throw bug;
      },
      500,
      () => new Error('late'),
      rejection,
    );
    await expect(thrown).rejects.toBe(bug);
    await expect(withDeadline((() => 'A') as unknown as () => Promise<string>, 500, () => new Error('late'), rejection)).rejects.toBeInstanceOf(TypeError);
    expect(rejection).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('clears its timer when the work settles, either way; after the deadline a late answer is not looked at', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const timeoutError = vi.fn((ms: number) => new Error(`late after ${ms}`));
    const rejection = vi.fn((error: unknown) => error);
    await expect(withDeadline(() => Promise.resolve('done'), 500, timeoutError, rejection)).resolves.toBe('done');
    expect(vi.getTimerCount()).toBe(0);
    await expect(withDeadline(() => Promise.reject(new Error('refused')), 500, timeoutError, rejection)).rejects.toThrow('refused');
    expect(vi.getTimerCount()).toBe(0);
    expect(rejection).toHaveBeenCalledTimes(1);

    let answer: (value: string) => void = () => undefined;
    let fail: (error: Error) => void = () => undefined;
    const started = vi.fn(() => new Promise<string>((resolve) => (answer = resolve)));
    const hung = withDeadline(started, 500, timeoutError, rejection);
    const failing = withDeadline(() => new Promise<string>((_, reject) => (fail = reject)), 500, timeoutError, rejection);
    hung.catch(() => undefined);
    failing.catch(() => undefined);
    // Called at once, by the deadline itself: the work starts after the timer is armed.
    expect(started).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(2);
    await vi.advanceTimersByTimeAsync(499);
    expect(timeoutError).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await expect(hung).rejects.toThrow('late after 500');
    await expect(failing).rejects.toThrow('late after 500');
    answer('done');
    fail(new Error('refused'));
    await vi.advanceTimersByTimeAsync(0);
    // One deadline error each, and the late answers made no second one (nor went through `rejection`).
    expect(timeoutError).toHaveBeenCalledTimes(2);
    expect(rejection).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("withDeadline with late: 'keep'", () => {
  it('keeps an answer read past the deadline before its timer ran; a failure stays itself', async () => {
    const kept = withDeadline(
      () => {
        block(30);
        return Promise.resolve('done');
      },
      10,
      () => new Error('late'),
      undefined,
      'keep',
    );
    await expect(kept).resolves.toBe('done');
    const failed = withDeadline(
      () => {
        block(30);
        return Promise.reject(new Error('refused'));
      },
      10,
      () => new Error('late'),
      (error) => new Error(`wrapped: ${(error as Error).message}`),
      'keep',
    );
    await expect(failed).rejects.toThrow('wrapped: refused');
    // The timer still ends a work that does not answer, and its answer after that is not looked at.
    let answer: (value: string) => void = () => undefined;
    const hung = withDeadline(() => new Promise<string>((resolve) => (answer = resolve)), 10, (ms) => new Error(`late after ${ms}`), undefined, 'keep');
    await expect(hung).rejects.toThrow('late after 10');
    answer('done');
    await expect(hung).rejects.toThrow('late after 10');
  });
});
