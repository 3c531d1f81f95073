/**
 * WAL checkpoints off the event loop. better-sqlite3 is synchronous, so SQLite's automatic
 * checkpoint ran inside whichever commit crossed its threshold, on the main thread: the copy back
 * of the WAL's pages and an fsync (measured: stalls of 100–485 ms at 100 actions/s). So each SQLite
 * file a process opens gets ONE worker thread (`./checkpoint-worker.mjs`) with its own connection:
 *
 * - every `CHECKPOINT_POLL_MS` it `stat`s the `-wal` file; from `CHECKPOINT_PAGES` pages' worth of
 *   bytes it checkpoints: PASSIVE (never blocks a writer), then TRUNCATE under its busy timeout
 *   (the wait blocks the worker only), which resets the WAL to zero bytes even under steady writes;
 * - the sweep's TRUNCATE (once a minute) runs there too;
 * - the main connection keeps SQLite's automatic checkpoint as a BACKSTOP at
 *   `WAL_BACKSTOP_FACTOR` times that (`WAL_AUTOCHECKPOINT_PAGES` in `src/sql/database.ts`): while
 *   the worker keeps up the WAL never gets there, and when it is gone or lags the WAL stays bounded
 *   the old way.
 *
 * Nothing here or in the worker opens a descriptor to the database, `-wal` or `-shm` file other
 * than through SQLite: closing any descriptor to a file drops the process's POSIX locks on it,
 * SQLite's included (an earlier attempt that read the `-shm` header that way let a second process
 * crash the first with SIGBUS).
 *
 * The worker is `unref()`ed (after its listeners are attached: a 'message' listener refs it
 * again), so a database never closed does not keep the process alive; the last connection's
 * release stops it and waits for its thread to end.
 */
import { statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';

/**
 * WAL pages (4 KiB each plus a 24-byte frame header) from which the worker checkpoints: ~8 MB. Low
 * enough that the backstop at 4 times it (~33 MB) stays under the ~40 MB the WAL used to reach (the
 * free space docs/scaling.md asks for); high enough that hot pages rewritten many times between two
 * checkpoints are still copied back once (at 4 KB states and 100 writes/s, one every ~15 s).
 */
export const CHECKPOINT_PAGES = 2_000;

/** The main connection's automatic checkpoint runs at this many times `CHECKPOINT_PAGES` (the backstop). */
export const WAL_BACKSTOP_FACTOR = 4;

/** How often the worker `stat`s the WAL. */
export const CHECKPOINT_POLL_MS = 100;

/**
 * The worker's busy timeout: how long its TRUNCATE waits for the write lock and then for readers.
 * While it waits for readers it holds the write lock, so the app's writers wait as long (at worst).
 */
const WORKER_BUSY_TIMEOUT_MS = 250;

/** Bytes of a WAL frame at SQLite's default page size. */
const FRAME_BYTES = 4_096 + 24;

/** What the worker is given (`workerData`). */
export interface CheckpointWorkerData {
  readonly path: string;
  readonly thresholdBytes: number;
  readonly pollMs: number;
  readonly busyTimeoutMs: number;
}

export type ToWorker = { readonly type: 'truncate'; readonly id: number } | { readonly type: 'stop' };

export type FromWorker =
  | { readonly type: 'checkpoint'; readonly reason: 'auto' | 'sweep'; readonly truncated: boolean; readonly id?: number }
  | { readonly type: 'failed'; readonly reason: 'auto' | 'sweep'; readonly message: string; readonly id?: number };

/** What the worker did so far. */
export interface CheckpointStats {
  /** Checkpoints the worker started by itself (the WAL past its threshold). */
  readonly auto: number;
  /** Those and the sweep's that reset the WAL to zero bytes. */
  readonly truncated: number;
  /** Checkpoints that failed with an error other than a busy lock (each is also reported). */
  readonly failed: number;
}

/** The checkpointer of one file, shared by every connection this process has to it. */
export interface Checkpointer {
  /** Whether its worker runs (false once it died: the backstop alone is left). */
  readonly running: boolean;
  /**
   * The sweep's TRUNCATE, on the worker: resolves whether the WAL was reset, or `undefined` when
   * the worker is not running (the caller then does it itself).
   */
  truncate(): Promise<boolean | undefined>;
  stats(): CheckpointStats;
  /** Tells `listener` when the worker dies or a checkpoint fails; returns the unsubscribe. */
  onError(listener: (error: Error) => void): () => void;
}

interface Entry extends Checkpointer {
  readonly key: string;
  connections: number;
  stop(): Promise<void>;
}

/** By file (`dev:ino`): one checkpointer per file per process. */
const byFile = new Map<string, Entry>();
/** By connection, for the stores sharing one (`checkpointerOf`). */
const byConnection = new WeakMap<BetterSqlite3.Database, Entry>();

/**
 * Checkpoints `native`'s file on the worker (started by the first connection to the file in this
 * process, shared by the others); resolves the release, which stops the worker with the last
 * connection. In-memory and temporary databases get none.
 *
 * @param pages - `CHECKPOINT_PAGES` unless the caller chose (`createDatabase`'s `walCheckpointPages`)
 */
export function attachCheckpointer(native: BetterSqlite3.Database, pages = CHECKPOINT_PAGES): () => Promise<void> {
  if (native.memory || native.name === '') return () => Promise.resolve();
  const path = resolvePath(native.name);
  const stat = statSync(path);
  const key = `${stat.dev}:${stat.ino}`;
  let entry = byFile.get(key);
  if (entry === undefined) {
    entry = startWorker(key, { path, thresholdBytes: pages * FRAME_BYTES, pollMs: CHECKPOINT_POLL_MS, busyTimeoutMs: WORKER_BUSY_TIMEOUT_MS });
    byFile.set(key, entry);
  }
  entry.connections++;
  byConnection.set(native, entry);
  let released = false;
  const attached = entry;
  return async () => {
    if (released) return;
    released = true;
    byConnection.delete(native);
    if (--attached.connections > 0) return;
    if (byFile.get(attached.key) === attached) byFile.delete(attached.key);
    await attached.stop();
  };
}

/** The checkpointer of `native`'s file, `undefined` for an in-memory database or one opened elsewhere. */
export function checkpointerOf(native: BetterSqlite3.Database): Checkpointer | undefined {
  return byConnection.get(native);
}

/**
 * `./checkpoint-worker.mjs`, beside this file in the sources and in dist/ (scripts/build.mjs copies
 * it): plain JavaScript, so Node loads it as it is from either.
 */
function newWorker(data: CheckpointWorkerData): Worker {
  return new Worker(new URL('./checkpoint-worker.mjs', import.meta.url), { workerData: data });
}

function startWorker(key: string, data: CheckpointWorkerData): Entry {
  const listeners = new Set<(error: Error) => void>();
  const waiting = new Map<number, (truncated: boolean | undefined) => void>();
  const counts = { auto: 0, truncated: 0, failed: 0 };
  let nextId = 0;
  let running = true;
  let stopping = false;
  let workerError: unknown;

  const report = (error: Error): void => {
    if (listeners.size === 0) process.emitWarning(error.message, 'LiveComponentsWarning');
    for (const listener of listeners) listener(error);
  };

  const worker = newWorker(data);
  const exited = new Promise<void>((resolve) => {
    worker.once('exit', (code) => {
      running = false;
      for (const settle of waiting.values()) settle(undefined);
      waiting.clear();
      if (!stopping) report(failure(data.path, `stopped (exit code ${code})`, workerError, '; the automatic checkpoint on the main thread bounds the WAL from now on'));
      resolve();
    });
  });
  worker.on('error', (error) => {
    workerError = error; // 'exit' follows, and reports it
  });
  worker.on('message', (message: FromWorker) => {
    if (message.reason === 'auto') counts.auto++;
    if (message.type === 'checkpoint' && message.truncated) counts.truncated++;
    if (message.type === 'failed') {
      counts.failed++;
      report(failure(data.path, 'failed a checkpoint (it tries again at the next threshold or sweep)', new Error(message.message)));
    }
    if (message.id !== undefined) {
      const settle = waiting.get(message.id);
      waiting.delete(message.id);
      if (waiting.size === 0 && !stopping) worker.unref();
      settle?.(message.type === 'checkpoint' ? message.truncated : false);
    }
  });
  // Last: the 'message' listener above refs the worker again.
  worker.unref();

  return {
    key,
    connections: 0,
    get running() {
      return running;
    },
    truncate() {
      if (!running || stopping) return Promise.resolve(undefined);
      const id = nextId++;
      // Referenced while an answer is awaited: otherwise a script whose only work left is
      // `await store.sweepExpired()` has an empty event loop, and Node exits with the await unsettled.
      if (waiting.size === 0) worker.ref();
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        worker.postMessage({ type: 'truncate', id } satisfies ToWorker);
      });
    },
    stats: () => ({ ...counts }),
    onError(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {
      if (running && !stopping) {
        stopping = true;
        // Held until its thread has closed its connection.
        worker.ref();
        worker.postMessage({ type: 'stop' } satisfies ToWorker);
      }
      await exited;
    },
  };
}

function failure(path: string, what: string, cause: unknown, then = ''): Error {
  // Not `instanceof Error`: an error from the thread arrives as a copy, which may not be one.
  const message = (cause as { message?: unknown } | undefined)?.message;
  const reason = typeof message === 'string' ? `: ${message}` : '';
  return new Error(`SQLite: the WAL checkpoint worker of ${path} ${what}${reason}${then}`, { cause });
}
