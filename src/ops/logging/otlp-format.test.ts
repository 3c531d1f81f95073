/**
 * The trace context of a record as the OTLP LogRecord's own `traceId`, `spanId` and `flags`: moved
 * only when well-formed and with a trace id, never also an attribute, and never lost when not moved.
 * The exporter is tested in test/logging/otlp.test.ts, the request logger's fields end to end in
 * test/logging/trace-context.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { toOtlpLogRecord } from './otlp-format.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

/** The trace header of the record made from `fields`, and its attributes' keys. */
function traced(fields: Record<string, unknown>): { header: Record<string, unknown>; attributes: string[] } {
  const r = toOtlpLogRecord({ level: 30, timeMs: 0, msg: 'm', fields: { request_id: 'r-1', ...fields } }, 0);
  const header: Record<string, unknown> = {};
  if (r.traceId !== undefined) header['traceId'] = r.traceId;
  if (r.spanId !== undefined) header['spanId'] = r.spanId;
  if (r.flags !== undefined) header['flags'] = r.flags;
  return { header, attributes: r.attributes.map((a) => a.key) };
}

describe('OTLP trace context', () => {
  it('moves trace_id, span_id and trace_flags into traceId, spanId and flags (a number), and out of the attributes', () => {
    expect(traced({ trace_id: TRACE, span_id: SPAN, trace_flags: '01' })).toEqual({ header: { traceId: TRACE, spanId: SPAN, flags: 1 }, attributes: ['request_id'] });
    expect(traced({ trace_id: TRACE, span_id: SPAN, trace_flags: '00' }).header).toEqual({ traceId: TRACE, spanId: SPAN, flags: 0 });
    expect(traced({ trace_id: TRACE, span_id: SPAN, trace_flags: 'ff' }).header).toEqual({ traceId: TRACE, spanId: SPAN, flags: 255 });
    // instrumentation-pino's camelCase keys (its `logKeys` example), and flags as a number.
    expect(traced({ traceId: TRACE, spanId: SPAN, traceFlags: 1 })).toEqual({ header: { traceId: TRACE, spanId: SPAN, flags: 1 }, attributes: ['request_id'] });
  });

  it('keeps what is not a valid trace context as attributes, moving nothing of it', () => {
    // An all-zero id means no trace (W3C and OTLP alike); uppercase and wrong lengths are not ids.
    for (const trace_id of ['0'.repeat(32), TRACE.toUpperCase(), TRACE.slice(1), 42]) {
      expect(traced({ trace_id, span_id: SPAN, trace_flags: '01' })).toEqual({ header: {}, attributes: ['request_id', 'trace_id', 'span_id', 'trace_flags'] });
    }
    // A span or flags without a trace id: the data model pairs them with one.
    expect(traced({ span_id: SPAN, trace_flags: '01' })).toEqual({ header: {}, attributes: ['request_id', 'span_id', 'trace_flags'] });
    // With a trace id, an invalid span or flags alone stays an attribute.
    expect(traced({ trace_id: TRACE, span_id: '0'.repeat(16), trace_flags: '1' })).toEqual({ header: { traceId: TRACE }, attributes: ['request_id', 'span_id', 'trace_flags'] });
    expect(traced({ trace_id: TRACE, trace_flags: 256 })).toEqual({ header: { traceId: TRACE }, attributes: ['request_id', 'trace_flags'] });
    expect(traced({ trace_id: TRACE, trace_flags: '0F' })).toEqual({ header: { traceId: TRACE }, attributes: ['request_id', 'trace_flags'] });
  });
});
