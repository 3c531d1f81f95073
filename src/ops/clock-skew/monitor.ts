/**
 * The running app's clock check: at start-up and then every few minutes, this machine's clock
 * against the shared services' (the reading `doctor --connect` makes, read.ts). Logged once per
 * change of state — a warning past `warnOverMs`, an error past `errorOverMs` (where the token
 * clean-up refuses to run), a line when it is back — and handed to `onSkew` for the
 * `livecomponents_clock_skew_seconds` gauge at every reading.
 *
 * It never fails readiness: when the database's own clock is the wrong one, every instance would
 * see the same skew and all would leave the load balancer at once. An alert on the gauge (deploy/
 * prometheus/alerts.yml, LiveComponentsClockSkew) and the log are how it shows.
 */
import { withDeadline } from '../../core/deadline.js';
import { guardOptionalObserver } from '../observer-guard.js';
import { CLOCK_SERVICES, describeSkew, measureSkew, type ClockService, type ServiceTime } from './read.js';

/** A reading that took longer than `timeoutMs` (never logged: the service is read again next time). */
const timedOut = () => new Error('timed out');

/** A service whose clock is compared: its label and how to read it. */
export interface ClockSource {
  service: ClockService;
  read: ServiceTime;
}

export interface ClockSkewLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface ClockSkewMonitorOptions {
  sources: readonly ClockSource[];
  /** Where the three kinds of line go (the app's logger). */
  log: ClockSkewLog;
  /** A skew past this many ms, either way, is an error (the clean-up's margin, `REVOKE_MARGIN_MS`). */
  errorOverMs: number;
  /** A skew past this many ms, either way, is a warning (what `doctor --connect` accepts). @default 1000 */
  warnOverMs?: number;
  /** The clock tokens are minted with. @default Date.now */
  now?: () => number;
  /** Time between checks, ms; the timer is unref'd. @default 300_000 (5 minutes) */
  intervalMs?: number;
  /** Longest wait for one reading; a service that does not answer is skipped until the next check. @default 3000 */
  timeoutMs?: number;
  /**
   * Every reading, in seconds (positive: this machine ahead): the gauge's setter. An observer: a throw
   * or a rejected promise from it is logged on `log` (error, at most once a minute), and the reading
   * is still logged and kept as without it.
   */
  onSkew?: (service: ClockService, seconds: number) => unknown;
}

export interface ClockSkewMonitor {
  /** Reads every source now (a check already running is joined, not doubled); never rejects. */
  checkNow(): Promise<void>;
  /** Stops the timer. */
  stop(): void;
}

type SkewLevel = 'ok' | 'warn' | 'error';

/**
 * Starts checking at once (not awaited: start-up does not wait for it).
 * @example
 * const skew = startClockSkewMonitor({ sources: [{ service: 'postgresql', read: postgresTime(db) }], log: app.log, errorOverMs: REVOKE_MARGIN_MS, onSkew: metrics.observeClockSkew });
 * app.addHook('onClose', async () => skew.stop());
 */
export function startClockSkewMonitor(options: ClockSkewMonitorOptions): ClockSkewMonitor {
  const { sources, log, errorOverMs } = options;
  const warnOverMs = options.warnOverMs ?? 1_000;
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 3_000;
  const onSkew = guardOptionalObserver('onSkew', options.onSkew, { report: (message, error) => log.error(`${message}: ${error instanceof Error ? error.message : String(error)}`) });
  // Every service starts "ok": a healthy start logs nothing.
  const levels = new Map<ClockService, SkewLevel>();
  let running: Promise<void> | undefined;

  async function checkOne({ service, read }: ClockSource): Promise<void> {
    let skewMs: number;
    try {
      skewMs = await withDeadline(() => measureSkew(read, now), timeoutMs, timedOut);
    } catch {
      // A service that is down says so in /health and its own log lines; its clock is read next time.
      return;
    }
    onSkew?.(service, skewMs / 1000);
    const level: SkewLevel = Math.abs(skewMs) > errorOverMs ? 'error' : Math.abs(skewMs) > warnOverMs ? 'warn' : 'ok';
    const previous = levels.get(service) ?? 'ok';
    levels.set(service, level);
    if (level === previous) return;
    const what = describeSkew({ service, skewMs }, Math.abs(skewMs) > 60_000 ? 's' : 'ms');
    if (level === 'error') {
      log.error(
        `clock: ${what} (over ${errorOverMs / 1000} s): tokens this instance mints live that much too long or too short on every instance, and the token clean-up refuses to run here; sync the clock with NTP`,
      );
    } else if (level === 'warn') {
      log.warn(`clock: ${what} (over ${warnOverMs} ms): token lifetimes and idempotency replays count on instances agreeing on the time; sync the clock with NTP`);
    } else {
      log.info(`clock: back within ${warnOverMs} ms of ${CLOCK_SERVICES[service]}`);
    }
  }

  function checkNow(): Promise<void> {
    // Never rejects: it runs from a timer, and a logger that throws must not end the process.
    running ??= Promise.all(sources.map(checkOne))
      .then(() => undefined, () => undefined)
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  const intervalMs = options.intervalMs ?? 300_000;
  const timer = sources.length > 0 ? setInterval(() => void checkNow(), intervalMs) : undefined;
  timer?.unref();
  if (sources.length > 0) void checkNow();
  return {
    checkNow,
    stop() {
      clearInterval(timer);
    },
  };
}
