/**
 * `slotsMoved`: when a Redis Cluster's slots did not stay put while `revoke-sessions` walked its
 * masters (a key moved past the walk is passed over, so the run may not say `done`). The layouts
 * themselves are read from a live Cluster in test/scale/revoke-sessions-resharding.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { slotsMoved, type ClusterLayout } from './revoke-sessions-cluster-layout.js';

const still: ClusterLayout = { layout: 'a 0-5460\nb 5461-10922\nc 10923-16383', moving: [] };

describe('slotsMoved', () => {
  it('nothing on one server, nor when the slots stayed put', () => {
    expect(slotsMoved(null, null)).toBeUndefined();
    expect(slotsMoved(still, { ...still })).toBeUndefined();
  });

  it('a reshard or a failover between the two looks (the owners changed), though none is under way at either', () => {
    expect(slotsMoved(still, { layout: 'a 0-5000\nb 5001-10922\nc 10923-16383', moving: [] })).toBe("the Cluster's slots moved between masters while it ran (a reshard or a failover)");
  });

  it('a slot moving at either look: a reshard under way, the slots named (five at most)', () => {
    expect(slotsMoved(still, { ...still, moving: [11190] })).toBe('a reshard was under way (slot 11190 moving between masters)');
    expect(slotsMoved({ ...still, moving: [3, 1] }, { ...still, moving: [1, 2, 4, 5, 6, 7] })).toBe('a reshard was under way (slots 1, 2, 3, 4, 5 and 2 more moving between masters)');
  });
});
