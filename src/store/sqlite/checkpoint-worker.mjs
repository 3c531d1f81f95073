// @ts-check
/**
 * The WAL checkpoint thread (started by `./checkpointer.ts`, which explains the design). It owns
 * one better-sqlite3 connection to the file and checkpoints through it; it looks at the WAL with
 * `stat` only. It must never open (and so close) a descriptor to the database, `-wal` or `-shm`
 * file itself: closing ANY descriptor to a file drops every POSIX lock the process holds on it,
 * SQLite's included (a second process opening the file then crashed the first with SIGBUS).
 *
 * Plain JavaScript, not TypeScript: a worker's entry file is loaded by Node itself, from the
 * sources as from dist/ (scripts/build.mjs copies it), and Node 20 runs no TypeScript — compiling
 * it would need tsx in the thread when run from the sources, a development tool in the runtime path.
 */
import { statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';

/** @typedef {import('./checkpointer.js').CheckpointWorkerData} CheckpointWorkerData */
/** @typedef {import('./checkpointer.js').FromWorker} FromWorker */
/** @typedef {import('./checkpointer.js').ToWorker} ToWorker */

const { path, thresholdBytes, pollMs, busyTimeoutMs } = /** @type {CheckpointWorkerData} */ (workerData);
const port = parentPort;
if (port === null) throw new Error('checkpoint-worker: not started as a worker thread');

// The busy timeout blocks this thread only. Without one (the first attempt), RESTART never got the
// write lock under steady writes and the WAL grew to 380 MB.
const db = open();

/** @returns {BetterSqlite3.Database} */
function open() {
  try {
    const connection = new BetterSqlite3(path, { fileMustExist: true, timeout: busyTimeoutMs });
    connection.pragma('wal_autocheckpoint = 0'); // it never writes; said anyway
    return connection;
  } catch (error) {
    // Rethrown plain: the driver's SqliteError reaches the main thread without its message.
    const { code, message } = /** @type {{ code?: unknown, message?: unknown }} */ (error);
    throw new Error(`cannot open the database (${String(code ?? 'error')}: ${String(message)})`);
  }
}

/**
 * Until then, TRUNCATE is not tried again after one that found a reader it could not wait out:
 * TRUNCATE holds the write lock while it waits for readers, so retrying it every tick under a long
 * reader would hold the app's writers off for most of the time.
 */
let fullRetryAt = 0;
let fullBackoffMs = 0;

/** @returns {number} */
function walBytes() {
  return statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
}

/**
 * @param {'PASSIVE' | 'TRUNCATE'} mode
 * @returns {{ busy: boolean, log: number, checkpointed: number }}
 */
function checkpoint(mode) {
  const [row] = /** @type {{ busy: number, log: number, checkpointed: number }[]} */ (db.pragma(`wal_checkpoint(${mode})`));
  return { busy: row?.busy === 1, log: row?.log ?? 0, checkpointed: row?.checkpointed ?? 0 };
}

/**
 * PASSIVE copies the bulk back without any lock a writer needs. Under steady writes it never
 * catches up (frames arrive while it copies), and the writer starts the WAL over only when every
 * frame was copied back, so TRUNCATE follows: it copies the few frames written meanwhile under the
 * write lock, waits for readers and cuts the file to zero bytes (so its size, which this thread
 * watches, counts the frames since).
 */
/**
 * @param {'auto' | 'sweep'} reason
 * @returns {FromWorker}
 */
function run(reason) {
  try {
    const passive = checkpoint('PASSIVE');
    // Every frame copied back: no reader holds an old snapshot now (a long one would pin frames), so
    // what made the last TRUNCATE busy was short readers — other processes' point reads — and
    // waiting out the back-off would only let the WAL grow (49–85 MB with three busy processes).
    const backfilled = !passive.busy && passive.log > 0 && passive.checkpointed === passive.log;
    if (reason === 'auto' && Date.now() < fullRetryAt && !backfilled) return { type: 'checkpoint', reason, truncated: false };
    const { busy } = checkpoint('TRUNCATE');
    if (busy) {
      fullBackoffMs = Math.min(Math.max(2 * fullBackoffMs, 1_000), 30_000);
      fullRetryAt = Date.now() + fullBackoffMs;
    } else {
      fullBackoffMs = 0;
      fullRetryAt = 0;
    }
    return { type: 'checkpoint', reason, truncated: !busy };
  } catch (error) {
    const code = /** @type {{ code?: unknown }} */ (error).code;
    // Another connection held the lock past the busy timeout: the next tick tries again.
    if (typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code)) return { type: 'checkpoint', reason, truncated: false };
    return { type: 'failed', reason, message: error instanceof Error ? error.message : String(error) };
  }
}

const timer = setInterval(() => {
  if (walBytes() < thresholdBytes) return;
  port.postMessage(run('auto'));
}, pollMs);

port.on('message', (/** @type {ToWorker} */ message) => {
  if (message.type === 'truncate') {
    port.postMessage({ ...run('sweep'), id: message.id });
  } else {
    clearInterval(timer);
    db.close();
    port.close();
  }
});
