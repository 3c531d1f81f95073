/**
 * RFC 5424 messages and RFC 6587 octet-counting frames, as pure functions.
 *
 *     <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG
 *
 * - PRI = facility × 8 + severity (severity from the pino level, see `syslogSeverity`).
 * - MSGID is the security event name (`malicious_csrf`…) when the line is one, else `-`, so a
 *   syslog filter can pick security events without parsing the body.
 * - STRUCTURED-DATA is `-`: every field is in MSG, the whole JSON record (`request_id`, and the
 *   trace context's `trace_id`, `span_id`, `trace_flags` where a request carried one, included);
 *   a private SD-ID would need an IANA enterprise number this project does not have, and no
 *   registered SD-ID is meant for a trace context.
 * - MSG is sent as MSG-ANY (no BOM): receivers differ on the BOM, and JSON needs none.
 */
import { LOG_FIELDS } from './fields.js';
import { syslogSeverity, type LogRecord } from './record.js';

export interface SyslogHeaderFields {
  facility: number;
  hostname: string;
  appName: string;
  procId: string;
}

const NIL = '-';
/** PRINTUSASCII (%d33-126) only; RFC 5424 §6.2 lengths. */
const HEADER_LIMITS = { hostname: 255, appName: 48, procId: 128, msgId: 32 } as const;

/** A header field: printable US-ASCII without spaces, cut to its length, `-` when empty. */
export function headerField(value: string | undefined, max: number): string {
  const clean = (value ?? '').replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean === '' ? NIL : clean;
}

export function syslogPri(facility: number, level: number): number {
  return facility * 8 + syslogSeverity(level);
}

/** The part before MSG, ending in a space. */
export function syslogHeader(record: LogRecord, fields: SyslogHeaderFields): string {
  const event = record.fields['security_event'] === true ? record.fields['event'] : undefined;
  const pri = syslogPri(fields.facility, record.level);
  return [
    `<${pri}>1`,
    new Date(record.timeMs).toISOString(),
    headerField(fields.hostname, HEADER_LIMITS.hostname),
    headerField(fields.appName, HEADER_LIMITS.appName),
    headerField(fields.procId, HEADER_LIMITS.procId),
    headerField(typeof event === 'string' ? event : undefined, HEADER_LIMITS.msgId),
    NIL,
    '',
  ].join(' ');
}

/** The full RFC 5424 message for one pino line (MSG = the JSON line without its newline). */
export function formatSyslog(line: string, record: LogRecord, fields: SyslogHeaderFields): Buffer {
  return Buffer.from(syslogHeader(record, fields) + line.trimEnd(), 'utf8');
}

/** RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in bytes. */
export function octetFrame(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
}

/**
 * Fits a message into one datagram. When the JSON record is too long, MSG becomes a smaller JSON
 * record (level, time, message, request id, trace context, event, `truncated`, the original size)
 * so it stays machine-readable and still leads to its request and its trace; only if even that is
 * too long is its message cut (on a UTF-8 boundary). The trace fields are kept only as short
 * strings (a request's are 32, 16 and 2 hex digits), so a long one an app logged under those names
 * cannot crowd the message out.
 */
export function fitDatagram(line: string, record: LogRecord, fields: SyslogHeaderFields, maxBytes: number): Buffer {
  const full = formatSyslog(line, record, fields);
  if (full.length <= maxBytes) return full;
  const header = Buffer.from(syslogHeader(record, fields), 'utf8');
  const summary = (msg: string | undefined): string =>
    JSON.stringify({
      level: record.level,
      time: new Date(record.timeMs).toISOString(),
      msg,
      [LOG_FIELDS.requestId]: record.fields[LOG_FIELDS.requestId],
      [LOG_FIELDS.traceId]: shortText(record.fields[LOG_FIELDS.traceId]),
      [LOG_FIELDS.spanId]: shortText(record.fields[LOG_FIELDS.spanId]),
      [LOG_FIELDS.traceFlags]: shortText(record.fields[LOG_FIELDS.traceFlags]),
      event: record.fields['event'],
      truncated: true,
      original_bytes: full.length,
    });
  const short = Buffer.from(summary(record.msg), 'utf8');
  if (header.length + short.length <= maxBytes) return Buffer.concat([header, short]);
  const overhead = header.length + Buffer.byteLength(summary(''), 'utf8');
  const msg = cutUtf8(record.msg ?? '', Math.max(0, Math.floor((maxBytes - overhead) / 6)));
  return Buffer.concat([header, Buffer.from(summary(msg), 'utf8')]).subarray(0, maxBytes);
}

/** Longest trace field kept in a shortened record: a W3C trace id is 32 characters. */
const MAX_SHORT_FIELD = 64;

function shortText(value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= MAX_SHORT_FIELD ? value : undefined;
}

/** At most `maxChars` code points: JSON may escape each to 6 bytes, hence the division above. */
function cutUtf8(text: string, maxChars: number): string {
  return Array.from(text).slice(0, maxChars).join('');
}
