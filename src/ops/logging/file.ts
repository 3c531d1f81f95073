/**
 * `file:PATH`: JSON lines into rotating files written by pino-roll (a sonic-boom stream writing
 * asynchronously, so disk latency never blocks a request). `logs/app.log` becomes
 * `logs/app.2026-01-15.1.log`, `logs/app.2026-01-15.2.log` (after `size`)…; `limit` keeps the newest.
 *
 * A writer that fails (full disk, folder removed or unwritable) is destroyed — its file closed —
 * and never used again. So the sink starts a new one after a backoff, counts the lines it could not
 * hand to any writer meanwhile, and reports that count once a line has reached the disk again — an
 * outage is two reports (its error, then `dropped N lines`), not silence until a restart.
 */
import { resolve } from 'node:path';
import { lazyRequire } from '../../core/lazy-require.js';
import { LogConfigError, wholeOption } from './destination.js';
import type { DeliveryReport, LogSink } from './sink.js';

export interface FileLogOptions {
  /** Start a new file past this size (`k`, `m`, `g` suffixes, as pino-roll reads them). @default '10m' */
  size?: string;
  /** Start a new file every day (`daily`), hour (`hourly`) or this many milliseconds. @default 'daily' */
  frequency?: 'daily' | 'hourly' | number;
  /** Rotated files kept besides the current one; older ones (also from earlier runs) are deleted. @default 7 */
  keep?: number;
  /** After the writer failed: first delay before a new one is started, doubled up to `maxReopenMs`. @default 1_000 */
  reopenMs?: number;
  /** @default 60_000 */
  maxReopenMs?: number;
}

const SIZE_RE = /^\d+(\.\d+)?[kmg]?$/i;

/**
 * pino-roll's factory, called in this thread. It used to run in pino's transport worker, but a worker
 * cannot give back what it opened: thread-stream terminates the worker on the first write error and
 * runs it with `trackUnmanagedFds: false`, so the file pino-roll opened inside stayed open for the
 * life of the process — one descriptor per failed writer, a handful per full-disk outage, until the
 * process hit its limit (and each held a deleted log file's space, so freeing the disk did not end
 * the outage). Here a failed writer is `destroy()`ed, which closes its file. Nothing is
 * lost by leaving the worker: sonic-boom writes asynchronously (libuv's thread pool, the same pool
 * the worker's writes went through), so the disk still never blocks a request, and a line costs an
 * append to sonic-boom's buffer instead of a copy into the worker's shared buffer (measured: the
 * same time in `logger.info`, less CPU in all, with no thread to wake per line). A worker module of
 * our own closing the file on 'error' would need a plain JS file in dist/ and in src/ (for vitest),
 * which a tsc-only build does not give. Loaded on the first file sink (src/core/lazy-require.ts).
 */
const loadPinoRoll = lazyRequire<(options: object) => Promise<RollStream>>('pino-roll');

/** What the file sink uses of the sonic-boom stream pino-roll returns. */
interface RollStream {
  write(chunk: string): boolean;
  flush(cb: (error?: Error | null) => void): void;
  flushSync(): void;
  end(): void;
  destroy(): void;
  once(event: 'close' | 'ready', listener: () => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  /** -1 until the file is open. */
  readonly fd: number;
  readonly destroyed: boolean;
}

export function createFileSink(path: string, options: FileLogOptions, { onError, onDropped }: DeliveryReport): LogSink {
  const frequency = options.frequency ?? 'daily';
  const keep = wholeOption('file.keep', options.keep, 7);
  const size = options.size ?? '10m';
  // Checked here: pino-roll would only find out later, asynchronously, once createLogger has returned.
  if (!SIZE_RE.test(size)) throw new LogConfigError('LOG_OPTION_INVALID', 'file.size', `must be a number with an optional k, m or g suffix (e.g. '10m'), got "${size}"`);
  if (typeof frequency === 'number' ? !Number.isInteger(frequency) || frequency < 1 : frequency !== 'daily' && frequency !== 'hourly') {
    throw new LogConfigError('LOG_OPTION_INVALID', 'file.frequency', `must be 'daily', 'hourly' or a whole number of milliseconds, got ${JSON.stringify(frequency)}`);
  }
  const baseDelay = wholeOption('file.reopenMs', options.reopenMs, 1_000);
  const maxDelay = Math.max(wholeOption('file.maxReopenMs', options.maxReopenMs, 60_000), baseDelay);
  const file = resolve(path);

  const rollOptions = {
    file,
    size,
    frequency,
    // A date in the name only makes sense when files roll by calendar.
    ...(typeof frequency === 'string' ? { dateFormat: frequency === 'daily' ? 'yyyy-MM-dd' : 'yyyy-MM-dd-HH' } : {}),
    // Also delete files an earlier process wrote (by name pattern), or every restart would leave
    // its files behind for good. In that mode pino-roll's count includes the current file.
    limit: { count: keep + 1, removeOtherLogFiles: true },
    mkdir: true,
    // New files are not world-readable: logs carry addresses, emails and security events.
    mode: 0o640,
    // sonic-boom's flush() waits for the disk only when minLength > 0 (with 0 it returns at
    // once); 1 byte still writes every line straight away.
    minLength: 1,
  };

  /** The newest writer; undefined until pino-roll made the first one. */
  let current: RollStream | undefined;
  /** The writer lines go to; undefined while a failed one waits for its replacement (or its file). */
  let live: RollStream | undefined;
  /** Writers that failed: destroyed (their file closed), never written to or ended again. */
  const failed = new WeakSet<RollStream>();
  /** pino-roll looks at the folder before it makes a writer; meanwhile the first one's lines and flushes wait here. */
  let early: { lines: string[]; flushes: ((error?: Error) => void)[] } | undefined = { lines: [], flushes: [] };
  /** pino-roll preparing a writer. */
  let opening: Promise<void> | undefined;
  /** Between a writer's failure (reported) and the first line on disk again. */
  let outage = false;
  /** Lines no writer took during this outage. */
  let dropped = 0;
  /** A flush is checking that the new writer writes. */
  let confirming = false;
  let delay = baseDelay;
  let timer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;

  function open(first: boolean): void {
    timer = undefined;
    opening = loadPinoRoll()(rollOptions).then(
      (stream) => {
        opening = undefined;
        current = stream;
        stream.on('error', (error) => {
          // destroy() may report a failing close as well: one failure per writer.
          if (failed.has(stream)) return;
          failed.add(stream);
          // Closes the file: a failed writer is never used again. One whose file never opened holds
          // nothing to close (and sonic-boom would wait for a 'ready' that never comes).
          if (stream.fd >= 0) stream.destroy();
          lost(stream, error);
        });
        if (first) {
          // The first writer takes lines at once (sonic-boom buffers them until the file is open, so
          // startup lines are kept). A replacement takes them only once its file is open: lines
          // given to one that fails on opening would be lost without being counted.
          const waiting = early;
          early = undefined;
          live = stream;
          for (const line of waiting?.lines ?? []) stream.write(line);
          for (const cb of waiting?.flushes ?? []) stream.flush((error) => cb(error ?? undefined));
        } else if (stream.fd >= 0) {
          live = stream;
        } else {
          stream.once('ready', () => {
            if (!failed.has(stream) && closing === undefined) live = stream;
          });
        }
      },
      (error: Error) => {
        opening = undefined;
        if (early !== undefined) {
          const { lines, flushes } = early;
          early = undefined;
          dropped += lines.length;
          if (lines.length > 0) onDropped(lines.length);
          for (const cb of flushes) cb(error);
        }
        lost(undefined, error);
      },
    );
  }

  function lost(stream: RollStream | undefined, error: Error): void {
    if (stream !== undefined && live === stream) live = undefined;
    // One report per outage, not one per failed attempt.
    if (!outage) onError(new Error(`file ${file}: ${error.message}`, { cause: error }));
    outage = true;
    if (closing === undefined && timer === undefined) {
      timer = setTimeout(() => open(false), delay).unref();
      delay = Math.min(delay * 2, maxDelay);
    }
  }

  /** The outage ends when a flush proves a line reached the new writer's file (the disk may still be full). */
  function confirm(stream: RollStream): void {
    confirming = true;
    stream.flush((error) => {
      confirming = false;
      if (error || live !== stream || !outage) return;
      outage = false;
      delay = baseDelay;
      onError(new Error(`file ${file}: writing again; dropped ${dropped} line(s) while it could not`));
      dropped = 0;
    });
  }

  /** Like pino's own transports: what is still buffered when the process exits is written synchronously. */
  const flushAtExit = (): void => {
    try {
      if (live !== undefined && !failed.has(live)) live.flushSync();
    } catch {
      // not open yet, or the disk refuses: nothing more can be done while exiting
    }
  };
  process.once('exit', flushAtExit);

  open(true);
  return {
    write(line) {
      if (closing !== undefined) return;
      if (early !== undefined) {
        early.lines.push(line);
        return;
      }
      if (live === undefined) {
        dropped++;
        onDropped(1);
        return;
      }
      live.write(line);
      if (outage && !confirming) confirm(live);
    },
    flush(cb) {
      if (early !== undefined) early.flushes.push(cb);
      else if (live === undefined) cb(new Error(`file ${file}: not writable, ${dropped} line(s) dropped so far`));
      else live.flush((error) => cb(error ?? undefined));
    },
    close() {
      closing ??= (async () => {
        clearTimeout(timer);
        process.off('exit', flushAtExit);
        // A writer pino-roll is still preparing (the first one gets the lines logged meanwhile).
        await opening;
        if (dropped > 0) onError(new Error(`file ${file}: closed with ${dropped} line(s) dropped while it could not be written`));
        const stream = current;
        if (stream === undefined || failed.has(stream)) return;
        // `end()` writes what is buffered and closes the file. A writer whose file then fails to open
        // never emits 'close' (sonic-boom ends it only once it is ready): its failure ends the wait.
        await new Promise<void>((done) => {
          stream.once('close', done);
          stream.on('error', () => done());
          stream.end();
        });
      })();
      return closing;
    },
  };
}
