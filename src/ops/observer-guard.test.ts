import { runInNewContext } from 'node:vm';
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

describe('guardObserver: thenables and clock steps', () => {
  it("a rejected thenable that is not this realm's Promise (a vm context's, a promise library's) is caught and reported too", async () => {
    const reports: unknown[] = [];
    const report = (_message: string, error: unknown) => void reports.push(error);
    // Another realm's promise: `instanceof Promise` is false, and its rejection was left unhandled.
    const otherRealm = guardObserver('onRealm', () => runInNewContext('Promise.reject(new Error("vm realm"))') as unknown, { report });
    // A promise library's: a `then` of its own, rejecting later.
    const library = guardObserver(
      'onLibrary',
      () => ({
        then(_resolve: unknown, reject: (error: unknown) => void) {
          setImmediate(() => reject(new Error('library')));
        },
      }),
      { report },
    );
    otherRealm();
    library();
    await flush();
    await flush();
    expect(reports.map((e) => (e as Error).message)).toEqual(['vm realm', 'library']);
  });

  it('a clock set back (an NTP step, a VM restored) does not silence the reports until it has caught up again', () => {
    const clock = manualClock();
    const reports: string[] = [];
    const hook = guardObserver(
      'onStep',
      () => {
        throw new Error('broken');
      },
      { clock, report: (message) => void reports.push(message) },
    );
    hook();
    expect(reports.length).toBe(1);
    clock.advance(-3_600_000); // an hour back
    hook();
    hook();
    // One more report at once (2 failures since the last), then a minute of quiet from the new time.
    expect(reports.length).toBe(2);
    expect(reports[1]).toContain('failed once since');
    hook();
    expect(reports.length).toBe(2);
    clock.advance(OBSERVER_REPORT_INTERVAL_MS);
    hook();
    expect(reports.length).toBe(3);
    expect(reports[2]).toContain('failed 3 times since');
  });
});
