/**
 * Security events into the app's pino stream, with the fields of the OWASP Logging Cheat Sheet
 * (datetime with offset, appid, event, level, description, source_ip, useragent, request_uri,
 * request_method) plus `request_id`, which ties the event to the request's other lines. Only those
 * fields are taken from the request: no header, cookie or token text.
 *
 * The cheat sheet's `level` is written as `event_level`: pino already writes a numeric `level`
 * first, and a second `level` key would make the line a JSON object with a duplicate key (parsers
 * keep one or the other).
 */
import { type Clock, systemClock } from '../core/clock.js';
import type { SecurityEvent, SecurityEventSink } from './security-events.js';

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
  /** Also called for each event (metrics counters). */
  onEvent?: (event: SecurityEvent) => void;
}

/** ISO 8601 with an explicit UTC offset, e.g. `2026-01-15T10:30:00.000+00:00`. */
export function isoWithOffset(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

const MAX_UA = 256;
/**
 * Longest `request_uri` written (the path; the query is never written). A path may be as long as
 * Node's header limit (16 KiB), and a refusal such as `malicious_csrf` comes before any rate limit:
 * without a bound, one small request wrote kilobytes of log.
 */
const MAX_URI = 512;

export function createSecurityLogger(options: SecurityLoggerOptions): SecurityEventSink {
  const { logger, onEvent } = options;
  const appid = options.appId ?? 'livecomponents';
  const clock = options.clock ?? systemClock;
  return {
    emit(e) {
      const ua = e.request?.headers['user-agent'];
      const line = {
        security_event: true,
        datetime: isoWithOffset(clock.now()),
        appid,
        event: e.event,
        event_level: e.level,
        description: e.description,
        source_ip: e.request?.ip,
        useragent: typeof ua === 'string' ? ua.slice(0, MAX_UA) : undefined,
        request_uri: e.request?.url.split('?', 1)[0]?.slice(0, MAX_URI),
        request_method: e.request?.method,
        request_id: e.request?.requestId,
      };
      if (e.level === 'CRITICAL') logger.error(line, e.description);
      else if (e.level === 'WARN') logger.warn(line, e.description);
      else logger.info(line, e.description);
      onEvent?.(e);
    },
  };
}
