import { describe, expect, it } from 'vitest';
import { parseLine } from '../../src/ops/logging/record.js';
import { fitDatagram, formatSyslog, headerField, octetFrame, syslogPri } from '../../src/ops/logging/syslog-format.js';

const FIELDS = { facility: 16, hostname: 'web-1', appName: 'shop', procId: '4242' };
const line = (o: object): string => `${JSON.stringify(o)}\n`;

describe('RFC 5424 formatting', () => {
  it('maps pino levels to PRI = facility × 8 + severity', () => {
    expect([10, 20, 30, 40, 50, 60].map((level) => syslogPri(16, level))).toEqual([135, 135, 134, 132, 131, 130]);
    expect(syslogPri(1, 30)).toBe(14);
  });

  it('writes header fields as printable ASCII, cut to their RFC lengths, NILVALUE when empty', () => {
    expect(headerField('my host\tname', 255)).toBe('myhostname');
    expect(headerField('é', 48)).toBe('-');
    expect(headerField(undefined, 32)).toBe('-');
    expect(headerField('a'.repeat(60), 48)).toBe('a'.repeat(48));
  });

  it('formats a record: the time of the line, MSGID from a security event, the JSON as MSG', () => {
    const text = line({ level: 40, time: '2026-01-15T10:30:00.123Z', security_event: true, event: 'malicious_csrf', msg: 'refused' });
    const message = formatSyslog(text, parseLine(text), FIELDS).toString('utf8');
    expect(message).toBe(`<132>1 2026-01-15T10:30:00.123Z web-1 shop 4242 malicious_csrf - ${text.trimEnd()}`);
    const plain = line({ level: 30, time: '2026-01-15T10:30:00.000Z', event: 'not-security', msg: 'x' });
    expect(formatSyslog(plain, parseLine(plain), FIELDS).toString('utf8')).toMatch(/^<134>1 \S+ web-1 shop 4242 - - \{/);
  });

  it('frames with the byte length, not the character count (RFC 6587 octet counting)', () => {
    const message = Buffer.from('<134>1 - - - - - - café', 'utf8');
    expect(octetFrame(message).toString('utf8')).toBe(`${message.length} <134>1 - - - - - - café`);
    expect(message.length).toBe(24);
  });

  it('shortens an oversized datagram to a smaller JSON record that still parses', () => {
    const text = line({ level: 50, time: '2026-01-15T10:30:00.000Z', request_id: 'r-1', stack: 's'.repeat(3000), msg: 'boom' });
    const datagram = fitDatagram(text, parseLine(text), FIELDS, 480);
    expect(datagram.length).toBeLessThanOrEqual(480);
    const msg = datagram.toString('utf8').replace(/^(\S+ ){7}/, '');
    expect(JSON.parse(msg)).toEqual({
      level: 50,
      time: '2026-01-15T10:30:00.000Z',
      msg: 'boom',
      request_id: 'r-1',
      truncated: true,
      original_bytes: Buffer.byteLength(formatSyslog(text, parseLine(text), FIELDS)),
    });
  });

  it('cuts the message itself when even the short record is too long, keeping valid UTF-8 and JSON', () => {
    const text = line({ level: 30, time: '2026-01-15T10:30:00.000Z', msg: 'é'.repeat(2000) });
    const datagram = fitDatagram(text, parseLine(text), FIELDS, 480);
    expect(datagram.length).toBeLessThanOrEqual(480);
    const parsed = JSON.parse(datagram.toString('utf8').replace(/^(\S+ ){7}/, '')) as { msg: string; truncated: boolean };
    expect(parsed.truncated).toBe(true);
    expect(parsed.msg.length).toBeGreaterThan(0);
    expect(/^é+$/.test(parsed.msg)).toBe(true);
  });
});

describe('shortened datagrams keep the trace context', () => {
  it('keeps trace_id, span_id and trace_flags beside request_id, so a cut line still leads to its trace', () => {
    const trace = { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7', trace_flags: '01' };
    const text = line({ level: 50, time: '2026-01-15T10:30:00.000Z', request_id: 'r-1', ...trace, stack: 's'.repeat(3000), msg: 'boom' });
    const datagram = fitDatagram(text, parseLine(text), FIELDS, 480);
    expect(datagram.length).toBeLessThanOrEqual(480);
    expect(JSON.parse(datagram.toString('utf8').replace(/^(\S+ ){7}/, ''))).toEqual({
      level: 50,
      time: '2026-01-15T10:30:00.000Z',
      msg: 'boom',
      request_id: 'r-1',
      ...trace,
      truncated: true,
      original_bytes: Buffer.byteLength(formatSyslog(text, parseLine(text), FIELDS)),
    });

    // A trace field an app logged as long text is left out: it would crowd the message out.
    const long = line({ level: 30, time: '2026-01-15T10:30:00.000Z', trace_id: 't'.repeat(1000), span_id: 42, msg: 'kept' });
    const parsed = JSON.parse(fitDatagram(long, parseLine(long), FIELDS, 480).toString('utf8').replace(/^(\S+ ){7}/, '')) as Record<string, unknown>;
    expect(parsed['msg']).toBe('kept');
    expect(parsed).not.toHaveProperty('trace_id');
    expect(parsed).not.toHaveProperty('span_id');
  });
});
