/**
 * pino records as OTLP/HTTP JSON (opentelemetry-proto `ExportLogsServiceRequest`, JSON encoding):
 * `resourceLogs[].scopeLogs[].logRecords[]`. Pure functions; the exporter batches and sends.
 *
 * JSON-encoding rules followed here: 64-bit integers (`timeUnixNano`, `intValue`) are decimal
 * strings; `traceId`/`spanId` are lowercase hex (not base64, unlike the generic protobuf mapping);
 * `flags` (fixed32) is a number.
 *
 * Trace context: a record's `trace_id`, `span_id` and `trace_flags` (LOG_FIELDS; what the request
 * logger binds from `traceparent`, and what @opentelemetry/instrumentation-pino writes), or their
 * camelCase spellings, become the LogRecord's `traceId`, `spanId` and `flags` — the W3C trace flags
 * are its 8 low bits — and are then no attributes. Only well-formed values are moved, and the span
 * and the flags only together with a trace id (the data model pairs them with one): 32 and 16
 * lowercase hex digits, not all zero (an all-zero id means none), flags as 2 hex digits or a number
 * from 0 to 255. Anything else stays an attribute, so no field is lost.
 */
import { LOG_FIELDS } from './fields.js';
import { otelSeverity, type LogRecord } from './record.js';

export type AnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number }
  | { arrayValue: { values: AnyValue[] } }
  | { kvlistValue: { values: KeyValue[] } };

export interface KeyValue {
  key: string;
  value: AnyValue;
}

export interface OtlpLogRecord {
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber: number;
  severityText: string;
  body: AnyValue;
  attributes: KeyValue[];
  traceId?: string;
  spanId?: string;
  /** W3C trace flags in the 8 low bits (`1`: sampled). */
  flags?: number;
}

export interface OtlpResource {
  serviceName: string;
  hostName: string;
  pid: number;
}

/** Fields that become the resource instead of attributes. */
const RESOURCE_FIELDS = new Set(['pid', 'hostname', 'name']);
/** The names each part of the trace context is read from, first found first. */
const TRACE_ID_FIELDS = [LOG_FIELDS.traceId, 'traceId'] as const;
const SPAN_ID_FIELDS = [LOG_FIELDS.spanId, 'spanId'] as const;
const TRACE_FLAGS_FIELDS = [LOG_FIELDS.traceFlags, 'traceFlags'] as const;
const TRACE_ID_RE = /^[0-9a-f]{32}$/;
const SPAN_ID_RE = /^[0-9a-f]{16}$/;
const TRACE_FLAGS_RE = /^[0-9a-f]{2}$/;
const ALL_ZERO_RE = /^0+$/;
/** Nested objects deeper than this are sent as their JSON text: collectors cap attribute depth. */
const MAX_DEPTH = 8;

export function toAnyValue(value: unknown, depth = 0): AnyValue {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return Number.isSafeInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  if (value === null || value === undefined) return { stringValue: '' };
  if (depth >= MAX_DEPTH) return { stringValue: JSON.stringify(value) };
  if (Array.isArray(value)) return { arrayValue: { values: value.map((v) => toAnyValue(v, depth + 1)) } };
  if (typeof value === 'object') return { kvlistValue: { values: toKeyValues(value as Record<string, unknown>, depth + 1) } };
  return { stringValue: String(value) };
}

function toKeyValues(fields: Record<string, unknown>, depth: number): KeyValue[] {
  const out: KeyValue[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) out.push({ key, value: toAnyValue(value, depth) });
  }
  return out;
}

function msToNanos(ms: number): string {
  return (BigInt(Math.round(ms * 1000)) * 1000n).toString();
}

/** A hex id of the form `re` that is not all zero (the W3C and OTLP "invalid", meaning none). */
function hexId(value: unknown, re: RegExp): string | undefined {
  return typeof value === 'string' && re.test(value) && !ALL_ZERO_RE.test(value) ? value : undefined;
}

/** W3C trace flags as a byte: 2 hex digits (`"01"`, as logged) or a number from 0 to 255. */
function traceFlags(value: unknown): number | undefined {
  if (typeof value === 'string') return TRACE_FLAGS_RE.test(value) ? Number.parseInt(value, 16) : undefined;
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 255 ? value : undefined;
}

/** The first of `names` in `fields` whose value `read` accepts: that name and what it read. */
function firstValid<T>(fields: Record<string, unknown>, names: readonly string[], read: (value: unknown) => T | undefined): [string, T] | undefined {
  for (const name of names) {
    const value = read(fields[name]);
    if (value !== undefined) return [name, value];
  }
  return undefined;
}

export function toOtlpLogRecord(record: LogRecord, observedMs: number): OtlpLogRecord {
  const severity = otelSeverity(record.level);
  const { fields } = record;
  const trace = firstValid(fields, TRACE_ID_FIELDS, (v) => hexId(v, TRACE_ID_RE));
  const span = trace && firstValid(fields, SPAN_ID_FIELDS, (v) => hexId(v, SPAN_ID_RE));
  const flags = trace && firstValid(fields, TRACE_FLAGS_FIELDS, traceFlags);
  const attributes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (!RESOURCE_FIELDS.has(key) && key !== trace?.[0] && key !== span?.[0] && key !== flags?.[0]) attributes[key] = value;
  }
  const out: OtlpLogRecord = {
    timeUnixNano: msToNanos(record.timeMs),
    observedTimeUnixNano: msToNanos(observedMs),
    severityNumber: severity.number,
    severityText: severity.text,
    body: { stringValue: record.msg ?? '' },
    attributes: toKeyValues(attributes, 0),
  };
  if (trace) out.traceId = trace[1];
  if (span) out.spanId = span[1];
  if (flags) out.flags = flags[1];
  return out;
}

/** One export request body: a single resource (this process) and a single scope. */
export function exportRequest(records: readonly OtlpLogRecord[], resource: OtlpResource, scopeName: string): unknown {
  return {
    resourceLogs: [
      {
        resource: {
          attributes: toKeyValues({ 'service.name': resource.serviceName, 'host.name': resource.hostName, 'process.pid': resource.pid }, 0),
        },
        scopeLogs: [{ scope: { name: scopeName }, logRecords: records }],
      },
    ],
  };
}
