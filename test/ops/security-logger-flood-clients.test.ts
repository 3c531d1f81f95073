/**
 * Who counts as one client under the security logger's flood limit, and what a summary may say of
 * them: an IPv6 host's network is one client (as for rate limiting), a summary of the shared bucket
 * names no client, and the sweep timer keeps summarising however early it fires by the clock.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../src/core/clock.js';
import { createSecurityLogger } from '../../src/ops/security-logger.js';
import { recorder, refusal, summaries } from './flood-events.js';

const WINDOW = 60_000;

afterEach(() => void vi.useRealTimers());

describe('security logger flood limit: clients', () => {
  it('counts an IPv6 /56 as one client: 20,000 addresses of one host write 10 lines, and other clients keep their own lines', () => {
    const logger = recorder();
    const events = createSecurityLogger({ logger, clock: manualClock() });
    // One host, one /64, a fresh address per request (privacy addresses, or chosen at will).
    for (let i = 0; i < 20_000; i++) events.emit(refusal(`2001:db8:0:1:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}:0:1`, i));
    expect(logger.lines).toHaveLength(10);
    // Counted one by one, those addresses filled the 10,000 tracked clients: these two would have
    // shared the bucket whose 10 lines the flood had already used, and written nothing.
    events.emit(refusal('198.51.100.9', 20_000));
    events.emit(refusal('2001:db8:1::5', 20_001));
    expect(logger.lines.slice(10).map((l) => l.fields['source_ip'])).toEqual(['198.51.100.9', '2001:db8:1::5']);
    events.close();
    const [summary, ...more] = summaries(logger.lines);
    expect(more).toEqual([]);
    expect(summary?.fields).toMatchObject({ suppressed: 19_990, suppressed_scope: 'client', suppressed_client: '2001:db8::/56', request_id: 'req-19999' });
    // Its lines came from 19,990 addresses: the message names the network, not "this client".
    expect(summary?.msg).toContain('(19990 more excess_rate_limit_exceeded line(s) from 2001:db8::/56 not written between');
  });

  it('counts single IPv6 addresses with ipv6PrefixLength: 128, and an IPv4 address as itself', () => {
    const logger = recorder();
    const events = createSecurityLogger({ logger, clock: manualClock(), floodLimit: { linesPerWindow: 1, ipv6PrefixLength: 128 } });
    for (const ip of ['2001:db8::1', '2001:db8::2', '2001:db8::1', '203.0.113.7', '203.0.113.7']) events.emit(refusal(ip));
    expect(logger.lines.map((l) => l.fields['source_ip'])).toEqual(['2001:db8::1', '2001:db8::2', '203.0.113.7']);
    events.close();
    expect(summaries(logger.lines).map((l) => [l.fields['suppressed_client'], l.msg.includes('from this client')])).toEqual([
      ['2001:db8::1', true],
      ['203.0.113.7', true],
    ]);
  });

  it('names no client on a summary of the shared bucket: its count is of many clients, not of the last one', () => {
    const logger = recorder();
    const events = createSecurityLogger({ logger, clock: manualClock(), floodLimit: { maxClients: 1 } });
    events.emit(refusal('198.51.100.1', 0, 'malicious_csrf'));
    // Past the cap: a spoofer's 60 refusals share the bucket (10 written, 50 counted)...
    for (let i = 1; i <= 60; i++) events.emit(refusal(`10.0.${i >> 8}.${i & 255}`, i, 'malicious_csrf'));
    // ... then one refusal of a legitimate client, the last counted, with its trace context.
    const legit = refusal('192.0.2.44', 61, 'malicious_csrf');
    const headers = { ...legit.request?.headers, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
    events.emit({ ...legit, request: legit.request && { ...legit.request, headers } });
    expect(logger.lines).toHaveLength(11);
    events.close();
    const [summary, ...more] = summaries(logger.lines);
    expect(more).toEqual([]);
    expect(summary?.fields).toMatchObject({ event: 'malicious_csrf', suppressed: 51, suppressed_scope: 'all_clients', request_uri: '/api/livecomponents/action' });
    for (const field of ['source_ip', 'useragent', 'request_id', 'trace_id', 'span_id', 'trace_flags', 'suppressed_client']) expect(summary?.fields[field], field).toBeUndefined();
    expect(summary?.msg).toContain('(51 more malicious_csrf line(s) from clients past the tracked limit not written between');
  });

  it('writes the summary even when its sweep timer fires before the window ends by the clock (Node counts timers from the loop\'s cached time)', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const clock = manualClock();
    const logger = recorder();
    const events = createSecurityLogger({ logger, clock, floodLimit: { linesPerWindow: 2 } });
    for (let i = 0; i < 5; i++) events.emit(refusal('203.0.113.7', i));
    // The timer fires when the clock still reads 3 ms before the window's end: nothing to write yet.
    clock.advance(WINDOW - 3);
    vi.advanceTimersByTime(WINDOW);
    expect(logger.lines).toHaveLength(2);
    // No further refusal comes: the next sweep (asked for again, 1 s on) writes the summary.
    clock.advance(1000);
    vi.advanceTimersByTime(1000);
    expect(summaries(logger.lines).map((l) => l.fields['suppressed'])).toEqual([3]);
    expect(vi.getTimerCount()).toBe(0);
    events.close();
  });
});
