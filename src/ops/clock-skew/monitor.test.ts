import { afterEach, describe, expect, it, vi } from 'vitest';
import { startClockSkewMonitor, type ClockSkewMonitor } from './monitor.js';

const MINUTE = 60_000;

/** A log that keeps its lines as "level: message". */
function capturedLog() {
  const lines: string[] = [];
  return {
    lines,
    info: (m: string) => void lines.push(`info: ${m}`),
    warn: (m: string) => void lines.push(`warn: ${m}`),
    error: (m: string) => void lines.push(`error: ${m}`),
  };
}

describe('startClockSkewMonitor', () => {
  let monitor: ClockSkewMonitor | undefined;
  afterEach(() => {
    monitor?.stop();
    vi.useRealTimers();
  });

  /**
   * Services whose clocks are `offsets` ms behind ours (a fixed local time: the skew is exact; an
   * offset deleted: the service does not answer). The start-up check runs at once: the first
   * `checkNow()` joins it.
   */
  function start(offsets: { redis?: number; postgresql?: number }, extra: { intervalMs?: number } = {}) {
    const log = capturedLog();
    const gauge: [string, number][] = [];
    const local = 1_800_000_000_000;
    const sources = (Object.keys(offsets) as ('redis' | 'postgresql')[]).map((service) => ({
      service,
      read: async () => {
        const offset = offsets[service];
        if (offset === undefined) throw new Error('down');
        return local - offset;
      },
    }));
    monitor = startClockSkewMonitor({ sources, log, errorOverMs: 5 * MINUTE, now: () => local, onSkew: (s, seconds) => void gauge.push([s, seconds]), ...extra });
    return { log, gauge, monitor };
  }

  it('logs nothing for clocks within 1 s, and hands every reading to the gauge, in seconds', async () => {
    const { log, gauge, monitor } = start({ redis: 999, postgresql: -1_000 });
    await monitor.checkNow();
    expect(log.lines).toEqual([]);
    expect(gauge).toEqual([
      ['redis', 0.999],
      ['postgresql', -1],
    ]);
  });

  it('warns once past 1 s, errors once past the margin, says when it is back: once per change, not every check', async () => {
    const offsets: { redis?: number } = { redis: 1_001 };
    const { log, monitor } = start(offsets);
    await monitor.checkNow();
    await monitor.checkNow();
    await monitor.checkNow();
    expect(log.lines).toEqual([
      "warn: clock: this machine's clock is 1001 ms ahead of Redis (over 1000 ms): token lifetimes and idempotency replays count on instances agreeing on the time; sync the clock with NTP",
    ]);
    offsets.redis = -86_400_000;
    await monitor.checkNow();
    await monitor.checkNow();
    offsets.redis = 0;
    await monitor.checkNow();
    await monitor.checkNow();
    expect(log.lines.slice(1)).toEqual([
      "error: clock: this machine's clock is 86400 s behind Redis (over 300 s): tokens this instance mints live that much too long or too short on every instance, and the token clean-up refuses to run here; sync the clock with NTP",
      'info: clock: back within 1000 ms of Redis',
    ]);
  });

  it('a service that does not answer is skipped: no line, no reading, and its state is kept', async () => {
    const offsets: { postgresql?: number } = { postgresql: 2_000 };
    const { log, gauge, monitor } = start(offsets);
    await monitor.checkNow();
    delete offsets.postgresql;
    await monitor.checkNow();
    offsets.postgresql = 2_500;
    await monitor.checkNow();
    expect(log.lines).toHaveLength(1);
    expect(gauge).toEqual([
      ['postgresql', 2],
      ['postgresql', 2.5],
    ]);
  });

  it('checks at start-up and then every interval, on a timer that keeps no process alive', async () => {
    vi.useFakeTimers();
    const unref = vi.spyOn(globalThis, 'setInterval');
    const { gauge, monitor } = start({ redis: 0 }, { intervalMs: 5 * MINUTE });
    await vi.advanceTimersByTimeAsync(0);
    expect(gauge).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(5 * MINUTE - 1);
    expect(gauge).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(gauge).toHaveLength(2);
    expect((unref.mock.results[0]?.value as NodeJS.Timeout).hasRef()).toBe(false);
    monitor.stop();
    await vi.advanceTimersByTimeAsync(60 * MINUTE);
    expect(gauge).toHaveLength(2);
    unref.mockRestore();
  });

  it('gives up on a reading after timeoutMs', async () => {
    vi.useFakeTimers();
    const log = capturedLog();
    const gauge: number[] = [];
    monitor = startClockSkewMonitor({ sources: [{ service: 'redis', read: () => new Promise(() => undefined) }], log, errorOverMs: 1, timeoutMs: 3_000, onSkew: (_, s) => void gauge.push(s) });
    const first = monitor.checkNow();
    await vi.advanceTimersByTimeAsync(3_000);
    await first;
    expect(gauge).toEqual([]);
    expect(log.lines).toEqual([]);
  });

  it('an onSkew that throws: the reading is still logged (warn past 1 s), and one error line says the hook failed, however many readings', async () => {
    const log = capturedLog();
    const local = 1_800_000_000_000;
    monitor = startClockSkewMonitor({
      sources: [{ service: 'redis', read: async () => local - 2_000 }],
      log,
      errorOverMs: 5 * MINUTE,
      now: () => local,
      onSkew: () => {
        throw new Error('gauge broke');
      },
    });
    await monitor.checkNow();
    await monitor.checkNow();
    await monitor.checkNow();
    expect(log.lines.map((l) => l.replace(/: clock: .*/, ': clock'))).toEqual([
      'error: livecomponents: the onSkew hook failed once since its last report; what it observed went on without it (reported at most once a minute): gauge broke',
      'warn: clock',
    ]);
  });
});
