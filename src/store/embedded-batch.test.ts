import { describe, expect, it } from 'vitest';
import { runBatch, type EmbeddedOps } from './embedded-batch.js';
import type { StoreOp } from './types.js';

/** Records what runBatch asked for; `replaces` says whether a replace applies. */
function recorder(replaces: boolean): EmbeddedOps & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    apply(op, now) {
      calls.push(`${op.op}:${op.key}@${now}`);
      return op.op === 'deleteIfEquals' ? false : null;
    },
    replace(key, expected, value, ttlMs, now) {
      calls.push(`replace:${key}:${expected}->${value}/${ttlMs}@${now}`);
      return replaces;
    },
  };
}

const drop: StoreOp = { op: 'deleteIfEquals', key: 'k', expected: 'old' };
const put: StoreOp = { op: 'claim', key: 'k', value: 'new', ttlMs: 5 };

describe('runBatch', () => {
  it('runs a deleteIfEquals + claim pair on one key as one replace when it applies', () => {
    const store = recorder(true);
    expect(runBatch([{ op: 'get', key: 'a' }, drop, put, { op: 'get', key: 'b' }], store, 7)).toEqual([null, true, null, null]);
    expect(store.calls).toEqual(['get:a@7', 'replace:k:old->new/5@7', 'get:b@7']);
  });

  it('runs both ops one by one when the replace does not apply', () => {
    const store = recorder(false);
    expect(runBatch([drop, put], store, 1)).toEqual([false, null]);
    expect(store.calls).toEqual(['replace:k:old->new/5@1', 'deleteIfEquals:k@1', 'claim:k@1']);
  });

  it('offers no replace for ops that are not such a pair', () => {
    const store = recorder(true);
    const otherKey: StoreOp = { ...put, key: 'other' };
    const notClaim: StoreOp = { op: 'set', key: 'k', value: 'new', ttlMs: 5 };
    runBatch([drop, otherKey, drop, notClaim, put, drop], store, 2);
    expect(store.calls).toEqual(['deleteIfEquals:k@2', 'claim:other@2', 'deleteIfEquals:k@2', 'set:k@2', 'claim:k@2', 'deleteIfEquals:k@2']);
  });
});
