/**
 * Security events into the app's pino stream, with the fields of the OWASP Logging Cheat Sheet
 * (datetime with offset, appid, event, level, description, source_ip, useragent, request_uri,
 * request_method) plus `request_id`, which ties the event to the request's other lines, and — when
 * the request came with a valid W3C `traceparent` — `trace_id`, `span_id` and `trace_flags`, as on
 * those lines (src/http/trace-context.ts), which tie it to the caller's trace. Only those fields are
 * taken from the request: no other header, cookie or token text (the trace fields are hex digits
 * only, or absent).
 *
 * The cheat sheet's `level` is written as `event_level`: pino already writes a numeric `level`
 * first, and a second `level` key would make the line a JSON object with a duplicate key (parsers
 * keep one or the other).
 */
import { type Clock, systemClock } from '../core/clock.js';
import { addTraceFields, traceContextOf } from '../http/trace-context.js';
import { createClientIp } from '../pipeline/rate-limit/client-ip.js';
import { createFloodLimiter, resolveFloodLimit, type FloodLimitOptions, type FloodSummary } from './log-flood.js';
import { LOG_FIELDS } from './logging/fields.js';
import { requestLineGate } from './logging/request-lines.js';
import { beforeLoggerClose } from './logging/sink.js';
import { EVENT_LINES, type SecurityEvent, type SecurityEventSink, type SecurityLevel } from './security-events.js';
import { guardOptionalObserver } from './observer-guard.js';

/** The part of a pino logger used here. */
export interface EventLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SecurityLoggerOptions {
  logger: EventLogger;
  /** `appid` field. @default 'livecomponents' */
  appId?: string;
  clock?: Clock;
  /**
   * Also called for each event (metrics counters), after its line is written. An observer: a throw or
   * a rejected promise from it is caught and logged on `logger` (error; the first at once, then at
   * most one line a minute with the count since the last), never the answer of the request it was told about.
   */
  onEvent?: (event: SecurityEvent) => unknown;
  /**
   * Whether events carry the request's `trace_id`, `span_id` and `trace_flags` (from `traceparent`),
   * as its request log lines do; off with `serverOptions({ traceContext: false })`.
   * @default true
   */
  traceContext?: boolean;
  /**
   * Lines of one refusal event (`EVENT_LINES`: `summarised`) written per client (`source_ip`) and
   * window; the rest are counted, and one summary line with `suppressed` follows the window's end
   * (docs/logging.md, Floods). `onEvent` still sees every event. `false` writes every line.
   * @default { linesPerWindow: 10, windowMs: 60_000, maxClients: 10_000 }
   * @example createSecurityLogger({ logger, floodLimit: { linesPerWindow: 5, windowMs: 300_000 } })
   */
  floodLimit?: FloodLimitOptions | false;
}

/** The security logger: a sink, and the close that writes what its flood limit still counts. */
export interface SecurityLogger extends SecurityEventSink {
  /**
   * Writes a summary for every window with lines counted but not yet summarised, stops the sweep
   * timer, and writes every later line (nothing would summarise it). Idempotent. `closeLogger` on
   * the logger given (made by `createLogger`) calls it first; call it yourself on another logger.
   */
  close(): void;
}

/** One security event line, as written. */
interface EventLine {
  security_event: true;
  datetime: string;
  appid: string;
  event: string;
  event_level: SecurityLevel;
  description: string;
  source_ip: string | undefined;
  useragent: string | undefined;
  request_uri: string | undefined;
  request_method: string | undefined;
  request_id: string | undefined;
}

/** ISO 8601 with an explicit UTC offset, e.g. `2026-01-15T10:30:00.000+00:00`. */
export function isoWithOffset(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

const MAX_UA = 256;
/**
 * Longest `source_ip` written. The longest IPv6 text with a zone id fits well within it; with
 * `TRUST_PROXY` the address comes from `X-Forwarded-For`, which a client may fill with kilobytes.
 */
export const MAX_SOURCE_IP = 64;
/**
 * Longest `request_uri` written (the path; the query is never written). A path may be as long as
 * Node's header limit (16 KiB), and a refusal such as `malicious_csrf` comes before any rate limit:
 * without a bound, one small request wrote kilobytes of log.
 */
const MAX_URI = 512;

/**
 * C0 and C1 controls, DEL, and the Unicode line and paragraph separators. Request text (user agent,
 * path, forwarded address, header values quoted in descriptions) reaches the pretty, syslog and file
 * lines raw: U+009B is an 8-bit terminal CSI, U+0085 and U+2028 break lines for Python's
 * `splitlines` and Java's `\R`, and a CR or LF forges a line in plain-text formats. And the
 * backslash, written `\\`: else a user agent holding the six characters `\u000d` would read as
 * an escaped CR.
 */
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\\]/;
const CONTROLS_RE = new RegExp(CONTROL_RE.source, 'g');

/**
 * `text` with each control written as its `\uXXXX` escape, so nothing a client sent can steer a
 * terminal or split a line, yet the analyst still sees what was sent. One regex test for the usual
 * clean text; only the rare dirty one is rewritten.
 */
export function escapeControls(text: string): string {
  if (!CONTROL_RE.test(text)) return text;
  return text.replace(CONTROLS_RE, (c) => (c === '\\' ? '\\\\' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** The first `max` characters of a request-supplied field, controls escaped (cut first: the escape may lengthen it). */
export function requestText(value: string | undefined, max: number): string | undefined {
  return value === undefined ? undefined : escapeControls(value.slice(0, max));
}

export function createSecurityLogger(options: SecurityLoggerOptions): SecurityLogger {
  const { logger } = options;
  // Bound once: a hook that fails is reported on the same logger, and the request goes on.
  const onEvent = guardOptionalObserver('onEvent', options.onEvent, { report: (message, error) => logger.error({ err: error }, message), clock: options.clock });
  const appid = options.appId ?? 'livecomponents';
  const clock = options.clock ?? systemClock;
  if (options.traceContext !== undefined && typeof options.traceContext !== 'boolean') throw new TypeError('createSecurityLogger: traceContext must be true or false');
  const withTrace = options.traceContext !== false;
  const write = (line: EventLine, msg: string): void => {
    if (line.event_level === 'CRITICAL') logger.error(line, msg);
    else if (line.event_level === 'WARN') logger.warn(line, msg);
    else logger.info(line, msg);
  };
  const flood = floodLimiter(options.floodLimit, logger, write, clock);
  return {
    emit(e) {
      const ua = e.request?.headers['user-agent'];
      // Read from the headers as the request logger reads them, so the two always agree; only
      // requests that sent a `traceparent` are parsed.
      const trace = withTrace ? traceContextOf(e.request?.headers) : null;
      const now = clock.now();
      const line: EventLine = {
        security_event: true,
        datetime: isoWithOffset(now),
        appid,
        event: e.event,
        event_level: e.level,
        description: escapeControls(e.description),
        source_ip: requestText(e.request?.ip, MAX_SOURCE_IP),
        useragent: requestText(typeof ua === 'string' ? ua : undefined, MAX_UA),
        request_uri: requestText(e.request?.url.split('?', 1)[0], MAX_URI),
        request_method: e.request?.method,
        request_id: e.request?.requestId,
      };
      if (trace !== null) addTraceFields(line, trace);
      // The client is the bounded source_ip (a forwarded address of kilobytes makes a key of 64
      // characters), an IPv6 one counted as its network (floodLimit.ipv6PrefixLength).
      if (flood === undefined || EVENT_LINES[e.event] !== 'summarised' || flood.admit(e.event, line.source_ip ?? '', line, now, e.request?.headers)) write(line, line.description);
      onEvent?.(e);
    },
    close() {
      flood?.close();
    },
  };
}

/**
 * The fields naming one request or client. An `all_clients` summary leaves them out: its count is
 * of many clients, and carrying the last one's address would pin it on that one (whoever came last,
 * maybe a legitimate client; a rule blocking by `source_ip` would block it).
 */
const ONE_CLIENT_FIELDS = ['source_ip', 'useragent', 'request_id', LOG_FIELDS.traceId, LOG_FIELDS.spanId, LOG_FIELDS.traceFlags] as const;

/** The summary line of a window: the last counted line's fields, the count, whose, and the window. */
function summaryLine(last: EventLine, s: FloodSummary, requestLines: number | undefined): { line: EventLine; msg: string } {
  const start = isoWithOffset(s.start);
  const end = isoWithOffset(s.end);
  const line: EventLine & Record<string, unknown> = {
    ...last,
    [LOG_FIELDS.suppressed]: s.suppressed,
    [LOG_FIELDS.suppressedScope]: s.scope,
    [LOG_FIELDS.suppressedClient]: s.client,
    [LOG_FIELDS.suppressedWindowStart]: start,
    [LOG_FIELDS.suppressedWindowEnd]: end,
    [LOG_FIELDS.requestLinesSuppressed]: requestLines,
  };
  // Undefined fields are not written (pino, like JSON.stringify, leaves them out).
  if (s.scope === 'all_clients') for (const field of ONE_CLIENT_FIELDS) line[field] = undefined;
  // An IPv6 client is its network: its lines came from many addresses, not only the one on the line.
  const from = s.scope === 'all_clients' ? 'clients past the tracked limit' : s.client === last.source_ip ? 'this client' : s.client;
  const requests = requestLines === undefined ? '' : `, and ${requestLines} request line(s) of those requests`;
  return { line, msg: `${last.description} (${s.suppressed} more ${last.event} line(s) from ${from}${requests} not written between ${start} and ${end})` };
}

/**
 * The flood limit of one security logger, or `undefined` when off: its limiter, the one unref'd
 * timer that sweeps ended windows when no further line comes, and its close (registered with the
 * logger's destination, so `closeLogger` writes the pending summaries before closing it). A refusal
 * line not written marks its request, whose own request lines Fastify then does not write either
 * (logging/request-lines.ts, when the app's `logController` is a `FloodLogController`); the
 * window's summary counts them.
 */
function floodLimiter(
  option: FloodLimitOptions | false | undefined,
  logger: EventLogger,
  write: (line: EventLine, msg: string) => void,
  clock: Clock,
): { admit(event: string, ip: string, line: EventLine, now: number, headers: object | undefined): boolean; close(): void } | undefined {
  if (option === false) return undefined;
  const limit = resolveFloodLimit(option);
  const clientOf = createClientIp(limit.ipv6PrefixLength);
  // The request's `ip` as a client key, exactly as `admit` below makes it from `source_ip`.
  const gate = requestLineGate(logger, (ip) => clientOf(requestText(ip, MAX_SOURCE_IP) ?? ''));
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const summarise = (last: EventLine, s: FloodSummary): void => {
    const { line, msg } = summaryLine(last, s, gate?.release(s.client, last.event));
    write(line, msg);
  };
  const limiter = createFloodLimiter<EventLine>(limit, summarise, (ms) => {
    clearTimeout(timer);
    // Unref'd: a pending summary never holds the process open; close() writes it instead.
    timer = setTimeout(() => {
      try {
        limiter.sweep(clock.now());
      } catch {
        // The logger itself threw: nowhere to report it, and a timer's throw would end the process.
      }
    }, ms).unref();
  });
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    unregister();
    // A summary that fails to write (a full disk) leaves the later windows unsummarised: their
    // clients are let go all the same, else their incoming lines would be held for good.
    try {
      limiter.flush(clock.now());
    } finally {
      gate?.close();
    }
  };
  const unregister = beforeLoggerClose(logger, close);
  const admit = (event: string, ip: string, line: EventLine, now: number, headers: object | undefined): boolean => {
    if (closed) return true;
    const client = clientOf(ip);
    if (limiter.admit(event, client, line, now)) return true;
    if (gate !== undefined && headers !== undefined) gate.quiet(headers, limiter.isTracked(event, client) ? client : undefined, event);
    return false;
  };
  return { admit, close };
}
