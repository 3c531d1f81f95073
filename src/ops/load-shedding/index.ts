/**
 * Load shedding: while the event loop is stuck (every request queued behind the ones before it),
 * new requests are answered 503 `SERVICE_UNAVAILABLE` with `Retry-After` at once, before routing,
 * instead of waiting seconds each. A 503 costs a fraction of a served request, so a loop fed by
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
import { monitorEventLoopDelay } from 'node:perf_hooks';
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

/** How often the delay is judged; a request is shed at most this long after the loop caught up. */
const SAMPLE_INTERVAL_MS = 500;

/** The histogram's timer period: what it measures past it is delay. */
const HISTOGRAM_RESOLUTION_MS = 10;

/** One log line at most this often while shedding goes on and off. */
const LOG_INTERVAL_MS = 60_000;

export interface LoadMonitor {
  /** Starts sampling (the server listens). */
  start(): void;
  /** Stops sampling and forgets the state (the server closed). */
  stop(): void;
  /** Whether a request arriving now is to be shed. */
  overloaded(): boolean;
}

/**
 * Judges the event-loop delay every `SAMPLE_INTERVAL_MS`: the longest delay the loop had since the
 * last sample (`monitorEventLoopDelay`'s maximum: a stall between two samples counts too), and
 * how late this very sample ran. A request also finds the loop overloaded when the sample is
 * already late by more than `maxDelayMs`: right after a stall, requests read before the timers run
 * would otherwise still be served on the last, calm, sample. `onOverload` hears the delay each
 * time shedding turns on, at most once a minute (`LOG_INTERVAL_MS`).
 */
export function createLoadMonitor(maxDelayMs: number, onOverload: (delayMs: number) => void): LoadMonitor {
  const histogram = monitorEventLoopDelay({ resolution: HISTOGRAM_RESOLUTION_MS });
  let timer: NodeJS.Timeout | undefined;
  let due = Infinity;
  let shedding = false;
  let loggedAt = -Infinity;
  const sample = (): void => {
    const now = performance.now();
    const delayMs = Math.max(now - due, histogram.max / 1e6 - HISTOGRAM_RESOLUTION_MS);
    histogram.reset();
    const was = shedding;
    shedding = delayMs > maxDelayMs;
    if (shedding && !was && now - loggedAt >= LOG_INTERVAL_MS) {
      loggedAt = now;
      onOverload(Math.round(delayMs));
    }
    due = now + SAMPLE_INTERVAL_MS;
    // Unref'd: sampling never keeps the process alive on its own.
    timer = setTimeout(sample, SAMPLE_INTERVAL_MS).unref();
  };
  return {
    start() {
      if (timer !== undefined) return;
      histogram.enable();
      due = performance.now() + SAMPLE_INTERVAL_MS;
      timer = setTimeout(sample, SAMPLE_INTERVAL_MS).unref();
    },
    stop() {
      clearTimeout(timer);
      timer = undefined;
      histogram.disable();
      histogram.reset();
      due = Infinity;
      shedding = false;
    },
    overloaded: () => shedding || performance.now() - due > maxDelayMs,
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
