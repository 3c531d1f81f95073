/**
 * Polling without a clock of its own. A wait that gives up after a fixed real time (a loop with a
 * `Date.now()` deadline, N tries of a sleep) fails spuriously on a loaded machine, where the awaited
 * thing is only late. Here the test's (or hook's) timeout is the one limit, and a wait that runs
 * into it says what it waited for:
 *
 * - in a test (or its beforeEach), the test's error gets `still waiting for <what>; last seen: …`
 *   appended, and the polling stops when the test ends (the rest of the file is not slowed by it);
 * - in a beforeAll, which vitest gives no failure hook, a line on stderr after 5 s and at each
 *   doubling names the wait, so the hook's "timed out" stands next to what it timed out on.
 *
 * Prefer an event where there is one (a child's stdout line, 'exit', 'listening', ioredis 'ready'):
 * this is for state only a query can tell.
 */
import { onTestFailed, onTestFinished } from 'vitest';

export interface WaitOptions {
  /** The longest pause between two checks, in ms (the first is 5 ms, doubling up to this). @default 100 */
  every?: number;
  /** What to report of the state while waiting; by default the last value `check` returned. */
  seen?: () => unknown;
}

/** A check's "not yet": `undefined`, `null` or `false`. Anything else ends the wait and is returned. */
type NotYet = undefined | null | false;

const FIRST_NOTE_MS = 5_000;
// The real clock and timer, taken when test files import this (before any vi.useFakeTimers): a wait
// in a test with fake timers still polls in real time, as the awaited work (I/O) runs in real time.
const realSetTimeout = globalThis.setTimeout;
const now = performance.now.bind(performance);

/**
 * Polls `check` until it returns something other than `undefined`, `null` or `false`, and resolves
 * with that. `what` completes "still waiting for …", e.g. `'redis-server on port 6380 to answer PING'`.
 * A throw from `check` ends the wait with that error: catch in `check` what only means "not yet".
 */
export async function waitUntil<T>(what: string, check: () => T | NotYet | Promise<T | NotYet>, options: WaitOptions = {}): Promise<T> {
  const every = options.every ?? 100;
  let last: unknown = 'nothing yet (no check has returned)';
  const seen = () => describe(options.seen ? options.seen() : last);
  let pending = true;
  let stopped = false;
  inTest(() => {
    onTestFinished(() => {
      stopped = true;
    });
    onTestFailed(({ task }) => {
      if (!pending) return;
      for (const error of task.result?.errors ?? []) error.message += `\n(still waiting for ${what}; last seen: ${seen()})`;
    });
  });
  const since = now();
  let nextNote = FIRST_NOTE_MS;
  for (let pause = 5; ; pause = Math.min(pause * 2, every)) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) {
      pending = false;
      return value;
    }
    last = value;
    const waited = now() - since;
    if (waited >= nextNote) {
      console.warn(`[waitUntil] still waiting for ${what} after ${Math.round(waited / 1000)} s; last seen: ${seen()}`);
      nextNote *= 2;
    }
    await new Promise<void>((resolve) => realSetTimeout(resolve, pause).unref());
    // The test is over (failed by its timeout): leave this promise pending, nobody awaits it.
    if (stopped) return new Promise<T>(() => {});
  }
}

/** Runs `register` when called inside a test or its beforeEach; a beforeAll has no test to hook. */
function inTest(register: () => void): void {
  try {
    register();
  } catch {
    // "can only be called inside a test": the stderr notes are what a beforeAll gets.
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 2_000 ? `${value.slice(0, 1_000)} … ${value.slice(-1_000)}` : value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
