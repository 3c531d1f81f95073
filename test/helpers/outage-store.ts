import { StoreUnavailableError } from '../../src/core/errors.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import type { StoreOp } from '../../src/store/types.js';

/**
 * A memory store whose batches are refused (as a Redis Cluster failover refuses them: CLUSTERDOWN)
 * while `down`, or, with `failAfterAction`, only the after-action batch: the one carrying the
 * session's renewal (`touch`). Counts every batch in `batches`.
 */
export function outageStore() {
  const inner = createMemoryStore();
  const store = {
    ...inner,
    down: false,
    failAfterAction: false,
    batches: 0,
    batch(ops: readonly StoreOp[]) {
      store.batches++;
      const refused = store.down || (store.failAfterAction && ops.some((op) => op.op === 'touch'));
      return refused ? Promise.reject(new StoreUnavailableError('CLUSTERDOWN The cluster is down')) : inner.batch(ops);
    },
  };
  return store;
}

export type OutageStore = ReturnType<typeof outageStore>;
