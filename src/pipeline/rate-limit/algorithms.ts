/**
 * Rate-limit algorithms as pure functions: state in, decision and new state out. Every backend that
 * runs JavaScript (memory, SQLite) calls these inside its own atomic section; the Redis backend
 * ports them to Lua with the same arithmetic. Nothing here reads a clock: `nowMs` is a parameter.
 *
 * Both algorithms admit at most `limit` requests at once and never charge refused requests.
 *
 * Time going backwards (a clock step, or processes whose clocks disagree sharing one store) clamps
 * the stored state to what a correct clock could have left behind at `nowMs`: a GCRA TAT to at most
 * `now + depth` (an empty bucket), sliding-window entries to at most `nowMs`. Keeping the state as it
 * was would read the step as debt and lock the client out for the size of the step (a 1 h step back:
 * refused for 1 h). Clamped, the step back itself buys no fresh budget: the state reads as the
 * most conservative one a correct clock allows (every request counted as made just now), so nothing
 * extra is admitted, and the wait is at most one window (GCRA: one interval for the next request).
 * With a correct clock the clamp never changes anything. That holds while the clock stays where it
 * stepped to. A step back that is later undone (NTP correcting a bad step) is the case one number
 * cannot cover: a step behind the clock has to store the clamped state in its own time, refusals
 * included (kept as it was, the state reads as "empty" again at every step and the client is locked
 * out for the size of the step), and the corrected clock reads that state as long past: a full
 * budget, at most `limit` more than a correct clock admits, once per correction (the tests "a clock
 * stepped back, then corrected" pin it). Two clocks far apart on one store are that case over and
 * over: the late one stores the clamped state, which the early one reads as long past. One clock
 * per store is the rule: Redis's own by default (`rateLimitClock`), one host's for SQLite and
 * memory; docs/scaling.md says what `'caller'` needs.
 */
import { checkRateLimitNumbers } from '../../store/checks.js';
import type { RateLimitDecision, RateLimitPolicy } from '../../store/types.js';

/** One step of an algorithm: the decision, the state to store and how long it matters. */
export interface RateLimitStep<S> {
  decision: RateLimitDecision;
  /** State to store for the next step. */
  state: S;
  /** Milliseconds after which the state is no longer needed (it would read as a full budget). */
  ttlMs: number;
}

/**
 * GCRA arithmetic runs on multiples of 2^-10 ms (`1 / TICKS_PER_MS`). Sums of such numbers are exact in IEEE
 * doubles (JavaScript and Lua numbers alike) while below 2^43 ms (the year 2248), so long bursts
 * and refills never drift by rounding. The emission interval is rounded down to the grid; the
 * bucket depth is `limit` whole intervals, which differs from `windowMs` by under `limit` µs.
 */
const TICKS_PER_MS = 1024;

function onGrid(ms: number): number {
  return Math.round(ms * TICKS_PER_MS) / TICKS_PER_MS;
}


/**
 * What a GCRA step and a peek both start from: the emission interval, the bucket depth, `nowMs` and
 * the stored TAT on the grid, the TAT clamped to `now + depth` — an admitted step never leaves one
 * above it, so one above it is a clock that went back. Both sides are on the grid, so the clamp is
 * exact (and the Lua port makes the same comparison).
 */
function gcraAt(tat: number | null, policy: RateLimitPolicy, nowMs: number) {
  checkRateLimitNumbers(policy, nowMs);
  const { limit } = policy;
  const interval = Math.max(1, Math.floor((policy.windowMs * TICKS_PER_MS) / limit)) / TICKS_PER_MS;
  const depth = interval * limit;
  const now = onGrid(nowMs);
  const ceiling = now + depth;
  const held = tat !== null && Number.isFinite(tat) ? onGrid(tat) : now;
  return { limit, interval, depth, now, stored: held > ceiling ? ceiling : held };
}

/**
 * GCRA (generic cell rate algorithm): a token bucket of `limit` tokens refilled one per emission
 * interval `windowMs / limit`, with one number of state, the theoretical arrival time (TAT).
 *
 * @param tat - the stored TAT, or `null` when there is none (a full bucket)
 * @returns the decision and the TAT to store (unchanged when refused: refusals cost nothing)
 * @example
 * // limit 5 per 300 s: five admitted at once, the sixth waits one interval (60 s)
 * gcraStep(null, { algorithm: 'gcra', limit: 5, windowMs: 300_000 }, now).decision.remaining; // 4
 */
export function gcraStep(tat: number | null, policy: RateLimitPolicy, nowMs: number): RateLimitStep<number> {
  const { limit, interval, depth, now, stored } = gcraAt(tat, policy, nowMs);
  const base = stored > now ? stored : now;
  const debt = base + interval - now;
  if (debt > depth) {
    // Refused: nothing is charged; one request fits once the debt has drained to `depth`.
    const resetMs = Math.ceil(base - now);
    const retryAfterMs = Math.max(1, Math.ceil(debt - depth));
    return {
      decision: { allowed: false, limit, remaining: 0, resetMs, retryAfterMs, nextMs: retryAfterMs },
      state: base,
      ttlMs: resetMs,
    };
  }
  const remaining = Math.floor((depth - debt) / interval);
  const resetMs = Math.ceil(debt);
  // One more fits once the debt has drained by what `remaining` leaves below the next whole interval.
  const nextMs = Math.ceil(debt - (limit - remaining - 1) * interval);
  return { decision: { allowed: true, limit, remaining, resetMs, retryAfterMs: 0, nextMs }, state: now + debt, ttlMs: resetMs };
}

/**
 * The GCRA budget at `nowMs` without a step (read-only: nothing to store). With the same `tat` and
 * `nowMs`, a `gcraStep` then admits with `remaining` one less and the same `nextMs` (0 here at a full
 * budget: nothing more can come), or refuses with exactly these numbers; right after a step at
 * `nowMs` this shows that step's `remaining`, `resetMs` and `nextMs`.
 *
 * @param tat - the stored TAT, or `null` when there is none (a full bucket)
 * @example
 * // limit 5 per 300 s, nothing stored: the whole budget
 * gcraPeek(null, { algorithm: 'gcra', limit: 5, windowMs: 300_000 }, now).remaining; // 5
 */
export function gcraPeek(tat: number | null, policy: RateLimitPolicy, nowMs: number): RateLimitDecision {
  const { limit, interval, depth, now, stored } = gcraAt(tat, policy, nowMs);
  // The debt without a new request, 0 to `depth` (both on the grid, so exact).
  const debt = stored > now ? stored - now : 0;
  if (debt === 0) return { allowed: true, limit, remaining: limit, resetMs: 0, retryAfterMs: 0, nextMs: 0 };
  const remaining = Math.floor((depth - debt) / interval);
  const resetMs = Math.ceil(debt);
  if (remaining === 0) {
    // The next step is refused: its numbers (`debt + interval - depth` until one fits).
    const retryAfterMs = Math.max(1, Math.ceil(debt + interval - depth));
    return { allowed: false, limit, remaining: 0, resetMs, retryAfterMs, nextMs: retryAfterMs };
  }
  return { allowed: true, limit, remaining, resetMs, retryAfterMs: 0, nextMs: Math.ceil(debt - (limit - remaining - 1) * interval) };
}

/**
 * The entries of a sliding-window log still inside the window at `nowMs`, ascending; an entry ahead
 * of `nowMs` (time went backwards) counts as made now (`min(t, nowMs)`, which keeps the list sorted).
 */
function liveEntries(timestamps: readonly number[] | null, policy: RateLimitPolicy, nowMs: number): number[] {
  checkRateLimitNumbers(policy, nowMs);
  const log = timestamps ?? [];
  const cutoff = nowMs - policy.windowMs;
  let first = 0;
  while (first < log.length && !((log[first] as number) > cutoff)) first++;
  const live: number[] = [];
  for (let i = first; i < log.length; i++) {
    const t = log[i] as number;
    live.push(t > nowMs ? nowMs : t);
  }
  return live;
}

/**
 * Exact sliding window log: never more than `limit` admitted in any trailing `windowMs`. The state
 * is the sorted list of admission times still inside the window (at most `limit` of them), so a
 * step costs O(limit); prefer GCRA for large limits.
 *
 * A request admitted at `t` leaves the window at `t + windowMs`. When time goes backwards, stored
 * entries later than `nowMs` count as made at `nowMs` (`min(t, nowMs)`, which keeps the list sorted):
 * they stay in the window one more window from now, not the size of the step on top of it.
 *
 * @param timestamps - stored admission times, ascending, or `null` when there are none
 * @example
 * // limit 5 per 300 s: five at t0, then refused until t0 + 300 s
 * slidingWindowStep(log, { algorithm: 'sliding-window', limit: 5, windowMs: 300_000 }, t0 + 1).decision.retryAfterMs;
 */
export function slidingWindowStep(
  timestamps: readonly number[] | null,
  policy: RateLimitPolicy,
  nowMs: number,
): RateLimitStep<number[]> {
  const { limit, windowMs } = policy;
  const live = liveEntries(timestamps, policy, nowMs);
  const count = live.length;
  if (count >= limit) {
    // `count - limit + 1` entries must leave before one more fits; the last of them is this one.
    const blocking = live[count - limit] as number;
    const resetMs = Math.ceil((live[count - 1] as number) + windowMs - nowMs);
    const retryAfterMs = Math.max(1, Math.ceil(blocking + windowMs - nowMs));
    return {
      decision: { allowed: false, limit, remaining: 0, resetMs, retryAfterMs, nextMs: retryAfterMs },
      state: live,
      ttlMs: resetMs,
    };
  }
  // Every live entry is at or before `nowMs`, so the new one keeps the list sorted. `resetMs` is
  // worked out as for any entry (`t + windowMs - nowMs`), rounding included, as `nextMs` is.
  const at = nowMs;
  live.push(at);
  const resetMs = Math.ceil(at + windowMs - nowMs);
  // One more fits when the oldest admission in the window leaves it.
  const nextMs = Math.max(1, Math.ceil((live[0] as number) + windowMs - nowMs));
  return {
    decision: { allowed: true, limit, remaining: limit - count - 1, resetMs, retryAfterMs: 0, nextMs },
    state: live,
    ttlMs: resetMs,
  };
}

/**
 * The sliding-window budget at `nowMs` without a step (read-only), with the clamp of
 * `slidingWindowStep` (entries after `nowMs` count as made at `nowMs`). As for `gcraPeek`: a step
 * at `nowMs` then admits with `remaining` one less and the same `nextMs` (0 here at a full budget),
 * or refuses with exactly these numbers; right after a step at `nowMs` this shows that step's
 * `remaining`, `resetMs` and `nextMs`.
 *
 * @param timestamps - stored admission times, ascending, or `null` when there are none
 */
export function slidingWindowPeek(timestamps: readonly number[] | null, policy: RateLimitPolicy, nowMs: number): RateLimitDecision {
  const { limit, windowMs } = policy;
  const live = liveEntries(timestamps, policy, nowMs);
  const count = live.length;
  if (count === 0) return { allowed: true, limit, remaining: limit, resetMs: 0, retryAfterMs: 0, nextMs: 0 };
  const at = (i: number): number => live[i] as number;
  const resetMs = Math.ceil(at(count - 1) + windowMs - nowMs);
  if (count >= limit) {
    const retryAfterMs = Math.max(1, Math.ceil(at(count - limit) + windowMs - nowMs));
    return { allowed: false, limit, remaining: 0, resetMs, retryAfterMs, nextMs: retryAfterMs };
  }
  const nextMs = Math.max(1, Math.ceil(at(0) + windowMs - nowMs));
  return { allowed: true, limit, remaining: limit - count, resetMs, retryAfterMs: 0, nextMs };
}

/**
 * GCRA state as stored: `g:` and the TAT as a decimal number, as `String(number)` writes it here and
 * Lua's `%.17g` in the Redis script (`src/store/redis/lua/gcra.ts`, which reads the same pattern).
 * Stricter than `Number`, which would also take hex, binary, padding or an empty string (as 0).
 */
const GCRA_STATE = /^g:-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?$/;

/**
 * One step on serialized state, for backends that store strings: `g:<tat>` for GCRA and
 * `w:<t1>,<t2>,…` for the sliding window. State of the other algorithm (the action's option
 * changed) or unreadable state counts as none.
 *
 * @returns `state` to store with `ttlMs`
 */
export function rateLimitStep(stored: string | null, policy: RateLimitPolicy, nowMs: number): RateLimitStep<string> {
  if (policy.algorithm === 'gcra') {
    const step = gcraStep(parseTat(stored), policy, nowMs);
    return { decision: step.decision, state: `g:${step.state}`, ttlMs: step.ttlMs };
  }
  if (policy.algorithm !== 'sliding-window') throw new TypeError('Rate limit: unknown algorithm');
  const step = slidingWindowStep(parseLog(stored), policy, nowMs);
  return { decision: step.decision, state: `w:${step.state.join(',')}`, ttlMs: step.ttlMs };
}

/**
 * `rateLimitStep` without the step: the budget on serialized state as it stands at `nowMs`
 * (`gcraPeek`, `slidingWindowPeek`), for the read-only `rateLimitPeek` store op. State is read
 * exactly as `rateLimitStep` reads it.
 */
export function rateLimitPeek(stored: string | null, policy: RateLimitPolicy, nowMs: number): RateLimitDecision {
  if (policy.algorithm === 'gcra') return gcraPeek(parseTat(stored), policy, nowMs);
  if (policy.algorithm !== 'sliding-window') throw new TypeError('Rate limit: unknown algorithm');
  return slidingWindowPeek(parseLog(stored), policy, nowMs);
}

function parseTat(stored: string | null): number | null {
  const parsed = stored !== null && GCRA_STATE.test(stored) ? Number(stored.slice(2)) : NaN;
  return Number.isFinite(parsed) ? parsed : null;
}

function parseLog(stored: string | null): number[] | null {
  if (stored === null || !stored.startsWith('w:') || stored.length === 2) return null;
  const log = stored.slice(2).split(',').map(Number);
  for (let i = 0; i < log.length; i++) {
    const t = log[i] as number;
    if (!Number.isFinite(t) || (i > 0 && t < (log[i - 1] as number))) return null;
  }
  return log;
}
