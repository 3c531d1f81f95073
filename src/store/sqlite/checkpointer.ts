/**
 * WAL checkpoints off the main thread. better-sqlite3 is synchronous, so SQLite's automatic
 * checkpoint ran inside whichever commit crossed `WAL_AUTOCHECKPOINT_PAGES`: the copy back of up to
 * ~40 MB of pages and an fsync, on the event loop (measured: stalls of 100–360 ms at 100 actions/s).
 * Here the store's connection gets `wal_autocheckpoint = 0` and a worker thread with its own
 * connection to the same file checkpoints instead:
 *
 * - once the WAL holds `WAL_AUTOCHECKPOINT_PAGES` frames since it last started over (read from the
 *   `-shm` header every `POLL_MS`): `PASSIVE`, which copies them back without any lock the writer
 *   needs, then `RESTART` for the frames written meanwhile (it holds the write lock for those few
 *   ms), so that the writer's next transaction starts the WAL over instead of growing it.
 * - `TRUNCATE` when the sweep asks (the WAL never shrinks otherwise): a PASSIVE first, so the
 *   TRUNCATE holds the write lock only for the frames written in between and the ftruncate.
 *
 * Its connection has `busy_timeout = 0`: it never waits for a lock, it tries again later.
 *
 * When the worker cannot start (a bundler without worker support, the driver not loadable from a
 * thread) or dies, the store falls back to the old behaviour (automatic checkpoint on the main
 * thread, TRUNCATE on the main thread) for the rest of its life, and says so through `onError`.
 */
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';
import { WAL_AUTOCHECKPOINT_PAGES } from '../../sql/database.js';

/** How often the worker looks at the WAL (a read of 100 bytes of the `-shm` file). */
const POLL_MS = 100;

export interface Checkpointer {
  /** `wal_checkpoint(TRUNCATE)` without waiting for any lock; resolves when it was tried. */
  truncate(): Promise<void>;
  /** Stops the worker (waits for its thread to end) and gives the connection its automatic checkpoint back. */
  close(): Promise<void>;
}

export interface CheckpointerOptions {
  /** Runs the TRUNCATE on the main thread (the fallback), through the store's call queue. */
  truncateOnMainThread: () => Promise<void>;
  /** The worker could not start or died: checkpoints run on the main thread again. */
  onError: (error: Error) => void;
  /** WAL frames (since the WAL last started over) that start a checkpoint (tests lower it). */
  thresholdFrames?: number;
}

/**
 * The worker's script, a string run with `eval: true`: no separate file for the build to emit and
 * for `import.meta.url` to find, from `dist/` as from vitest's `src/`. CommonJS (an eval'd worker
 * has `require`); the driver is required by the absolute path the main thread resolved.
 */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const Database = require(workerData.driverPath);
const db = new Database(workerData.path, { fileMustExist: true, timeout: 0 });
db.pragma('busy_timeout = 0');
db.pragma('wal_autocheckpoint = 0');
const header = Buffer.alloc(100);
const u32 = (offset) => (workerData.littleEndian ? header.readUInt32LE(offset) : header.readUInt32BE(offset));

// Frames in the WAL since it last started over (mxFrame, offset 16 of the wal-index header) and
// frames copied back (nBackfill, offset 96), in the -shm file's byte order (sqlite.org/walformat.html).
function walState() {
  let fd;
  try {
    fd = openSync(workerData.path + '-shm', 'r');
    if (readSync(fd, header, 0, 100, 0) < 100) return { frames: 0, copied: 0 };
  } catch {
    return { frames: Infinity, copied: 0 }; // no -shm to read: let the checkpoint find out
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return { frames: u32(16), copied: u32(96) };
}

function checkpoint(mode) {
  return db.pragma('wal_checkpoint(' + mode + ')')[0];
}

// PASSIVE copies the bulk without any lock the writer needs. But the writer starts the WAL over
// only if, when its transaction begins, every frame was copied back: under steady writes a PASSIVE
// never catches up (frames arrive while it copies) and the WAL grew to 80 MB at 100 actions/s. So a
// RESTART copies the few frames written meanwhile under the write lock (the writer waits that long,
// a few ms), and the next write transaction starts the WAL over.
const timer = setInterval(() => {
  try {
    const { frames, copied } = walState();
    if (frames < workerData.thresholdFrames || copied >= frames) return;
    checkpoint('PASSIVE');
    checkpoint('RESTART');
  } catch {
    // SQLITE_BUSY and the like: the next tick tries again.
  }
}, workerData.pollMs);

parentPort.on('message', (message) => {
  if (message.type === 'truncate') {
    try {
      checkpoint('PASSIVE');
      const result = checkpoint('TRUNCATE');
      parentPort.postMessage({ type: 'truncated', id: message.id, busy: result.busy === 1 });
    } catch (error) {
      parentPort.postMessage({ type: 'truncated', id: message.id, busy: true, error: String(error && error.message) });
    }
  } else if (message.type === 'stop') {
    clearInterval(timer);
    db.close();
    parentPort.close();
  }
});
parentPort.postMessage({ type: 'ready' });
`;

/**
 * Starts checkpointing `native`'s file on a worker thread; for an in-memory (or temporary)
 * database, or when the worker cannot start, checkpoints stay on the main thread.
 */
export function startCheckpointer(native: BetterSqlite3.Database, options: CheckpointerOptions): Checkpointer {
  if (native.memory || native.name === '') return mainThreadCheckpointer(options);
  let worker: Worker;
  try {
    worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        path: resolvePath(native.name),
        driverPath: createRequire(import.meta.url).resolve('better-sqlite3'),
        littleEndian: endianness() === 'LE',
        thresholdFrames: options.thresholdFrames ?? WAL_AUTOCHECKPOINT_PAGES,
        pollMs: POLL_MS,
      },
    });
  } catch (error) {
    options.onError(fallbackError('could not start', error));
    return mainThreadCheckpointer(options);
  }
  return workerCheckpointer(native, worker, options);
}

/** The old behaviour: SQLite's automatic checkpoint in the committing call, TRUNCATE on the main thread. */
function mainThreadCheckpointer(options: CheckpointerOptions): Checkpointer {
  return { truncate: options.truncateOnMainThread, close: () => Promise.resolve() };
}

function workerCheckpointer(native: BetterSqlite3.Database, worker: Worker, options: CheckpointerOptions): Checkpointer {
  worker.unref();
  pauseAutocheckpoint(native);
  /** TRUNCATE requests the worker has not answered yet, by id. */
  const waiting = new Map<number, () => void>();
  let nextId = 0;
  let alive = true;
  let stopping = false;
  let workerError: unknown;

  const exited = new Promise<void>((resolve) => {
    worker.once('exit', (code) => {
      alive = false;
      for (const settle of waiting.values()) settle();
      waiting.clear();
      resumeAutocheckpoint(native);
      if (!stopping) options.onError(fallbackError(`stopped (exit code ${code})`, workerError));
      resolve();
    });
  });
  worker.on('error', (error) => {
    workerError = error; // 'exit' follows and reports it
  });
  worker.on('message', (message: { type: string; id?: number }) => {
    if (message.type !== 'truncated' || message.id === undefined) return;
    waiting.get(message.id)?.();
    waiting.delete(message.id);
  });

  return {
    truncate() {
      if (!alive) return options.truncateOnMainThread();
      const id = nextId++;
      return new Promise<void>((resolve) => {
        waiting.set(id, resolve);
        worker.postMessage({ type: 'truncate', id });
      });
    },
    async close() {
      if (alive && !stopping) {
        stopping = true;
        // Keep the process alive until the thread has closed its connection.
        worker.ref();
        worker.postMessage({ type: 'stop' });
      }
      await exited;
    },
  };
}

function fallbackError(what: string, cause: unknown): Error {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new Error(`SQLite store: the WAL checkpoint worker ${what}${reason}; checkpoints run on the main thread (wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES})`, { cause });
}

/**
 * Stores sharing one connection (`createSqliteStore({ db })` more than once) share its setting:
 * the automatic checkpoint stays off while any of them has a worker, and its previous value comes
 * back with the last one.
 */
const paused = new WeakMap<BetterSqlite3.Database, { count: number; previous: number }>();

function pauseAutocheckpoint(native: BetterSqlite3.Database): void {
  const entry = paused.get(native);
  if (entry !== undefined) {
    entry.count++;
    return;
  }
  paused.set(native, { count: 1, previous: native.pragma('wal_autocheckpoint', { simple: true }) as number });
  native.pragma('wal_autocheckpoint = 0');
}

function resumeAutocheckpoint(native: BetterSqlite3.Database): void {
  const entry = paused.get(native);
  if (entry === undefined || --entry.count > 0) return;
  paused.delete(native);
  // The owner may have closed the connection already (a store on a shared `db`).
  if (native.open) native.pragma(`wal_autocheckpoint = ${entry.previous}`);
}
