/**
 * The security logger under a flood of refusals (OWASP Logging Cheat Sheet: protect logging from
 * denial of service): per client and window the first lines, then one summary with the count —
 * while `onEvent` and the metrics counters see every event, exactly.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../src/core/clock.js';
import { closeLogger, createLogger } from '../../src/ops/logging/index.js';
import { createMetrics, METRIC_NAMES } from '../../src/ops/metrics/index.js';
import { createSecurityLogger } from '../../src/ops/security-logger.js';
import { prng } from '../helpers/prng.js';
import { capture } from '../logging/capture.js';
import { recorder, refusal, summaries, type Written } from './flood-events.js';

const WINDOW = 60_000;

afterEach(() => void vi.useRealTimers());

describe('security logger flood limit', () => {
  it('writes 10 lines and one summary of 990 for 1,000 refusals of one client, while onEvent and the metrics count all 1,000', async () => {
    const clock = manualClock();
    const start = clock.now();
    const logger = recorder();
    const metrics = createMetrics();
    let observed = 0;
    const events = createSecurityLogger({
      logger,
      clock,
      onEvent: (e) => {
        observed++;
        metrics.countSecurityEvent(e);
      },
    });
    for (let i = 0; i < 1000; i++) {
      events.emit(refusal('203.0.113.7', i));
      clock.advance(10);
    }
    expect(logger.lines).toHaveLength(10);
    expect(logger.lines.map((l) => l.fields['request_id'])).toEqual(Array.from({ length: 10 }, (_, i) => `req-${i}`));
    expect(observed).toBe(1000);
    const counter = await metrics.registry.getSingleMetric(METRIC_NAMES.securityEvents)?.get();
    expect(counter?.values.find((v) => v.labels['event'] === 'excess_rate_limit_exceeded')?.value).toBe(1000);

    // The window (60 s from the first line) ends; the next refusal writes the summary first, then itself.
    clock.set(start + WINDOW);
    events.emit(refusal('203.0.113.7', 1000));
    expect(logger.lines).toHaveLength(12);
    const [summary, next] = logger.lines.slice(10) as [Written, Written];
    expect(summary.fields).toMatchObject({
      security_event: true,
      event: 'excess_rate_limit_exceeded',
      event_level: 'WARN',
      source_ip: '203.0.113.7',
      useragent: 'flood/1',
      request_id: 'req-999',
      suppressed: 990,
      suppressed_scope: 'client',
      suppressed_window_start: '2026-01-15T10:30:00.000+00:00',
      suppressed_window_end: '2026-01-15T10:31:00.000+00:00',
    });
    expect(summary.msg).toBe(
      'Rate limit of 60 per 60 s exceeded on counter.increment by an anonymous client (999) (990 more excess_rate_limit_exceeded line(s) from this client not written between 2026-01-15T10:30:00.000+00:00 and 2026-01-15T10:31:00.000+00:00)',
    );
    expect(next.fields['request_id']).toBe('req-1000');
    expect(next.fields['suppressed']).toBeUndefined();
  });

  it('limits two clients independently', () => {
    const logger = recorder();
    const clock = manualClock();
    const events = createSecurityLogger({ logger, clock });
    for (let i = 0; i < 500; i++) for (const ip of ['198.51.100.1', '198.51.100.2']) events.emit(refusal(ip, i));
    expect(logger.lines.map((l) => l.fields['source_ip'])).toEqual(Array.from({ length: 10 }, () => ['198.51.100.1', '198.51.100.2']).flat());
    events.close();
    expect(summaries(logger.lines).map((l) => [l.fields['source_ip'], l.fields['suppressed']])).toEqual([
      ['198.51.100.1', 490],
      ['198.51.100.2', 490],
    ]);
  });

  it('bounds the lines of 20,000 spoofed addresses with the tracked cap, and its summaries add up to exactly what was not written', () => {
    const logger = recorder();
    const events = createSecurityLogger({ logger, clock: manualClock(), floodLimit: { maxClients: 1000 } });
    // Forwarded addresses of kilobytes are cut to 64 characters: the spoofer's key is bounded too.
    for (let i = 0; i < 20_000; i++) events.emit(refusal(`${i}:${'f'.repeat(4000)}`, i, 'malicious_csrf'));
    // 1000 clients of their own (one line each), then one bucket for all the others: its first 10.
    expect(logger.lines).toHaveLength(1000 + 10);
    events.close();
    const [summary, ...more] = summaries(logger.lines);
    expect(more).toEqual([]);
    expect(summary?.fields).toMatchObject({ event: 'malicious_csrf', suppressed: 20_000 - 1010, suppressed_scope: 'all_clients', request_uri: '/api/livecomponents/action' });
    // The count is of 19,000 addresses: none of them is named (security-logger-flood-clients.test.ts).
    expect(summary?.fields['source_ip']).toBeUndefined();
    expect(summary?.fields['request_id']).toBeUndefined();
    expect(summary?.msg).toContain('from clients past the tracked limit');
  });

  it('always writes the audit events (EVENT_LINES: every), such as authn_token_reuse', () => {
    const logger = recorder();
    const events = createSecurityLogger({ logger, clock: manualClock() });
    for (let i = 0; i < 100; i++) events.emit({ ...refusal('203.0.113.7', i), event: 'authn_token_reuse', level: 'CRITICAL' });
    expect(logger.lines).toHaveLength(100);
    events.close();
    expect(logger.lines).toHaveLength(100);
  });

  it('writes every line with floodLimit: false, and refuses a bad floodLimit at creation', () => {
    const logger = recorder();
    const events = createSecurityLogger({ logger, clock: manualClock(), floodLimit: false });
    for (let i = 0; i < 100; i++) events.emit(refusal('203.0.113.7', i));
    expect(logger.lines).toHaveLength(100);
    expect(() => createSecurityLogger({ logger, floodLimit: { linesPerWindow: -1 } })).toThrow(expect.objectContaining({ code: 'LC_INVALID_OPTION' }));
  });

  it('writes a summary once the window ends even when no further refusal comes (the unref\'d sweep timer)', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const clock = manualClock();
    const logger = recorder();
    const events = createSecurityLogger({ logger, clock, floodLimit: { linesPerWindow: 2 } });
    for (let i = 0; i < 5; i++) events.emit(refusal('203.0.113.7', i));
    expect(logger.lines).toHaveLength(2);
    clock.advance(WINDOW - 1);
    vi.advanceTimersByTime(WINDOW - 1);
    expect(logger.lines).toHaveLength(2);
    clock.advance(1);
    vi.advanceTimersByTime(1);
    expect(summaries(logger.lines).map((l) => l.fields['suppressed'])).toEqual([3]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('writes the pending summaries when the logger closes (shutdown), redacted like every line, in json and pretty', async () => {
    for (const format of ['json', 'pretty'] as const) {
      const out = capture();
      const logger = createLogger({ format, stream: out });
      const events = createSecurityLogger({ logger, clock: manualClock() });
      const bearer = 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNlY3JldA';
      for (let i = 0; i < 25; i++) events.emit({ ...refusal('203.0.113.7', i, 'authz_fail'), description: `token check refused ${bearer}` });
      expect(out.text()).not.toContain('suppressed');
      await closeLogger(logger);
      expect(out.text()).not.toContain('eyJhbGciOiJIUzI1NiJ9');
      expect(out.text()).not.toContain('c2lnbmF0dXJlLXNlY3JldA');
      if (format === 'json') {
        const records = out.records().filter((r) => r['security_event'] === true);
        expect(records).toHaveLength(11);
        expect(records[10]).toMatchObject({ event: 'authz_fail', suppressed: 15, suppressed_scope: 'client', description: 'token check refused Bearer [Redacted]' });
        expect(records[10]?.['msg']).toMatch(/^token check refused Bearer \[Redacted\] \(15 more authz_fail line\(s\) from this client/);
      } else {
        expect(out.text()).toContain('suppressed: 15');
      }
      // Closed: later refusals are all written (nothing would summarise them), and close again does nothing.
      events.close();
    }
  });

  it.each([1, 2, 3])('accounts for every event exactly under a random interleaving of clients, events and time (seed %i)', (seed) => {
    const random = prng(seed);
    const clock = manualClock();
    const logger = recorder();
    const events = createSecurityLogger({ logger, clock, floodLimit: { linesPerWindow: 3, windowMs: 1000, maxClients: 20 } });
    const names = ['malicious_csrf', 'authz_fail', 'authn_token_reuse'] as const;
    const emitted: Record<string, number> = {};
    for (let i = 0; i < 20_000; i++) {
      const event = names[Math.floor(random() * names.length)] as (typeof names)[number];
      events.emit(refusal(`10.0.0.${Math.floor(random() * 40)}`, i, event));
      emitted[event] = (emitted[event] ?? 0) + 1;
      clock.advance(Math.floor(random() * 3));
    }
    events.close();
    const written: Record<string, number> = {};
    for (const l of logger.lines) {
      const event = l.fields['event'] as string;
      written[event] = (written[event] ?? 0) + ((l.fields['suppressed'] as number | undefined) ?? 1);
    }
    // Each event is a line or counted in exactly one summary; the audit event is never summarised.
    expect(written).toEqual(emitted);
    expect(logger.lines.filter((l) => l.fields['event'] === 'authn_token_reuse' && l.fields['suppressed'] !== undefined)).toEqual([]);
    // And the refusals were summarised: at most 3 lines per window of 1 s for each of 20 tracked
    // clients and 2 buckets, per event (~20 s of clock here), far below one line each.
    const refusalLines = logger.lines.filter((l) => l.fields['event'] !== 'authn_token_reuse').length;
    const refusals = (emitted['malicious_csrf'] ?? 0) + (emitted['authz_fail'] ?? 0);
    expect(refusalLines).toBeLessThan(refusals / 4);
  });
});
