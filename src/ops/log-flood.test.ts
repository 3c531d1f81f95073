/**
 * The flood limiter alone: exact counts per window, independent clients, the cap on tracked clients
 * under a spoofed-address flood, and the sweeps that end windows.
 */
import { describe, expect, it } from 'vitest';
import { createFloodLimiter, FLOOD_LIMIT_DEFAULTS, resolveFloodLimit, type FloodSummary, type ResolvedFloodLimit } from './log-flood.js';

const WINDOW = 60_000;
const T0 = 1_000_000;

function limiter(limit: Omit<ResolvedFloodLimit, 'ipv6PrefixLength'> = FLOOD_LIMIT_DEFAULTS) {
  const summaries: { last: string; summary: FloodSummary }[] = [];
  const scheduled: number[] = [];
  const flood = createFloodLimiter<string>(limit, (last, summary) => void summaries.push({ last, summary }), (ms) => void scheduled.push(ms));
  return { flood, summaries, scheduled };
}

describe('createFloodLimiter', () => {
  it('admits the first 10 lines of one client in a window, counts the other 990, and summarises them once the window ended', () => {
    const { flood, summaries, scheduled } = limiter();
    const admitted = Array.from({ length: 1000 }, (_, i) => flood.admit('malicious_csrf', '203.0.113.7', `line ${i}`, T0 + i)).filter(Boolean).length;
    expect(admitted).toBe(10);
    expect(summaries).toEqual([]);
    // One sweep asked for, at the window's end (from the first line counted, at T0 + 10), not one per counted line.
    expect(scheduled).toEqual([WINDOW - 10]);
    flood.sweep(T0 + WINDOW - 1);
    expect(summaries).toEqual([]);
    flood.sweep(T0 + WINDOW);
    expect(summaries).toEqual([{ last: 'line 999', summary: { suppressed: 990, scope: 'client', client: '203.0.113.7', start: T0, end: T0 + WINDOW } }]);
    expect(flood.tracked).toBe(0);
    // A sweep again writes nothing more; a new window admits 10 again.
    flood.sweep(T0 + 2 * WINDOW);
    expect(summaries).toHaveLength(1);
    expect(Array.from({ length: 11 }, () => flood.admit('malicious_csrf', '203.0.113.7', 'again', T0 + 2 * WINDOW)).filter(Boolean)).toHaveLength(10);
  });

  it('keeps clients and events apart', () => {
    const { flood, summaries } = limiter();
    let admitted = 0;
    for (let i = 0; i < 300; i++) {
      for (const client of ['198.51.100.1', '198.51.100.2']) for (const event of ['malicious_csrf', 'excess_rate_limit_exceeded']) if (flood.admit(event, client, `${event} ${client} ${i}`, T0)) admitted++;
    }
    expect(admitted).toBe(40);
    flood.sweep(T0 + WINDOW);
    expect(summaries.map((s) => [s.last, s.summary.suppressed, s.summary.scope]).sort()).toEqual([
      ['excess_rate_limit_exceeded 198.51.100.1 299', 290, 'client'],
      ['excess_rate_limit_exceeded 198.51.100.2 299', 290, 'client'],
      ['malicious_csrf 198.51.100.1 299', 290, 'client'],
      ['malicious_csrf 198.51.100.2 299', 290, 'client'],
    ]);
  });

  it('tracks at most maxClients under 20,000 spoofed addresses; the rest share one bucket per event, and the summaries add up exactly', () => {
    const cap = 1000;
    const { flood, summaries } = limiter({ linesPerWindow: 3, windowMs: WINDOW, maxClients: cap });
    let admitted = 0;
    let counted = 0;
    let mostTracked = 0;
    // Each spoofed address sends 2 lines of each of two events (all under 3: only the cap limits them).
    for (let i = 0; i < 20_000; i++) {
      for (const event of ['malicious_csrf', 'malicious_cors']) {
        for (let n = 0; n < 2; n++) {
          if (flood.admit(event, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, `${event} ${i}`, T0 + i)) admitted++;
          else counted++;
        }
      }
      mostTracked = Math.max(mostTracked, flood.tracked);
    }
    expect(mostTracked).toBe(cap);
    // 1000 keys: the first 500 addresses × 2 events, 2 lines each; then each event's bucket: 3 lines.
    expect(admitted).toBe(cap * 2 + 2 * 3);
    expect(counted).toBe(20_000 * 4 - admitted);
    flood.flush(T0 + 20_000);
    expect(summaries.map((s) => s.summary.scope)).toEqual(['all_clients', 'all_clients']);
    expect(summaries.reduce((sum, s) => sum + s.summary.suppressed, 0)).toBe(counted);
    expect(summaries.map((s) => s.last).sort()).toEqual(['malicious_cors 19999', 'malicious_csrf 19999']);
    expect(flood.tracked).toBe(0);
  });

  it('frees room as windows end: a client past the cap gets its own window again', () => {
    const { flood, summaries } = limiter({ linesPerWindow: 1, windowMs: WINDOW, maxClients: 2 });
    expect(flood.admit('authz_fail', 'a', 'a1', T0)).toBe(true);
    expect(flood.admit('authz_fail', 'b', 'b1', T0 + 1)).toBe(true);
    expect(flood.admit('authz_fail', 'c', 'c1', T0 + 2)).toBe(true); // the bucket's one line
    expect(flood.admit('authz_fail', 'd', 'd1', T0 + 3)).toBe(false);
    expect(flood.tracked).toBe(2);
    // a's window ended (b's not): room for d, whose line is written in a window of its own.
    expect(flood.admit('authz_fail', 'd', 'd2', T0 + WINDOW)).toBe(true);
    expect(flood.tracked).toBe(2);
    expect(flood.admit('authz_fail', 'd', 'd3', T0 + WINDOW)).toBe(false);
    expect(summaries).toEqual([]);
    // The bucket's window ends: its count is summarised apart from d's own.
    flood.sweep(T0 + WINDOW + 2);
    expect(summaries).toEqual([{ last: 'd1', summary: { suppressed: 1, scope: 'all_clients', client: undefined, start: T0 + 2, end: T0 + WINDOW + 2 } }]);
    flood.flush(T0 + WINDOW + 3);
    expect(summaries[1]).toEqual({ last: 'd3', summary: { suppressed: 1, scope: 'client', client: 'd', start: T0 + WINDOW, end: T0 + WINDOW + 3 } });
  });

  it('ends a window when the clock goes back, and summarises a window cut short at flush with its real end', () => {
    const { flood, summaries } = limiter({ linesPerWindow: 1, windowMs: WINDOW, maxClients: 10 });
    flood.admit('authz_fail', 'a', 'a1', T0);
    flood.admit('authz_fail', 'a', 'a2', T0 + 10);
    flood.admit('authz_fail', 'a', 'a2b', T0 + 20);
    expect(flood.admit('authz_fail', 'a', 'a3', T0 - 5_000)).toBe(true);
    // The lines not written came until T0 + 20: a window said to end at its start would claim none did.
    expect(summaries).toEqual([{ last: 'a2b', summary: { suppressed: 2, scope: 'client', client: 'a', start: T0, end: T0 + 20 } }]);
    flood.admit('authz_fail', 'a', 'a4', T0 - 4_000);
    flood.flush(T0 - 3_000);
    expect(summaries[1]).toEqual({ last: 'a4', summary: { suppressed: 1, scope: 'client', client: 'a', start: T0 - 5_000, end: T0 - 3_000 } });
  });

  it('asks for another sweep while windows still hold counted lines', () => {
    const { flood, summaries, scheduled } = limiter({ linesPerWindow: 1, windowMs: WINDOW, maxClients: 10 });
    flood.admit('authz_fail', 'a', 'a1', T0);
    flood.admit('authz_fail', 'a', 'a2', T0);
    flood.admit('authz_fail', 'b', 'b1', T0 + 30_000);
    flood.admit('authz_fail', 'b', 'b2', T0 + 30_000);
    expect(scheduled).toEqual([WINDOW]);
    flood.sweep(T0 + WINDOW);
    expect(summaries.map((s) => s.last)).toEqual(['a2']);
    expect(scheduled).toEqual([WINDOW, 30_000]);
    flood.sweep(T0 + WINDOW + 30_000);
    expect(summaries.map((s) => s.last)).toEqual(['a2', 'b2']);
    expect(scheduled).toHaveLength(2);
  });

  it('asks again when its timer fires before the due time by the clock (a busy loop, a clock set back), so the summary still comes', () => {
    const { flood, summaries, scheduled } = limiter({ linesPerWindow: 1, windowMs: WINDOW, maxClients: 10 });
    flood.admit('authz_fail', 'a', 'a1', T0);
    flood.admit('authz_fail', 'a', 'a2', T0);
    expect(scheduled).toEqual([WINDOW]);
    // Node counts a timer from the loop's cached time: after 5 ms of work in that turn it fires 5 ms
    // early by the clock. Nothing has ended yet; another sweep is asked for (the least delay, 1 s).
    flood.sweep(T0 + WINDOW - 5);
    expect(summaries).toEqual([]);
    expect(scheduled).toEqual([WINDOW, 1000]);
    flood.sweep(T0 + WINDOW + 995);
    expect(summaries.map((s) => [s.last, s.summary.suppressed])).toEqual([['a2', 1]]);
    // The clock set back an hour while a window counts: the timer's sweep ends it and the next one is asked for.
    flood.admit('authz_fail', 'b', 'b1', T0 + 2 * WINDOW);
    flood.admit('authz_fail', 'b', 'b2', T0 + 2 * WINDOW);
    flood.sweep(T0 + 2 * WINDOW - 3_600_000 + WINDOW);
    expect(summaries.map((s) => s.last)).toEqual(['a2', 'b2']);
    flood.admit('authz_fail', 'c', 'c1', T0 - 3_600_000 + 3 * WINDOW);
    flood.admit('authz_fail', 'c', 'c2', T0 - 3_600_000 + 3 * WINDOW);
    expect(scheduled).toEqual([WINDOW, 1000, WINDOW, WINDOW]);
  });
});

describe('resolveFloodLimit', () => {
  it('takes the defaults and whole numbers within bounds', () => {
    expect(resolveFloodLimit(undefined)).toEqual({ linesPerWindow: 10, windowMs: 60_000, maxClients: 10_000, ipv6PrefixLength: 56 });
    expect(resolveFloodLimit({ linesPerWindow: 1, windowMs: 1000, ipv6PrefixLength: 128 })).toEqual({ linesPerWindow: 1, windowMs: 1000, maxClients: 10_000, ipv6PrefixLength: 128 });
  });

  it.each([
    [{ linesPerWindow: 0 }, 'floodLimit.linesPerWindow must be a whole number from 1'],
    [{ linesPerWindow: 2.5 }, 'floodLimit.linesPerWindow must be a whole number from 1'],
    [{ maxClients: 2_000_000 }, 'floodLimit.maxClients must be a whole number from 1 to 1000000'],
    [{ maxClients: '10' }, 'floodLimit.maxClients must be a whole number'],
    [{ windowMs: 0 }, 'floodLimit.windowMs'],
    [{ windowMs: 2 ** 31 }, 'floodLimit.windowMs'],
    [{ lines: 5 }, 'floodLimit.lines is not an option'],
    [{ ipv6PrefixLength: 16 }, 'floodLimit.ipv6PrefixLength must be a whole number from 32 to 128'],
    [{ ipv6PrefixLength: 129 }, 'floodLimit.ipv6PrefixLength must be a whole number from 32 to 128'],
    ['on', 'floodLimit must be an object or false'],
  ])('refuses %j with LC_INVALID_OPTION', (option, message) => {
    expect(() => resolveFloodLimit(option as never)).toThrow(expect.objectContaining({ code: 'LC_INVALID_OPTION', message: expect.stringContaining(message) as unknown }));
  });
});
