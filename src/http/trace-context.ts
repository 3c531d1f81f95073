/**
 * The caller's W3C Trace Context (Level 1, https://www.w3.org/TR/trace-context/): the `traceparent`
 * request header read into the `trace_id`, `span_id` and `trace_flags` log fields, so that a log
 * backend can show our lines under the trace an ingress (nginx's otel module, Envoy, a cloud load
 * balancer) or a traced client started. Nothing is forwarded, and `tracestate` is not read: we only
 * log, and create no span.
 *
 * `span_id` is the caller's parent-id: the span of the proxy or client that sent the request. With
 * no span of our own there is no other id to name, and a made-up one would point at a span no
 * tracer ever exported. It is what OpenTelemetry's log bridges write in the same situation (a
 * context extracted from the request and no server span started: the active span is the remote
 * parent), so our lines appear under the caller's span. The field names and the 2-hex-digit
 * `trace_flags` are those of @opentelemetry/instrumentation-pino.
 *
 * Parsing follows §3.2 of the specification exactly, and never throws: anything invalid is ignored
 * (no fields), as §3.2.2.3 and §3.2.2.4 ask of an invalid trace-id or parent-id.
 * - version: 2 lowercase hex digits, then `-`; `ff` is invalid.
 * - version `00`: exactly 55 characters, `00-<trace-id>-<parent-id>-<trace-flags>`.
 * - a higher version (§3.2.4): at least 55 characters, read by version 00's fields; the flags are
 *   followed by the end or by `-` and whatever a future version adds, which is not looked at. Only
 *   the sampled bit of its flags is known to this version of the specification, so `trace_flags` is
 *   `01` or `00` for it.
 * - trace-id: 32 lowercase hex digits, not all zero; parent-id: 16, not all zero; trace-flags: 2
 *   (the ABNF's `HEXDIGLC`: uppercase hex is invalid everywhere).
 * - several `traceparent` field lines: invalid. `traceparent` is a single value (not a list), so
 *   the comma Node joins repeated lines with (`a, b`), as does any proxy combining field lines (RFC
 *   9110 §5.3), makes the value invalid: by its length for version 00, and a higher version's value
 *   holding a comma is ignored too. An array (`headersDistinct`) is ignored as well.
 * - optional whitespace (spaces and tabs) around the value is no part of it (RFC 9110 §5.5, and the
 *   specification's test suite, `test_traceparent_ows_handling`): Node strips it already; values
 *   set in code (`app.inject`) may still hold it. Other whitespace is invalid.
 *
 * Cost: nothing here when the header is absent (one property read by the caller; Fastify's check of
 * a custom request logger, which every request pays, is server-options.ts's); otherwise the length
 * is checked before anything else (at most `MAX_TRACEPARENT_LENGTH`), then one pass over at most
 * that many characters, without a regular expression.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { LOG_FIELDS } from '../ops/logging/fields.js';

/** The request header, as Node names it in `req.headers`. */
export const TRACEPARENT_HEADER = 'traceparent';

/** A caller's trace context, as logged. */
export interface TraceContext {
  /** 32 lowercase hex digits, not all zero. */
  readonly traceId: string;
  /** The caller's parent-id (its span): 16 lowercase hex digits, not all zero. */
  readonly parentId: string;
  /** trace-flags, 2 lowercase hex digits (`01`: the caller sampled the trace). */
  readonly flags: string;
}

/** The length of a version 00 value, and the least any version may have. */
const VERSION_00_LENGTH = 55;

/**
 * Longest value looked at, whitespace around it included; anything longer is ignored unread. §3.2.4
 * asks only that "prohibitively large" values be refused, since a later version may be longer than
 * version 00's 55 characters; 512 leaves room for one nine times as long.
 */
export const MAX_TRACEPARENT_LENGTH = 512;

const DASH = 0x2d;
const SPACE = 0x20;
const TAB = 0x09;
const ZERO = 0x30;
const COMMA = ',';

/** A space or a tab: optional whitespace (RFC 9110 §5.6.3). */
function isOws(code: number): boolean {
  return code === SPACE || code === TAB;
}

/** `0-9` or `a-f` (HEXDIGLC). */
function isHexDigit(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x66);
}

/** Whether `value[from, from + length)` is lowercase hex and not all zero. */
function isNonZeroHex(value: string, from: number, length: number): boolean {
  let nonZero = false;
  for (let i = from; i < from + length; i++) {
    const code = value.charCodeAt(i);
    if (!isHexDigit(code)) return false;
    if (code !== ZERO) nonZero = true;
  }
  return nonZero;
}

/**
 * The trace context of a `traceparent` header value, or `null` when there is none or it is invalid
 * in any way (see the module comment). Never throws, whatever `value` is.
 */
export function parseTraceparent(value: unknown): TraceContext | null {
  if (typeof value !== 'string') return null;
  if (value.length < VERSION_00_LENGTH || value.length > MAX_TRACEPARENT_LENGTH) return null;
  let start = 0;
  let end = value.length;
  while (start < end && isOws(value.charCodeAt(start))) start++;
  while (end > start && isOws(value.charCodeAt(end - 1))) end--;
  const length = end - start;
  if (length < VERSION_00_LENGTH) return null;

  const v0 = value.charCodeAt(start);
  const v1 = value.charCodeAt(start + 1);
  if (!isHexDigit(v0) || !isHexDigit(v1) || value.charCodeAt(start + 2) !== DASH) return null;
  if (v0 === 0x66 && v1 === 0x66) return null; // version ff is invalid
  const version00 = v0 === ZERO && v1 === ZERO;
  if (version00) {
    if (length !== VERSION_00_LENGTH) return null;
  } else if (length > VERSION_00_LENGTH && (value.charCodeAt(start + VERSION_00_LENGTH) !== DASH || value.indexOf(COMMA, start + VERSION_00_LENGTH) !== -1)) {
    return null;
  }
  if (!isNonZeroHex(value, start + 3, 32) || value.charCodeAt(start + 35) !== DASH) return null;
  if (!isNonZeroHex(value, start + 36, 16) || value.charCodeAt(start + 52) !== DASH) return null;
  const f0 = value.charCodeAt(start + 53);
  const f1 = value.charCodeAt(start + 54);
  if (!isHexDigit(f0) || !isHexDigit(f1)) return null;

  // The sampled bit is the lowest of the second digit: odd digits are 1, 3, 5, 7, 9, b, d, f.
  const sampled = (f1 <= 0x39 ? f1 - ZERO : f1 - 0x57) & 1;
  return {
    traceId: value.slice(start + 3, start + 35),
    parentId: value.slice(start + 36, start + 52),
    flags: version00 ? value.slice(start + 53, start + 55) : sampled === 1 ? '01' : '00',
  };
}

/** The trace context a request's headers carry, or `null` (see `parseTraceparent`). */
export function traceContextOf(headers: IncomingHttpHeaders | Readonly<Record<string, string | string[] | undefined>> | undefined): TraceContext | null {
  const value = headers?.[TRACEPARENT_HEADER];
  return value === undefined ? null : parseTraceparent(value);
}

/** The log fields of a trace context, added to `fields` (a request logger's bindings, a record). */
export function addTraceFields<T extends object>(fields: T, trace: TraceContext): T {
  const out = fields as Record<string, unknown>;
  out[LOG_FIELDS.traceId] = trace.traceId;
  out[LOG_FIELDS.spanId] = trace.parentId;
  out[LOG_FIELDS.traceFlags] = trace.flags;
  return fields;
}
