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
import type { SecurityEvent, SecurityEventSink } from './security-events.js';
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

export function createSecurityLogger(options: SecurityLoggerOptions): SecurityEventSink {
  const { logger } = options;
  // Bound once: a hook that fails is reported on the same logger, and the request goes on.
  const onEvent = guardOptionalObserver('onEvent', options.onEvent, { report: (message, error) => logger.error({ err: error }, message), clock: options.clock });
  const appid = options.appId ?? 'livecomponents';
  const clock = options.clock ?? systemClock;
  if (options.traceContext !== undefined && typeof options.traceContext !== 'boolean') throw new TypeError('createSecurityLogger: traceContext must be true or false');
  const withTrace = options.traceContext !== false;
  return {
    emit(e) {
      const ua = e.request?.headers['user-agent'];
      // Read from the headers as the request logger reads them, so the two always agree; only
      // requests that sent a `traceparent` are parsed.
      const trace = withTrace ? traceContextOf(e.request?.headers) : null;
      const line = {
        security_event: true,
        datetime: isoWithOffset(clock.now()),
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
      if (e.level === 'CRITICAL') logger.error(line, line.description);
      else if (e.level === 'WARN') logger.warn(line, line.description);
      else logger.info(line, line.description);
      onEvent?.(e);
    },
  };
}
