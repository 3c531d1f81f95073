/**
 * Observer hooks an app passes (`onSecretFallback`, `onPreviousToken`, a security logger's `onEvent`,
 * the runtime's `onActionDone`…) only watch a request: their failure must never become the request's
 * answer. Each is wrapped once, at start-up, by `guardObserver`: a throw, or a returned promise that
 * rejects, is caught and reported — the first at once, then at most one report a minute per hook,
 * telling how many failed since the last one, so a hook broken under load writes one line a minute,
 * not one per request — and the request goes on as it would have without the hook.
 */
import { type Clock, systemClock } from '../core/clock.js';
import { isThenable } from '../core/thenable.js';

/** Least time between two reports of one hook's failures, in ms. */
export const OBSERVER_REPORT_INTERVAL_MS = 60_000;

/** Where a hook's failure goes: `message` names the hook and the count; `error` is the last failure. */
export type ObserverFailureReport = (message: string, error: unknown) => void;

export interface ObserverGuardOptions {
  /** @default console.error */
  report?: ObserverFailureReport | undefined;
  /** @default systemClock */
  clock?: Clock | undefined;
}

const consoleReport: ObserverFailureReport = (message, error) => console.error(message, error);

/**
 * `hook`, made safe to call on a request's path: it never throws and never leaves a rejection
 * unhandled. `name` is the option's name, for the report. Bound once; a call costs a try and a type
 * check of the hook's result (a `then` looked up only on an object or function).
 * @example const onFallback = guardObserver('onSecretFallback', options.onSecretFallback, { report: (m, e) => logger.error({ err: e }, m) });
 */
export function guardObserver<A extends [] | [unknown] | [unknown, unknown]>(name: string, hook: (...args: A) => unknown, options: ObserverGuardOptions = {}): (...args: A) => void {
  // Two arguments at most, passed on as they are (no rest array built per call).
  const call = hook as (first?: unknown, second?: unknown) => unknown;
  const report = options.report ?? consoleReport;
  const clock = options.clock ?? systemClock;
  let unreported = 0;
  let quietUntil = -Infinity;
  const failed = (error: unknown): void => {
    unreported++;
    const now = clock.now();
    // Quiet for a minute after a report — not for as long as a clock set back takes to catch up.
    if (now < quietUntil && now >= quietUntil - OBSERVER_REPORT_INTERVAL_MS) return;
    quietUntil = now + OBSERVER_REPORT_INTERVAL_MS;
    const times = unreported === 1 ? 'once' : `${unreported} times`;
    unreported = 0;
    try {
      report(`livecomponents: the ${name} hook failed ${times} since its last report; what it observed went on without it (reported at most once a minute)`, error);
    } catch {
      // The report itself failed: nothing better to tell it to.
    }
  };
  const guarded = (first?: unknown, second?: unknown): void => {
    try {
      const result = call(first, second);
      // Any thenable (another realm's promise, a promise library's), not only this realm's Promise.
      if (isThenable(result)) result.then(undefined, failed);
    } catch (error) {
      failed(error);
    }
  };
  return guarded as (...args: A) => void;
}

/** `hook` guarded (`guardObserver`), or `undefined` when there is none. */
export function guardOptionalObserver<A extends [] | [unknown] | [unknown, unknown]>(
  name: string,
  hook: ((...args: A) => unknown) | undefined,
  options?: ObserverGuardOptions,
): ((...args: A) => void) | undefined {
  return hook === undefined ? undefined : guardObserver(name, hook, options);
}
