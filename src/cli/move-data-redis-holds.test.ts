/**
 * missingMarkPlan: what a re-run does with a Redis that has no completion mark, by what it holds of
 * the move (the scale tests in test/scale/move-data-redis-lost.test.ts run each case against Redis).
 */
import { describe, expect, it } from 'vitest';
import { Refusal } from './command.js';
import { missingMarkPlan, type HeldOfMove } from './move-data-redis-holds.js';

const place = { where: 'sqlite:/srv/app.db', target: 'redis://r:6379', url: 'redis://user:pw@r:6379' };
const plan = (held: HeldOfMove) => missingMarkPlan(held, place);

describe('missingMarkPlan', () => {
  it('every record there, or none live to move: the mark only', () => {
    expect(plan({ live: 3, there: 3, sessionsThere: 1, othersWritten: false })).toEqual({ plan: 'mark' });
    expect(plan({ live: 0, there: 0, sessionsThere: 0, othersWritten: true })).toEqual({ plan: 'mark' });
  });

  it('none or some there, no other key of this framework: copied again', () => {
    expect(plan({ live: 3, there: 0, sessionsThere: 0, othersWritten: false })).toEqual({ plan: 'copy', note: expect.stringContaining('which holds none of the 3 records of it still live, no completion mark') });
    expect(plan({ live: 3, there: 2, sessionsThere: 2, othersWritten: false })).toEqual({ plan: 'copy', note: expect.stringContaining('which holds 2 of the 3 records of it still live, no completion mark') });
  });

  it("some there beside an app's keys: the mark only when a session's record is among them, else refused", () => {
    expect(plan({ live: 3, there: 1, sessionsThere: 1, othersWritten: true })).toEqual({ plan: 'mark' });
    expect(() => plan({ live: 3, there: 1, sessionsThere: 0, othersWritten: true })).toThrow(/^redis:\/\/r:6379 has no completion mark of the move and 1 of the 3 records of it still live that sqlite:\/srv\/app\.db marks as moved to redis:\/\/r:6379 \(none a session's, which no other Redis holds by chance\), but other keys/);
  });

  it("none there beside an app's keys: refused, exit 1, without the URL's password", () => {
    let error: unknown;
    try {
      plan({ live: 3, there: 0, sessionsThere: 0, othersWritten: true });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Refusal);
    expect((error as Refusal).code).toBe(1);
    expect((error as Refusal).message).toMatch(/^redis:\/\/r:6379 has no completion mark of the move and none of the 3 records of it still live that .*; nothing was written\. Point --to-redis \(or REDIS_URL\) at the Redis the move went to$/);
    expect((error as Refusal).message).not.toContain('pw');
  });
});
