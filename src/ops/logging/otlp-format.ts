/**
 * pino records as OTLP/HTTP JSON (opentelemetry-proto `ExportLogsServiceRequest`, JSON encoding):
 * `resourceLogs[].scopeLogs[].logRecords[]`. Pure functions; the exporter batches and sends.
 *
 * JSON-encoding rules followed here: 64-bit integers (`timeUnixNano`, `intValue`) are decimal
 * strings; `traceId`/`spanId` are lowercase hex (not base64, unlike the generic protobuf mapping).
 */
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
}

export interface OtlpResource {
  serviceName: string;
  hostName: string;
  pid: number;
}

/** Fields that become the record's own header, or the resource, instead of attributes. */
const HEADER_FIELDS = new Set(['pid', 'hostname', 'name', 'trace_id', 'traceId', 'span_id', 'spanId', 'trace_flags']);
const TRACE_ID_RE = /^[0-9a-f]{32}$/;
const SPAN_ID_RE = /^[0-9a-f]{16}$/;
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

export function toOtlpLogRecord(record: LogRecord, observedMs: number): OtlpLogRecord {
  const severity = otelSeverity(record.level);
  const attributes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record.fields)) {
    if (!HEADER_FIELDS.has(key)) attributes[key] = value;
  }
  const out: OtlpLogRecord = {
    timeUnixNano: msToNanos(record.timeMs),
    observedTimeUnixNano: msToNanos(observedMs),
    severityNumber: severity.number,
    severityText: severity.text,
    body: { stringValue: record.msg ?? '' },
    attributes: toKeyValues(attributes, 0),
  };
  const traceId = record.fields['trace_id'] ?? record.fields['traceId'];
  const spanId = record.fields['span_id'] ?? record.fields['spanId'];
  if (typeof traceId === 'string' && TRACE_ID_RE.test(traceId)) out.traceId = traceId;
  if (typeof spanId === 'string' && SPAN_ID_RE.test(spanId)) out.spanId = spanId;
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
