/**
 * A serialized pino line read back as a record, for the destinations that re-encode it (pretty,
 * syslog, OTLP), and the level mappings they share.
 */

export interface LogRecord {
  /** pino's numeric level (10 trace … 60 fatal). */
  level: number;
  /** Milliseconds since the epoch. */
  timeMs: number;
  msg: string | undefined;
  /** Every other field, as logged (already redacted). */
  fields: Record<string, unknown>;
}

/**
 * pino writes its own numeric level first. A merge object with its own `level` key (the OWASP
 * security-event shape has one) produces a second `level` that `JSON.parse` would keep instead,
 * so the numeric level is read from the line's start.
 */
const LEADING_LEVEL_RE = /^\{"level":(\d+)/;

export function parseLine(line: string, now: () => number = Date.now): LogRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    // Not a pino line (someone wrote raw text to the stream): keep it as the message.
    return { level: 30, timeMs: now(), msg: line.trimEnd(), fields: {} };
  }
  const { level, time, msg, ...fields } = parsed as Record<string, unknown>;
  const leading = LEADING_LEVEL_RE.exec(line)?.[1];
  const numeric = leading !== undefined ? Number(leading) : typeof level === 'number' ? level : 30;
  // A shadowed `level` (e.g. "WARN") is redundant with the numeric one; it is kept under its own name.
  if (level !== undefined && level !== numeric) fields['event_level'] = level;
  return { level: numeric, timeMs: toMs(time, now), msg: typeof msg === 'string' ? msg : undefined, fields };
}

function toMs(time: unknown, now: () => number): number {
  if (typeof time === 'number' && Number.isFinite(time)) return time;
  if (typeof time === 'string') {
    const ms = Date.parse(time);
    if (Number.isFinite(ms)) return ms;
  }
  return now();
}

/** RFC 5424 §6.2.1 severities: 2 critical, 3 error, 4 warning, 6 informational, 7 debug. */
export function syslogSeverity(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/** OpenTelemetry log data model SeverityNumber and SeverityText (TRACE=1, DEBUG=5, INFO=9, WARN=13, ERROR=17, FATAL=21). */
export function otelSeverity(level: number): { number: number; text: string } {
  if (level >= 60) return { number: 21, text: 'FATAL' };
  if (level >= 50) return { number: 17, text: 'ERROR' };
  if (level >= 40) return { number: 13, text: 'WARN' };
  if (level >= 30) return { number: 9, text: 'INFO' };
  if (level >= 20) return { number: 5, text: 'DEBUG' };
  return { number: 1, text: 'TRACE' };
}
