/**
 * createLoadMonitor on a manual clock: the loop's turns are played by hand (timers, poll, check), so
 * which requests a stall sheds is exact. A one-off stall sheds only the requests read while the loop
 * is inside or right behind it; stalls that follow each other shed until a calm sample.
 */
import { describe, expect, it } from 'vitest';
import { createLoadMonitor, DEFAULT_MAX_EVENT_LOOP_DELAY_MS, sampleIntervalMs, type LoopClock } from './index.js';

const BOUND = DEFAULT_MAX_EVENT_LOOP_DELAY_MS;
const INTERVAL = sampleIntervalMs(BOUND);

/** A loop whose time passes only when told: `stall` blocks it, `turn` runs one turn's phases. */
function manualLoop() {
  let now = 0;
  let timer: { at: number; fn: () => void } | null = null;
  let checks: Array<{ fn: () => void }> = [];
  const clock: LoopClock = {
    now: () => now,
    setTimer(ms, fn) {
      const scheduled = { at: now + ms, fn };
      timer = scheduled;
      return () => {
        if (timer === scheduled) timer = null;
      };
    },
    afterIo(fn) {
      const entry = { fn };
      checks.push(entry);
      return () => {
        checks = checks.filter((c) => c !== entry);
      };
    },
  };
  const loop = {
    clock,
    /** Synchronous work: time passes, nothing else runs. */
    stall(ms: number): void {
      now += ms;
    },
    /** One turn: the timers phase (the sample, when due), the poll phase (`read`), the check phase. */
    turn(read: () => void = () => {}): void {
      if (timer !== null && timer.at <= now) {
        const due = timer;
        timer = null;
        due.fn();
      }
      read();
      const ready = checks;
      checks = [];
      for (const c of ready) c.fn();
    },
    /** An idle loop for `ms`: it waits for its timer, turning at each. */
    idle(ms: number): void {
      const end = now + ms;
      while (timer !== null && timer.at <= end) {
        now = timer.at;
        loop.turn();
      }
      now = end;
    },
    /** Whether a request read in the next turn's poll phase is shed. */
    shedsNextRead(monitor: { overloaded(): boolean }): boolean {
      let shed = false;
      loop.turn(() => (shed = monitor.overloaded()));
      return shed;
    },
  };
  return loop;
}

function started(loop: ReturnType<typeof manualLoop>, onOverload: (delayMs: number) => void = () => {}) {
  const monitor = createLoadMonitor(BOUND, onOverload, loop.clock);
  monitor.start();
  return monitor;
}

describe('createLoadMonitor', () => {
  it('a one-off stall past the bound sheds the requests read until two turns after it (they waited through it), then none', () => {
    const loop = manualLoop();
    const monitor = started(loop);
    loop.idle(1000);
    expect(monitor.overloaded()).toBe(false);
    loop.stall(1300);
    // Inside the stall's own turn, before the late sample has run.
    expect(monitor.overloaded()).toBe(true);
    // The turn of the late sample (open connections) and the next (connections it accepted).
    expect(loop.shedsNextRead(monitor)).toBe(true);
    expect(loop.shedsNextRead(monitor)).toBe(true);
    // The loop caught up: served, though the next sample is not due yet.
    expect(loop.shedsNextRead(monitor)).toBe(false);
    expect(monitor.overloaded()).toBe(false);
    loop.idle(5 * INTERVAL);
    expect(monitor.overloaded()).toBe(false);
  });

  it('judges the first sample after start() like the others: a start-up stall sheds nothing once the loop caught up', () => {
    const loop = manualLoop();
    const monitor = started(loop);
    loop.stall(1300);
    expect([1, 2, 3, 4].map(() => loop.shedsNextRead(monitor))).toEqual([true, true, false, false]);
  });

  it('sheds every request from the second stall in a row until a sample runs calm', () => {
    const loop = manualLoop();
    const monitor = started(loop);
    loop.idle(1000);
    loop.stall(1300);
    loop.turn(); // the late sample
    loop.stall(1300); // before the loop ran calm for one interval
    expect([1, 2, 3, 4, 5].map(() => loop.shedsNextRead(monitor))).toEqual([true, true, true, true, true]);
    loop.idle(INTERVAL); // a calm sample
    expect(loop.shedsNextRead(monitor)).toBe(false);
  });

  it('sheds under back-to-back turns of 1.2 s that begin right after the sample (the histogram missed those)', () => {
    const loop = manualLoop();
    const monitor = started(loop);
    loop.idle(1000);
    const shed: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      loop.turn(() => loop.stall(1200)); // the sample, then a poll phase of 1.2 s
      loop.turn();
      loop.turn();
      shed.push(monitor.overloaded()); // read after the two catch-up turns
    }
    expect(shed).toEqual([false, true, true, true, true]);
  });

  it('a calm sample between two stalls makes each one-off', () => {
    const loop = manualLoop();
    const monitor = started(loop);
    loop.idle(1000);
    for (let i = 0; i < 3; i++) {
      loop.stall(1300);
      expect([1, 2, 3].map(() => loop.shedsNextRead(monitor))).toEqual([true, true, false]);
      loop.idle(INTERVAL);
    }
  });

  it('never sheds for stalls under the bound, however many in a row', () => {
    const loop = manualLoop();
    const monitor = started(loop);
    for (let i = 0; i < 20; i++) {
      loop.stall(BOUND - 1);
      expect(loop.shedsNextRead(monitor)).toBe(false);
    }
  });

  it('tells onOverload the lateness of the first stall of a run, at most once a minute', () => {
    const loop = manualLoop();
    const heard: number[] = [];
    const monitor = started(loop, (delayMs) => heard.push(delayMs));
    loop.idle(250); // samples at 100 and 200: the next is due at 300
    loop.stall(1300);
    loop.turn();
    expect(heard).toEqual([1250]);
    loop.stall(1300);
    loop.turn();
    loop.idle(10_000);
    loop.stall(1500);
    loop.turn();
    expect(heard).toEqual([1250]);
    loop.idle(60_000); // ends just after a sample: the next is due 100 ms into the stall
    loop.stall(1500);
    loop.turn();
    expect(heard).toEqual([1250, 1400]);
    expect(monitor.overloaded()).toBe(true);
  });

  it('stop() forgets the state and the pending turns; start() begins afresh', () => {
    const loop = manualLoop();
    const monitor = started(loop);
    loop.stall(1300);
    loop.turn();
    loop.stall(1300);
    loop.turn();
    expect(monitor.overloaded()).toBe(true);
    monitor.stop();
    expect(monitor.overloaded()).toBe(false);
    loop.stall(5000);
    expect(loop.shedsNextRead(monitor)).toBe(false);
    monitor.start();
    loop.stall(1300);
    expect([1, 2, 3].map(() => loop.shedsNextRead(monitor))).toEqual([true, true, false]);
  });
});

describe('sampleIntervalMs', () => {
  it('is a tenth of the bound, from 10 to 100 ms', () => {
    expect([1, 50, 100, 300, 1000, 5000, 2 ** 31 - 1].map(sampleIntervalMs)).toEqual([10, 10, 10, 30, 100, 100, 100]);
  });
});
