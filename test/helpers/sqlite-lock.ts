/**
 * Another connection holding SQLite's write lock, for the lock-wait tests of the store and of the
 * auth SQL (src/sql/sqlite-lock-wait.ts), and a watch of the event loop meanwhile.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Generous for a loaded 2-core machine; the old wait stalled the loop for the whole lock (≥ 1,000 ms). */
export const MAX_STALL_MS = 300;

const driver = createRequire(import.meta.url).resolve('better-sqlite3');

export interface LockHolder {
  /**
   * Resolves once the lock is given up, with the time (`Date.now()`) the holder took just before its
   * COMMIT: a write that waited for the lock finished at or after it. (The order of this promise and
   * the write's is no proof: the worker's message can arrive after the write it let through.)
   */
  readonly released: Promise<number>;
  release(): void;
}

/** A connection of its own, on a thread of its own, holding the write lock until `release()` or `holdMs`. */
export async function holdWriteLock(path: string, holdMs?: number): Promise<LockHolder> {
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const db = new (require(workerData.driver))(workerData.path);
     db.exec('BEGIN IMMEDIATE');
     const release = () => { const at = Date.now(); db.exec('COMMIT'); db.close(); parentPort.postMessage({ releasedAt: at }); parentPort.close(); };
     if (workerData.holdMs === undefined) parentPort.once('message', release); else setTimeout(release, workerData.holdMs);
     parentPort.postMessage('locked');`,
    { eval: true, workerData: { driver, path, holdMs } },
  );
  const released = new Promise<number>((resolve, reject) => {
    worker.on('error', reject);
    worker.on('message', (message: unknown) => {
      if (typeof message === 'object' && message !== null && 'releasedAt' in message) resolve(message.releasedAt as number);
    });
  });
  await new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', () => resolve());
  });
  return { released, release: () => worker.postMessage('release') };
}

/** Measures the longest the event loop went without running a 5 ms interval timer, until `stop()`. */
export function loopWatch(): { stop(): number } {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(worst, performance.now() - last);
    },
  };
}
