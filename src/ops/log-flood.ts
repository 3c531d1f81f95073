/**
 * Bounded suppression of repeated log lines (OWASP Logging Cheat Sheet: protect logging from
 * denial of service). One client sending 10,000 refused requests a second otherwise writes 10,000
 * security lines a second (~5 MB/s): the disk fills, or the log pipeline drops the lines that matter.
 *
 * Per (event, client) a fixed window starts at its first line: the first `linesPerWindow` lines are
 * written, the rest only counted, and once the window has ended one summary carries the count.
 * Memory is bounded by `maxClients`: past it, a new client's lines share one bucket per event (its
 * own first lines and summary), so a flood of spoofed addresses cannot grow the map.
 *
 * The limiter only decides and keeps counts; the caller writes lines and summaries
 * (security-logger.ts). Windows are kept in a Map in the order they started, so the ones that have
 * ended are at its front: a sweep costs one look when none has.
 */
import { MAX_TIMER_MS } from '../core/deadline.js';
import { DEFAULT_IPV6_PREFIX_LENGTH } from '../pipeline/rate-limit/client-ip.js';
import { InvalidOptionError, positiveMs } from './health/options-error.js';

export interface FloodLimitOptions {
  /** Lines of one event written per client and window before the rest are only counted. @default 10 */
  linesPerWindow?: number;
  /** Length of a window, from the first line of an event for a client, in ms. @default 60_000 */
  windowMs?: number;
  /**
   * Clients tracked at once (each costs one window and its last line). Past it, clients not tracked
   * share one bucket per event until windows end and free room. @default 10_000
   */
  maxClients?: number;
  /**
   * An IPv6 `source_ip` counts as its network of this many bits, as for rate limiting
   * (`rateLimit.ipv6PrefixLength`): one host picks any address of its /64 or /56, and counted one by
   * one its addresses would each get fresh lines and fill `maxClients`, silencing the other clients'
   * lines in the shared bucket. 128 counts single addresses. From 32 to 128. @default 56
   */
  ipv6PrefixLength?: number;
}

export interface ResolvedFloodLimit {
  readonly linesPerWindow: number;
  readonly windowMs: number;
  readonly maxClients: number;
  readonly ipv6PrefixLength: number;
}

/** What a summary tells, beside the fields of the last line not written. */
export interface FloodSummary {
  /** Lines counted and not written in the window. */
  suppressed: number;
  /** `client`: one client's lines; `all_clients`: clients past `maxClients`, together. */
  scope: 'client' | 'all_clients';
  /** The client the lines came from, as given to `admit`; `undefined` for `all_clients`. */
  client: string | undefined;
  /**
   * Window start and end, ms since the epoch. The end is earlier when cut short by a close; when the
   * clock went back, it is the time of the last line counted (the window's lines all came by then).
   */
  start: number;
  end: number;
}

export const FLOOD_LIMIT_DEFAULTS: ResolvedFloodLimit = { linesPerWindow: 10, windowMs: 60_000, maxClients: 10_000, ipv6PrefixLength: DEFAULT_IPV6_PREFIX_LENGTH };

/** Above it a map of windows would hold hundreds of MB of last lines: a typo, not a setting. */
const MAX_CLIENTS_CEILING = 1_000_000;
/** The most `linesPerWindow` (`LOG_FLOOD_LIMIT` in the reference app checks the same bound). */
export const MAX_FLOOD_LINES = MAX_CLIENTS_CEILING;
/** Least time between two timer sweeps, so windows started a millisecond apart do not each wake the process. */
const MIN_SWEEP_MS = 1_000;
const WHERE = 'createSecurityLogger';
const OPTION_KEYS = new Set(['linesPerWindow', 'windowMs', 'maxClients', 'ipv6PrefixLength']);

/** The options checked once at start-up; a bad one throws `InvalidOptionError` (code `LC_INVALID_OPTION`). */
export function resolveFloodLimit(options: FloodLimitOptions | undefined): ResolvedFloodLimit {
  if (options === undefined) return FLOOD_LIMIT_DEFAULTS;
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError(WHERE, 'floodLimit must be an object or false');
  // A misspelt key would otherwise leave the default silently in place.
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new InvalidOptionError(WHERE, `floodLimit.${key} is not an option (${[...OPTION_KEYS].join(', ')})`);
  }
  const count = (name: 'linesPerWindow' | 'maxClients' | 'ipv6PrefixLength', min: number, max: number): number => {
    const value = options[name] ?? FLOOD_LIMIT_DEFAULTS[name];
    if (!Number.isSafeInteger(value) || value < min || value > max) throw new InvalidOptionError(WHERE, `floodLimit.${name} must be a whole number from ${min} to ${max} (got ${String(value)})`);
    return value;
  };
  return {
    linesPerWindow: count('linesPerWindow', 1, MAX_FLOOD_LINES),
    windowMs: positiveMs(WHERE, 'floodLimit.windowMs', options.windowMs ?? FLOOD_LIMIT_DEFAULTS.windowMs),
    maxClients: count('maxClients', 1, MAX_CLIENTS_CEILING),
    ipv6PrefixLength: count('ipv6PrefixLength', 32, 128),
  };
}

interface Window<L> {
  readonly start: number;
  readonly scope: FloodSummary['scope'];
  readonly client: string | undefined;
  written: number;
  suppressed: number;
  /** The last line counted, whose fields the summary carries (set with the first count), and its time. */
  last: L | undefined;
  lastAt: number;
}

export interface FloodLimiter<L> {
  /** True: write `line`. False: it was counted, for the summary of its window. */
  admit(event: string, client: string, line: L, now: number): boolean;
  /**
   * The sweep asked for by `schedule` (its timer fired): summarises and forgets the windows that have
   * ended by `now`, and asks for the next one if some window still counts lines.
   */
  sweep(now: number): void;
  /** Summarises every window with counted lines now, ended or not, and forgets them all. */
  flush(now: number): void;
  /** Clients tracked now (the per-event buckets past the cap not included). */
  readonly tracked: number;
  /** Whether `client` has its own window of `event` (false: none, or it shares the bucket past `maxClients`). */
  isTracked(event: string, client: string): boolean;
}

/**
 * `summarise(last, summary)` is called for each window that counted lines, once, as it is forgotten.
 * `schedule(ms)` asks for a `sweep` in `ms` (the caller owns one timer, replaced by each call); called
 * while some window holds counted lines and no sweep is due, so summaries come at most about a
 * second after their window ends even when no further line arrives.
 */
export function createFloodLimiter<L>(limit: Omit<ResolvedFloodLimit, 'ipv6PrefixLength'>, summarise: (last: L, summary: FloodSummary) => void, schedule?: (ms: number) => void): FloodLimiter<L> {
  const { linesPerWindow, windowMs, maxClients } = limit;
  const clients = new Map<string, Window<L>>();
  const overflow = new Map<string, Window<L>>();
  let sweepDueAt = Infinity;

  // A clock set back ends the window too: else it would last as long as the clock takes to catch up.
  const ended = (w: Window<L>, now: number): boolean => now >= w.start + windowMs || now < w.start;
  /** Windows holding counted lines: while there is one, a sweep is due. */
  let pending = 0;
  const close = (w: Window<L>, now: number): void => {
    if (w.suppressed === 0) return;
    pending--;
    // A clock set back: the lines counted came between the start and the last of them, not at the start.
    const end = now < w.start ? w.lastAt : Math.min(now, w.start + windowMs);
    summarise(w.last as L, { suppressed: w.suppressed, scope: w.scope, client: w.client, start: w.start, end });
  };
  /**
   * Asks for a sweep at the end of the earliest window (the front of `clients`, or a bucket) when
   * one holds counted lines and none is due. Windows opened later end later, so one due sweep is
   * never later than any window's end (give or take `MIN_SWEEP_MS`).
   */
  const arm = (now: number): void => {
    if (schedule === undefined || pending === 0 || sweepDueAt !== Infinity) return;
    let end = Infinity;
    for (const w of clients.values()) {
      end = w.start + windowMs;
      break;
    }
    for (const w of overflow.values()) end = Math.min(end, w.start + windowMs);
    sweepDueAt = Math.max(end, now + MIN_SWEEP_MS);
    schedule(Math.min(sweepDueAt - now, windowMs, MAX_TIMER_MS));
  };
  const sweep = (now: number): void => {
    if (now >= sweepDueAt) sweepDueAt = Infinity;
    // A summary that throws (its destination full) stops the sweep: the next one is still asked
    // for, else the windows left would wait for another line or the close.
    try {
      for (const [key, w] of clients) {
        if (!ended(w, now)) break;
        clients.delete(key);
        close(w, now);
      }
      for (const [event, w] of overflow) {
        if (!ended(w, now)) continue;
        overflow.delete(event);
        close(w, now);
      }
    } finally {
      arm(now);
    }
  };
  const opened = (now: number, scope: FloodSummary['scope'], client: string | undefined): Window<L> => ({ start: now, scope, client, written: 0, suppressed: 0, last: undefined, lastAt: now });
  const windowOf = (event: string, client: string, now: number): Window<L> => {
    const key = `${event}\u0000${client}`;
    const tracked = clients.get(key);
    if (tracked !== undefined) {
      if (!ended(tracked, now)) return tracked;
      // Ended behind a window that has not (the clock went back): summarised and opened again.
      clients.delete(key);
      close(tracked, now);
    }
    if (clients.size < maxClients) {
      const w = opened(now, 'client', client);
      clients.set(key, w);
      return w;
    }
    let shared = overflow.get(event);
    if (shared === undefined) overflow.set(event, (shared = opened(now, 'all_clients', undefined)));
    return shared;
  };

  return {
    admit(event, client, line, now) {
      sweep(now);
      const w = windowOf(event, client, now);
      if (w.written < linesPerWindow) {
        w.written++;
        return true;
      }
      w.last = line;
      w.lastAt = Math.max(w.lastAt, now);
      if (w.suppressed++ === 0) {
        pending++;
        arm(now);
      }
      return false;
    },
    sweep(now) {
      // The timer fired, so no sweep is due any more, whatever the clock says: Node counts a timer
      // from the loop's cached time, which a busy loop leaves behind, so it may fire before `now`
      // reaches the due time (and a clock set back delays it by as much). Left due, `arm` would
      // never ask again and pending summaries would wait for the next line or the close.
      sweepDueAt = Infinity;
      sweep(now);
    },
    flush(now) {
      for (const w of clients.values()) close(w, now);
      for (const w of overflow.values()) close(w, now);
      clients.clear();
      overflow.clear();
      pending = 0;
      sweepDueAt = Infinity;
    },
    get tracked() {
      return clients.size;
    },
    isTracked(event, client) {
      return clients.has(`${event}\u0000${client}`);
    },
  };
}
