/**
 * Traffic for the fault tests: 200 workers calling every kind of store method in a loop, each
 * call's outcome and duration recorded, and the checks every fault test makes on them.
 */
import { expect } from 'vitest';
import { StoreUnavailableError } from '../../src/core/errors.js';
import type { Store } from '../../src/store/types.js';
import { waitUntil } from '../helpers/wait-until.js';
import { sleep } from './server.js';

export const TIMEOUT_MS = 500;
export const WORKERS = 200;

/**
 * A watchdog armed right after each call, for exactly the call's deadline: an order, not a stopwatch.
 * The store arms its deadline timer (the same delay) when the call starts; Node keeps the timers of
 * one delay in one list and runs it in the order they were armed, draining promise reactions between
 * two of them, so the watchdog fires after the call's deadline has settled it, however late the busy
 * event loop runs them. A call bounded by anything else (a second timer armed later, a wait for a
 * reconnection, a longer deadline) has not settled when its watchdog fires.
 * Slack did not make a watchdog of another delay safe: with 200 calls timing out together the loop
 * ran 6 to 30 ms late, and Node then ran a +5 ms watchdog's list before the deadline's (calls settled
 * at 506 to 534 ms, about one run in three, with one timer per call armed before the watchdog). A
 * plain-Node loop of 200 workers (a 500 ms timer, then a 505 ms one, each) shows it too (9 to 238
 * of ~1 200 overran in 3 of 5 runs); with both at 500 ms none did.
 */
const WATCHDOG_MS = TIMEOUT_MS;

export interface Outcome {
  ok: boolean;
  ms: number;
  /**
   * Settled before the event loop's next turn: refused (or answered) at once, without waiting for a
   * socket, a reconnection or a deadline — an order, not a duration, so it does not depend on how
   * busy the machine is.
   */
  atOnce: boolean;
  /** Settled before its watchdog fired (`WATCHDOG_MS`): by its own deadline. */
  inDeadline: boolean;
  error?: unknown;
  /** performance.now() when the call started. */
  at: number;
  /** The worker, whose keys all carry the hash tag `{w<worker>}`. */
  w: number;
}

/** 200 workers calling every kind of store method in a loop until stopped. */
export function traffic(store: Store) {
  const outcomes: Outcome[] = [];
  let running = true;
  let started = 0;
  const policy = { algorithm: 'gcra' as const, limit: 1_000_000, windowMs: 1_000 };
  const calls: ((w: number, n: number) => Promise<unknown>)[] = [
    (w) => store.get(`lc:{w${w}}:a`),
    (w, n) => store.set(`lc:{w${w}}:a`, `v${n}`, 60_000),
    (w, n) => store.claim(`lc:{w${w}}:c${n}`, 'x', 60_000),
    (w) => store.rateLimit(`lc:{w${w}}:rl`, policy, Date.now()),
    (w) => store.getMany([`lc:{w${w}}:a`, `lc:{w${w}}:b`]),
    (w, n) => store.deleteIfEquals(`lc:{w${w}}:a`, `v${n}`),
    (w, n) =>
      store.batch([
        { op: 'rateLimit', key: `lc:{w${w}}:rl`, policy, nowMs: Date.now() },
        { op: 'set', key: `lc:{w${w}}:b`, value: `v${n}`, ttlMs: 60_000 },
        { op: 'get', key: `lc:{w${w}}:a` },
      ]),
  ];
  async function worker(w: number): Promise<void> {
    for (let n = 0; running; n++) {
      const call = calls[(w + n) % calls.length] as (w: number, n: number) => Promise<unknown>;
      started++;
      outcomes.push(await watched(() => call(w, n), w));
      await sleep(2);
    }
  }
  const done = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  return {
    outcomes,
    get started() {
      return started;
    },
    async stop() {
      running = false;
      await done;
    },
  };
}

/**
 * Starts `call` and arms its watchdog (`WATCHDOG_MS`) right after it, in the same turn of the event
 * loop; resolves with its outcome once it has settled. `w`: the worker, for the traffic's outcomes.
 */
export async function watched(call: () => Promise<unknown>, w = 0): Promise<Outcome> {
  const at = performance.now();
  let settled = false;
  const result = call();
  void result.then(
    () => (settled = true),
    () => (settled = true),
  );
  let overran = false;
  const watchdog = setTimeout(() => (overran = !settled), WATCHDOG_MS);
  await new Promise((resolve) => setImmediate(resolve));
  const atOnce = settled;
  try {
    await result;
    return { ok: true, ms: performance.now() - at, atOnce, inDeadline: !overran, at, w };
  } catch (error) {
    return { ok: false, ms: performance.now() - at, atOnce, inDeadline: !overran, error, at, w };
  } finally {
    clearTimeout(watchdog);
  }
}

/**
 * Polls `health()` until it resolves; returns how long that took. No give-up of its own: a store
 * that does not come back fails the test by its timeout; how soon it did is reported, not asserted
 * (shared, noisy machines).
 */
export async function recoveryTime(store: Store): Promise<number> {
  const since = performance.now();
  let last = '';
  await waitUntil(
    'the store to answer health() again',
    () => store.health().then(() => true, (error: Error) => ((last = error.message), false)),
    { every: 50, seen: () => last },
  );
  return performance.now() - since;
}

/**
 * The longest call of `outcomes` (0 for none). A loop, not `Math.max(...)`: a failover can leave
 * hundreds of thousands of fast failures, past the engine's argument limit (a RangeError in CI).
 */
export function slowestOf(outcomes: readonly Outcome[]): number {
  let slowest = 0;
  for (const o of outcomes) if (o.ms > slowest) slowest = o.ms;
  return slowest;
}

/**
 * Every call settled within its deadline (before its watchdog fired: an order, not a duration, so
 * not flaky on a shared, noisy machine), and every failure was a 503-style error.
 */
export function expectOnlyFastUnavailable(outcomes: Outcome[]): void {
  const failures = outcomes.filter((o) => !o.ok);
  const wrong = failures.filter((o) => !(o.error instanceof StoreUnavailableError));
  expect(wrong.map((o) => String(o.error))).toEqual([]);
  const overran = outcomes.filter((o) => !o.inDeadline);
  expect(overran.map((o) => `${o.ok ? 'ok' : String(o.error)} after ${Math.round(o.ms)} ms`)).toEqual([]);
}
