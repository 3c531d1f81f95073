/**
 * The security logger's request-supplied fields: bounded, and free of control characters that
 * would steer a terminal or split a line in the pretty, syslog and file formats.
 */
import { describe, expect, it } from 'vitest';
import { closeLogger, createLogger } from '../../src/ops/logging/index.js';
import type { SecurityEvent } from '../../src/ops/security-events.js';
import { createSecurityLogger, escapeControls, type EventLogger } from '../../src/ops/security-logger.js';
import { capture } from '../logging/capture.js';

interface Written {
  fields: Record<string, unknown>;
  msg: string;
}

/** An EventLogger keeping what it was given. */
function recorder(): EventLogger & { lines: Written[] } {
  const lines: Written[] = [];
  const keep = (fields: object, msg: string): void => void lines.push({ fields: fields as Record<string, unknown>, msg });
  return { lines, info: keep, warn: keep, error: keep };
}

function emitted(request: SecurityEvent['request'], description = 'CORS: origin refused'): Written {
  const logger = recorder();
  createSecurityLogger({ logger }).emit({ event: 'malicious_cors', level: 'WARN', description, request });
  expect(logger.lines).toHaveLength(1);
  return logger.lines[0] as Written;
}

const request = (over: Partial<NonNullable<SecurityEvent['request']>> = {}): NonNullable<SecurityEvent['request']> => ({
  ip: '203.0.113.7',
  method: 'POST',
  url: '/api/livecomponents/action',
  headers: {},
  requestId: 'req-1',
  ...over,
});

describe('security event fields', () => {
  it('writes at most 64 characters of source_ip (a forwarded address can be kilobytes)', () => {
    const line = emitted(request({ ip: '1'.repeat(8000) }));
    expect(line.fields['source_ip']).toBe('1'.repeat(64));
    const v6 = 'fe80:0000:0000:0000:0000:0000:0000:0001%enp0s31f6';
    expect(emitted(request({ ip: v6 })).fields['source_ip']).toBe(v6);
  });

  it('escapes C0 and C1 controls in source_ip, useragent, request_uri and description', () => {
    const line = emitted(
      request({ ip: '1.2.3.4\u009b31m', url: '/a\u0085b?q=\u009b', headers: { 'user-agent': 'curl\u009b2J\u001b[0m\u0085x\u2028y\u007f' } }),
      'CORS: origin "https://evil.example\u009b2J\r\nforged" refused',
    );
    expect(line.fields['source_ip']).toBe('1.2.3.4\\u009b31m');
    expect(line.fields['request_uri']).toBe('/a\\u0085b');
    expect(line.fields['useragent']).toBe('curl\\u009b2J\\u001b[0m\\u0085x\\u2028y\\u007f');
    expect(line.fields['description']).toBe('CORS: origin "https://evil.example\\u009b2J\\u000d\\u000aforged" refused');
    expect(line.msg).toBe(line.fields['description']);
  });

  it('keeps clean text as it is, including non-ASCII letters', () => {
    const line = emitted(request({ headers: { 'user-agent': 'Mozilla/5.0 (Wïndows) Ünïcode ✓' } }), 'Sign-in failed for zoë');
    expect(line.fields['useragent']).toBe('Mozilla/5.0 (Wïndows) Ünïcode ✓');
    expect(line.fields['description']).toBe('Sign-in failed for zoë');
    expect(escapeControls('tab\there')).toBe('tab\\u0009here');
    // A backslash is escaped too: the text `\u000d` a client sent cannot pass for an escaped CR.
    expect(escapeControls('a\\u000d')).toBe('a\\\\u000d');
    expect(escapeControls('\r')).not.toBe(escapeControls('\\u000d'));
  });

  it('cuts the user agent at 256 characters before escaping, so one escape is never split', () => {
    const ua = `${'a'.repeat(255)}\u009b${'b'.repeat(100)}`;
    expect(emitted(request({ headers: { 'user-agent': ua } })).fields['useragent']).toBe(`${'a'.repeat(255)}\\u009b`);
  });

  it('lets no C1 control reach a pretty line', async () => {
    const out = capture();
    const logger = createLogger({ format: 'pretty', stream: out });
    createSecurityLogger({ logger }).emit({
      event: 'malicious_cors',
      level: 'WARN',
      description: 'origin "x\u009b2J" refused',
      request: request({ headers: { 'user-agent': 'ua\u0085next' } }),
    });
    await closeLogger(logger);
    expect(out.text()).not.toMatch(/[\u0080-\u009f]/);
    expect(out.text()).toContain('WARN: origin "x\\u009b2J" refused\n');
  });
});

describe('security event trace context', () => {
  const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
  const PARENT = '00f067aa0ba902b7';

  it('carries trace_id, span_id and trace_flags of a valid traceparent, as the request\'s other lines do, and nothing of an invalid one', () => {
    const traced = emitted(request({ headers: { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'congo=t61rcWkgMzE' } }));
    expect(traced.fields).toMatchObject({ request_id: 'req-1', trace_id: TRACE, span_id: PARENT, trace_flags: '01' });
    // tracestate is not read, and the header text itself is never written.
    expect(JSON.stringify(traced.fields)).not.toContain('congo');
    expect(JSON.stringify(traced.fields)).not.toContain('traceparent');

    for (const headers of [{}, { traceparent: `00-${TRACE.toUpperCase()}-${PARENT}-01` }, { traceparent: `00-${TRACE}-${PARENT}-01-x` }, { traceparent: [`00-${TRACE}-${PARENT}-01`] }, { traceparent: `${'\u009b'.repeat(60)}` }]) {
      const line = emitted(request({ headers }));
      expect(Object.keys(line.fields).filter((k) => /trace|span/.test(k)).map((k) => [k, line.fields[k]]).filter(([, v]) => v !== undefined)).toEqual([]);
    }
    // An event outside any request has none either.
    expect(emitted(undefined).fields['trace_id']).toBeUndefined();
  });
});
