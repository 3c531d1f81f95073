/**
 * `file:PATH`: JSON lines into rotating files (./file-roller.ts: a sonic-boom stream writing
 * asynchronously, so disk latency never blocks a request). `logs/app.log` becomes
 * `logs/app.2026-01-15.1.log`, `logs/app.2026-01-15.2.log` (after `size`)…; `keep` says how many rotated files stay.
 * Written in this thread, not in pino's transport worker: a worker cannot give back what it opened
 * (thread-stream terminates it on the first write error with `trackUnmanagedFds: false`, so every
 * failed writer's file stayed open), whereas here a failed writer is `destroy()`ed, closing its file.
 *
 * A writer that fails (full disk, folder removed or unwritable) is destroyed — its file closed —
 * and never used again. So the sink starts a new one after a backoff, counts the lines it could not
 * hand to any writer meanwhile, and reports that count once a line has reached the disk again — an
 * outage is two reports (its error, then `dropped N lines`), not silence until a restart.
 */
import { resolve } from 'node:path';
import { LogConfigError, timerOption, wholeOption } from './destination.js';
import { DEFAULT_MAX_BUFFERED, parseSize, RollingFile } from './file-roller.js';
import type { DeliveryReport, LogSink } from './sink.js';

export interface FileLogOptions {
  /** Start a new file past this size (`k`, `m`, `g` suffixes, a bare number is megabytes). @default '10m' */
  size?: string;
  /** Start a new file every day (`daily`), hour (`hourly`) or this many milliseconds. @default 'daily' */
  frequency?: 'daily' | 'hourly' | number;
  /** Rotated files kept besides the current one; older ones (also from earlier runs) are deleted. @default 7 */
  keep?: number;
  /**
   * After the writer failed: first delay before a new one is started, doubled up to `maxReopenMs`;
   * in ms, at most 2^31 − 1 (a timer's limit). @default 1_000
   */
  reopenMs?: number;
  /** At most 2^31 − 1 ms. @default 60_000 */
  maxReopenMs?: number;
  /**
   * Most bytes of lines waiting in memory for the disk (a slow or stalled one); lines past it are
   * dropped and counted (`onDropped`), and reported once until the disk has caught up (nothing waits). Same suffixes as
   * `size`; a line larger than it is always dropped. @default '16m'
   */
  maxBuffered?: string;
}

export function createFileSink(path: string, options: FileLogOptions, { onError, onDropped }: DeliveryReport): LogSink {
  const frequency = options.frequency ?? 'daily';
  const keep = wholeOption('file.keep', options.keep, 7);
  const size = options.size ?? '10m';
  // Checked here: the roller opens asynchronously, once createLogger has returned.
  const sizeBytes = parseSize(size);
  if (Number.isNaN(sizeBytes)) throw new LogConfigError('LOG_OPTION_INVALID', 'file.size', `must be a number with an optional k, m or g suffix (e.g. '10m'), got "${size}"`);
  if (typeof frequency === 'number' ? !Number.isInteger(frequency) || frequency < 1 : frequency !== 'daily' && frequency !== 'hourly') {
    throw new LogConfigError('LOG_OPTION_INVALID', 'file.frequency', `must be 'daily', 'hourly' or a whole number of milliseconds, got ${JSON.stringify(frequency)}`);
  }
  // Timers' delays: Node fires a longer one after 1 ms, and a failing writer was restarted in a busy loop.
  const baseDelay = timerOption('file.reopenMs', options.reopenMs, 1_000);
  const maxDelay = Math.max(timerOption('file.maxReopenMs', options.maxReopenMs, 60_000), baseDelay);
  const maxBuffered = options.maxBuffered === undefined ? DEFAULT_MAX_BUFFERED : Math.floor(parseSize(options.maxBuffered));
  if (!(maxBuffered >= 1)) throw new LogConfigError('LOG_OPTION_INVALID', 'file.maxBuffered', `must be a size above 0 with an optional k, m or g suffix (e.g. '16m'), got "${options.maxBuffered}"`);
  const file = resolve(path);

  const rollOptions = { file, size: sizeBytes, frequency, keep, maxBuffered };

  /** The newest writer; undefined until the first one is made. */
  let current: RollingFile | undefined;
  /** The writer lines go to; undefined while a failed one waits for its replacement (or its file). */
  let live: RollingFile | undefined;
  /** Writers that failed: destroyed (their file closed), never written to or ended again. */
  const failed = new WeakSet<RollingFile>();
  /**
   * The roller looks at the folder before it makes a writer; meanwhile the first one's lines and
   * flushes wait here (`bytes` of lines, at most `maxBuffered`, as in the writer: a folder on a
   * stalled disk holds them up as long).
   */
  let early: { lines: string[]; bytes: number; flushes: ((error?: Error) => void)[] } | undefined = { lines: [], bytes: 0, flushes: [] };
  /**
   * Lines are being dropped because `maxBuffered` bytes wait for the disk: reported once until the
   * writer caught up (its 'drain': nothing waits). Not until a line fits again: under a disk slower
   * than the app, every write that frees a few KiB lets a line fit, and each of them began a new
   * report, one line on stderr per write for as long as the disk stayed behind.
   */
  let behind = false;
  /** A writer being prepared. */
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
    opening = RollingFile.open(rollOptions).then(
      (stream) => {
        opening = undefined;
        current = stream;
        stream.onDrain(() => (behind = false));
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
          for (const line of waiting?.lines ?? []) if (!stream.write(line)) overflow();
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

  function lost(stream: RollingFile | undefined, error: Error): void {
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
  function confirm(stream: RollingFile): void {
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

  /** A line that did not fit under `maxBuffered`: counted; the first since the writer last caught up is reported. */
  function overflow(): void {
    onDropped(1);
    if (behind) return;
    behind = true;
    onError(new Error(`file ${file}: the disk is not keeping up: ${maxBuffered} bytes wait for it, and lines past them are dropped until it catches up`));
  }

  open(true);
  return {
    write(line) {
      if (closing !== undefined) return;
      if (early !== undefined) {
        const bytes = Buffer.byteLength(line);
        if (early.bytes + bytes > maxBuffered) {
          overflow();
          return;
        }
        early.bytes += bytes;
        early.lines.push(line);
        return;
      }
      if (live === undefined) {
        dropped++;
        onDropped(1);
        return;
      }
      if (!live.write(line)) {
        overflow();
        return;
      }
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
        // A writer still being prepared (the first one gets the lines logged meanwhile).
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
        // Old files a last roll is deleting: gone once closeLogger resolves.
        await stream.cleaned;
      })();
      return closing;
    },
  };
}
