/**
 * One deadline for a piece of work, used wherever a call must not hang its caller: a Redis call past
 * the store's deadline, an action past `actionTimeoutMs`, a health check past its timeout, a doctor
 * probe, a clock reading. The work is not stopped (a promise cannot be), only no longer waited for.
 */

/**
 * The longest delay Node's `setTimeout`/`setInterval` honour: 2^31 − 1 ms (about 24.8 days). A
 * longer one is not refused: Node warns (TimeoutOverflowWarning) and fires after 1 ms, so a
 * deadline would pass at once and a periodic timer would run in a busy loop. Every option that
 * becomes a timer's delay is checked against it at start-up, by `checkTimerDelay` below.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** How error messages state `MAX_TIMER_MS`, and why. */
export const MAX_TIMER_TEXT = `${MAX_TIMER_MS} ms (about 24.8 days, the longest a Node.js timer can wait)`;

/** What an option that becomes a timer's delay may be, besides a number of ms from 1 to `MAX_TIMER_MS`. */
export interface TimerDelayBounds {
  /**
   * A lower ceiling, for an option that a timer waits several times of, or longer than (e.g. the Redis
   * socket timeout, four command timeouts). Never above `MAX_TIMER_MS`. @default MAX_TIMER_MS
   */
  readonly max?: number;
  /** 0 is taken too, where it means "no timer" or "at once". @default false */
  readonly zero?: boolean;
  /** Only whole numbers of ms. @default false */
  readonly integer?: boolean;
}

/**
 * Why `value` cannot be a timer's delay, or `undefined` when it can: a finite number of ms from 1 to
 * `bounds.max` (`MAX_TIMER_MS`), or 0 with `bounds.zero`. Node gives a delay outside 1 to 2^31 − 1
 * ms 1 ms instead: past the top a deadline passed at once and an interval ran in a busy loop, and
 * a fraction below 1 did the same for `sweepIntervalMs: 0.5` (a sweep every millisecond). The text
 * follows the option's name: `${where}: ${name} ${problem}`.
 */
export function timerDelayProblem(value: unknown, bounds: TimerDelayBounds = {}): string | undefined {
  const max = Math.min(bounds.max ?? MAX_TIMER_MS, MAX_TIMER_MS);
  const zero = bounds.zero === true;
  const integer = bounds.integer === true;
  const got = `(got ${typeof value === 'string' ? JSON.stringify(value) : String(value)})`;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (value === 0 && !zero) || (integer && !Number.isInteger(value))) {
    return `must be ${zero ? '0 or ' : ''}a positive ${integer ? 'whole ' : ''}number of milliseconds ${got}`;
  }
  if (value > 0 && value < 1) return `must be ${zero ? '0 or ' : ''}at least 1 millisecond, the shortest a Node.js timer waits ${got}`;
  if (value > max) return `must be at most ${max === MAX_TIMER_MS ? MAX_TIMER_TEXT : `${max} ms`} ${got}`;
  return undefined;
}

/**
 * `value` when it can be a timer's delay (`timerDelayProblem`), else throws `error(problem)`: each
 * option keeps its own error type, code and wording.
 * @example checkTimerDelay(ms, { zero: true }, (problem) => new TypeError(`Store: sweepIntervalMs ${problem}`))
 */
export function checkTimerDelay(value: unknown, bounds: TimerDelayBounds, error: (problem: string) => Error): number {
  const problem = timerDelayProblem(value, bounds);
  if (problem !== undefined) throw error(problem);
  return value as number;
}

/**
 * Runs `run` and settles like the promise it returns, or rejects with `timeoutError(ms)` once `ms`
 * pass; a rejection of that promise first goes through `rejection` (e.g. to wrap it). Whatever the
 * work does after the deadline is ignored.
 *
 * The timer is armed BEFORE `run` is called, so the deadline counts from the call's start, the work's
 * own synchronous part included (building and writing a command, a check that computes before it
 * awaits). A promise taken after the work had started armed its timer late, and the work's time
 * could overrun the deadline by that part. And a result that comes once `ms` have passed (a work that
 * held the event loop past its deadline, then answered; a reply read in the same turn of the loop as
 * the deadline, before the timers ran) rejects with the deadline's error too: a call never succeeds
 * past its deadline. (A failure that comes late is still that failure: the caller learns why.)
 *
 * `run` throwing, or returning no promise (a `TypeError`), is the caller's bug: the call rejects with
 * that error itself (not through `rejection`), and no timer is left behind.
 *
 * `run` may also be a promise already started, for work the deadline cannot call: an action's step,
 * called first to learn whether it is async at all (`pipeline/execute/deadline.ts`), and the demo's
 * `app.close()` on a failed start. Prefer a function: this form's timer is armed only after the
 * work's synchronous part has run.
 *
 * `late: 'keep'` drops the late-answer rule (the second paragraph): an answer in hand before the timer ran is the call's, however
 * late it was read. For a work whose success must not be lost (a Redis write that Redis ran and
 * answered: failing it answered 503 over a stored state, and sent an idempotency record to the
 * unknown-outcome path; `store/redis/calls.ts`), and for a reading whose slowness is reported, not
 * failed (a health check: a slow answer is `warn`, while "timed out" turned /health/ready 503 under an
 * event-loop stall, and named a check that had answered at once). The timer alone ends the wait then,
 * and the clock is not read.
 *
 * The hot path (every Redis call): one promise, one timer, no per-call option objects (and, with
 * `late: 'reject'`, one clock read at each end). The factories are called only when needed, so
 * callers can pass module-level functions.
 */
export function withDeadline<T>(
  run: (() => PromiseLike<T>) | PromiseLike<T>,
  ms: number,
  timeoutError: (ms: number) => Error,
  rejection?: (error: unknown) => unknown,
  late: LateAnswer = 'reject',
): Promise<T> {
  // One closure scope for the whole call (the executor only hands out resolve and reject): measured
  // ~870 bytes a call with a scope in the executor and another for the reactions, ~770 with one.
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const settled = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Read before the timer is armed: the timer's own clock (the event loop's, read at the start of
  // its turn) is no later, so by this reading the deadline never passes before the timer's does.
  // `PAST` once the timer has settled the call: a late answer is then not looked at. `KEPT` when a
  // late answer counts (`late: 'keep'`): no clock read at either end.
  let due = late === 'keep' ? KEPT : performance.now() + ms;
  // Capped: a budget's remainder (`deadline - now`, in floating point) can come out a fraction
  // above an `actionTimeoutMs` of exactly MAX_TIMER_MS, and Node would fire that timer after 1 ms.
  const timer = setTimeout(() => {
    due = PAST;
    reject(timeoutError(ms));
  }, Math.min(ms, MAX_TIMER_MS));
  try {
    (typeof run === 'function' ? run() : run).then(
      (value) => {
        if (due === PAST) return;
        clearTimeout(timer);
        if (due !== KEPT && performance.now() >= due) reject(timeoutError(ms));
        else resolve(value);
      },
      (error: unknown) => {
        if (due === PAST) return;
        clearTimeout(timer);
        reject(rejection === undefined ? error : rejection(error));
      },
    );
  } catch (error) {
    // A bug of the caller's: its own error, and no timer left to hold the process or fire later.
    clearTimeout(timer);
    reject(error);
  }
  return settled;
}

/**
 * What `withDeadline` does with a successful answer read once its `ms` have passed, before its timer
 * ran: `reject` it with the deadline's error (the call never succeeds past its deadline), or `keep` it
 * (only the timer ends the wait).
 */
export type LateAnswer = 'reject' | 'keep';

/** `due` in `withDeadline` once its timer fired: no real deadline (`performance.now()` + ms) is negative. */
const PAST = -1;
/** `due` in `withDeadline` when a late answer is kept: never reached. */
const KEPT = Number.POSITIVE_INFINITY;
