/**
 * Load shedding: the requests that waited through a stall of the event loop past the bound, and,
 * while stalls follow each other (every request queued behind the ones before it), every new request,
 * are answered 503 `SERVICE_UNAVAILABLE` with `Retry-After` at once, before routing, instead of
 * waiting seconds each; once a one-off stall is over, requests are served (`createLoadMonitor`). A 503 costs a fraction of a served request, so a loop fed by
 * traffic that arrives on its own (users, who do not all resend at once) catches up; the health and
 * metrics endpoints are always served (see `isExemptFromShedding`). What it cannot do: answer a
 * connection still waiting in the kernel's accept queue, nor slow down clients that resend at once
 * whatever the answer. Under 2000 such connections (a load generator on the same 2 cores) liveness
 * probes timed out with or without it; the proxy's per-instance connection bound and the liveness
 * probe's tolerance (deploy/kubernetes: 5 s, 6 failures) are what keep a busy pod from a restart.
 *
 * Not `@fastify/under-pressure`: it is a Fastify plugin (an `onRequest` hook the app registers),
 * while this runs in `serverOptions()`'s Node request handler — on for every app built with it,
 * before Fastify builds its request and reply, which keeps a shed request as cheap as can be.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERROR_CODES } from '../../core/errors.js';
import { HEADERS } from '../../core/wire.js';

/**
 * The default event-loop delay past which requests are shed: far above what a healthy server sees
 * (GC pauses, a big page render: tens of ms; password hashing runs off the loop), so a merely busy
 * server is never shed; and well under the liveness probe's timeout (deploy/kubernetes: 5 s).
 */
export const DEFAULT_MAX_EVENT_LOOP_DELAY_MS = 1000;

/** `Retry-After` of a shed request, whole seconds: a stuck loop catches up within about one sample. */
export const SHED_RETRY_AFTER_SECONDS = 1;

/**
 * How often the delay is judged: a tenth of the bound, from 10 to 100 ms. A stall shows as the
 * lateness of the first sample after it, which misses at most one interval of it (the part before the
 * sample was due), so a tenth keeps the bound's precision; 10 ms is `monitorEventLoopDelay`'s own
 * default resolution, and 100 ms (the default bound's tenth) is 10 cheap timer calls a second.
 */
export function sampleIntervalMs(maxDelayMs: number): number {
  return Math.min(100, Math.max(10, Math.round(maxDelayMs / 10)));
}

/**
 * Loop turns a late sample sheds the requests of (see `createLoadMonitor`): its own, and the next one,
 * which reads the connections its own accepted.
 */
const CATCH_UP_TURNS = 2;

/** One log line at most this often while shedding goes on and off. */
const LOG_INTERVAL_MS = 60_000;

/** The time and the scheduling a load monitor runs on: the process's own (`systemLoopClock`), or a test's. */
export interface LoopClock {
  now(): number;
  /** Calls `fn` once `ms` have passed, without keeping the process alive for it; returns its cancel. */
  setTimer(ms: number, fn: () => void): () => void;
  /**
   * Calls `fn` once the loop has read the I/O ready now (`setImmediate`: the check phase, right after
   * the poll phase that reads sockets); returns its cancel.
   */
  afterIo(fn: () => void): () => void;
}

export const systemLoopClock: LoopClock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    // Unref'd: sampling never keeps the process alive on its own.
    const timer = setTimeout(fn, ms).unref();
    return () => clearTimeout(timer);
  },
  afterIo(fn) {
    const immediate = setImmediate(fn).unref();
    return () => clearImmediate(immediate);
  },
};

export interface LoadMonitor {
  /** Starts sampling (the server listens). */
  start(): void;
  /** Stops sampling and forgets the state (the server closed). */
  stop(): void;
  /** Whether a request arriving now is to be shed. */
  overloaded(): boolean;
}

/**
 * Samples the event loop every `sampleIntervalMs(maxDelayMs)`: a sample that runs more than
 * `maxDelayMs` late comes right after a stall past the bound. Requests are shed
 * - while a sample is already that late and has not run yet (the loop is inside or right behind a
 *   stall: requests read before the timers run waited through it);
 * - in the loop turn of a late sample and the next, until their poll phases have read the sockets
 *   (`afterIo`): the first reads the requests sent during the stall on open connections and accepts
 *   the connections that waited in the accept queue, whose requests the second reads. Requests read
 *   in later turns came after the loop caught up: a stall that stays one of a kind (a big
 *   `JSON.parse`, a synchronous minify, a long GC, start-up work after `listen` — the first sample is
 *   judged like the others) sheds nothing more;
 * - from a late sample that follows a late sample until the next calm one: the lag persists (the loop
 *   stalled again before it ran calm for one interval), so every new request would queue behind the
 *   next stall too. It ends at the first calm sample, with no hysteresis: while shedding, a calm
 *   sample means the loop did catch up, and under a borderline load each new run of stalls is shed
 *   from its second.
 * Why two late samples in a row and not the delay of one: one sample cannot tell a stall that ended
 * from one that goes on, whatever it measures (a max, a mean or a percentile of the ticks since the
 * last sample: a 1.3 s stall fills a 100 ms window alone). Why not `monitorEventLoopDelay`'s max, as
 * before: its `reset()` drops the stall that begins before its next tick (measured on Node 20: a 1.2 s
 * stall right after `reset()` recorded as 10 ms), which under back-to-back 1.2 s turns is every stall,
 * so such lag was shed after the first sample only. Each request costs one `now()` call.
 * `onOverload` hears the lateness when a stall past the bound follows a calm sample, at most once a
 * minute (`LOG_INTERVAL_MS`).
 */
export function createLoadMonitor(maxDelayMs: number, onOverload: (delayMs: number) => void, clock: LoopClock = systemLoopClock): LoadMonitor {
  const intervalMs = sampleIntervalMs(maxDelayMs);
  let cancelSample: (() => void) | null = null;
  let cancelCatchUp: (() => void) | null = null;
  let due = Infinity;
  /** The last sample ran late past the bound. */
  let stalled = false;
  /** Two samples in a row did: shed until a calm one. */
  let lagPersists = false;
  /** Loop turns, from a late sample's, whose poll phase has not read the sockets yet. */
  let catchUpTurns = 0;
  let loggedAt = -Infinity;
  const endTurn = (): void => {
    catchUpTurns -= 1;
    cancelCatchUp = catchUpTurns > 0 ? clock.afterIo(endTurn) : null;
  };
  const schedule = (now: number): void => {
    due = now + intervalMs;
    cancelSample = clock.setTimer(intervalMs, sample);
  };
  const sample = (): void => {
    const now = clock.now();
    const lateMs = now - due;
    const wasStalled = stalled;
    stalled = lateMs > maxDelayMs;
    lagPersists = stalled && wasStalled;
    if (stalled) {
      cancelCatchUp ??= clock.afterIo(endTurn);
      catchUpTurns = CATCH_UP_TURNS;
      if (!wasStalled && now - loggedAt >= LOG_INTERVAL_MS) {
        loggedAt = now;
        onOverload(Math.round(lateMs));
      }
    }
    schedule(now);
  };
  return {
    start() {
      if (cancelSample !== null) return;
      schedule(clock.now());
    },
    stop() {
      cancelSample?.();
      cancelCatchUp?.();
      cancelSample = null;
      cancelCatchUp = null;
      due = Infinity;
      stalled = false;
      lagPersists = false;
      catchUpTurns = 0;
    },
    overloaded: () => lagPersists || catchUpTurns > 0 || clock.now() - due > maxDelayMs,
  };
}

/**
 * Paths never shed: the health endpoints (a probe that times out gets a busy pod restarted, the
 * very cascade shedding prevents) and `/metrics` (the shed counter must be readable while it counts).
 */
const EXEMPT_PATH_RE = /^\/(?:health|metrics)(?:[/?]|$)/;

export function isExemptFromShedding(url: string | undefined): boolean {
  return url !== undefined && EXEMPT_PATH_RE.test(url);
}

const SHED_CODE = 'SERVICE_UNAVAILABLE';

/**
 * Answers a shed request on Node's response object: 503 `SERVICE_UNAVAILABLE` in PROTOCOL §3's
 * shape, `Retry-After: 1`, `request_id` also as `X-Request-Id`. The connection stays open (opening
 * a new one would cost the loop more); Node discards a body the request may carry.
 * @returns the status answered.
 */
export function answerShedRequest(res: ServerResponse, requestId: string): number {
  const { status, message } = ERROR_CODES[SHED_CODE];
  const body = JSON.stringify({ error: message, code: SHED_CODE, request_id: requestId });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    [HEADERS.retryAfter]: String(SHED_RETRY_AFTER_SECONDS),
    [HEADERS.requestId]: requestId,
  });
  res.end(body);
  return status;
}

/** Whether `req` is to be shed now by `monitor` (`null`: shedding is off). */
export function shouldShed(monitor: LoadMonitor | null, req: IncomingMessage): boolean {
  return monitor !== null && monitor.overloaded() && !isExemptFromShedding(req.url);
}
