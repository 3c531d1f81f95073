/**
 * The batch of a store on a Redis Cluster, where each hash tag's ops are one script on their own node:
 * a `setIfAllowed` runs in its `rateLimit` step's script, so its key must share the step's tag. A
 * client stub records the script calls (no cluster needed: test/redis/cluster.test.ts runs the
 * contract, keys of one tag, on a real one).
 */
import type { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { StoreOp } from '../types.js';
import { redisBatch } from './batch.js';
import type { ConnectionState } from './connection-state.js';

const policy = { algorithm: 'gcra' as const, limit: 1, windowMs: 60_000 };

/** A cluster client whose scripts answer "admitted, written"; `scripts` gets each call's key count. */
function clusterStub(scripts: number[]): Cluster {
  const lcBatch = (args: (string | number)[]) => {
    const n = Number(args[0]);
    scripts.push(n);
    // Every op in these tests is a step (admitted) or a guarded write (made).
    const replies = args.slice(1, n + 1).map((_, i) => (args.includes('a') && i % 2 === 1 ? 1 : [1, 0, 60_000, 0, 60_000]));
    return Promise.resolve(replies);
  };
  return { isCluster: true, lcBatch } as unknown as Cluster;
}

function batchOn(scripts: number[], closed = false) {
  return redisBatch({
    client: clusterStub(scripts),
    state: { closed } as ConnectionState,
    call: (_operation, send) => send(),
    keyOf: (key) => key,
    member: () => 'm',
    rateLimitClock: 'redis',
  });
}

describe('setIfAllowed on a Redis Cluster', () => {
  it('runs in its step\'s script when both keys share a hash tag; refuses (TypeError, no script sent) when they do not', async () => {
    const scripts: number[] = [];
    const batch = batchOn(scripts);
    const guarded = (stepKey: string, key: string): StoreOp[] => [
      { op: 'rateLimit', key: stepKey, policy, nowMs: 0 },
      { op: 'setIfAllowed', key, value: 'v', ttlMs: 60_000 },
    ];
    const results = await batch(guarded('lc:{s:a}:rl', 'lc:{s:a}:session'));
    expect(results[1]).toBe(true);
    expect(scripts).toEqual([2]);
    // The session's tag is not the counter's: its script could not see the step.
    await expect(batch(guarded('lc:{r:client}:rl:~session:create', 'lc:{s:a}:session'))).rejects.toBeInstanceOf(TypeError);
    await expect(batch([{ op: 'get', key: 'lc:{s:a}:x' }, ...guarded('lc:{r:c}:rl', 'lc:{s:a}:session')])).rejects.toBeInstanceOf(TypeError);
    expect(scripts).toEqual([2]);
  });

  it('a guarded write under another tag is a TypeError on a closed store too, as every bad call is (not StoreUnavailableError)', async () => {
    const scripts: number[] = [];
    const batch = batchOn(scripts, true);
    const ops: StoreOp[] = [
      { op: 'rateLimit', key: 'lc:{r:client}:rl:~session:create', policy, nowMs: 0 },
      { op: 'setIfAllowed', key: 'lc:{s:a}:session', value: 'v', ttlMs: 60_000 },
    ];
    await expect(batch(ops)).rejects.toBeInstanceOf(TypeError);
    expect(scripts).toEqual([]);
  });
});
