import { describe, expect, it } from 'vitest';
import { manualClock } from '../core/clock.js';
import { guardObserver, OBSERVER_REPORT_INTERVAL_MS } from './observer-guard.js';

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('guardObserver', () => {
  it('never throws; reports the first failure at once, then at most one a minute with the count since the last report', async () => {
    const clock = manualClock();
    const reports: [string, unknown][] = [];
    let calls = 0;
    const hook = guardObserver(
      'onThing',
      (n: number) => {
        calls++;
        if (n % 2 === 0) throw new Error(`sync ${n}`);
        return Promise.reject(new Error(`async ${n}`));
      },
      { clock, report: (message, error) => reports.push([message, error]) },
    );
    for (let n = 0; n < 6; n++) expect(hook(n)).toBeUndefined();
    await flush();
    expect(calls).toBe(6);
    expect(reports.map(([m]) => m)).toEqual([
      'livecomponents: the onThing hook failed once since its last report; what it observed went on without it (reported at most once a minute)',
    ]);
    expect((reports[0]?.[1] as Error).message).toBe('sync 0');
    clock.advance(OBSERVER_REPORT_INTERVAL_MS - 1);
    hook(6);
    expect(reports.length).toBe(1);
    clock.advance(1);
    hook(8);
    expect(reports.length).toBe(2);
    // 1, 2, 3, 4, 5 (two of them rejections), 6 and 8: seven since the first report.
    expect(reports[1]?.[0]).toBe('livecomponents: the onThing hook failed 7 times since its last report; what it observed went on without it (reported at most once a minute)');
    expect((reports[1]?.[1] as Error).message).toBe('sync 8');
  });

  it('a hook that works is called with its argument and reports nothing; a report that throws is swallowed', async () => {
    const seen: string[] = [];
    const ok = guardObserver('onOk', (s: string) => void seen.push(s), {
      report: () => {
        throw new Error('no');
      },
    });
    ok('a');
    const bad = guardObserver('onBad', () => Promise.reject(new Error('x')), {
      report: () => {
        throw new Error('report broke');
      },
    });
    expect(() => bad()).not.toThrow();
    await flush();
    expect(seen).toEqual(['a']);
  });
});
