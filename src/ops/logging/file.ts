/**
 * `file:PATH`: JSON lines into rotating files written by pino-roll in pino's transport worker
 * thread, so disk latency never blocks a request. `logs/app.log` becomes
 * `logs/app.2026-01-15.1.log`, `logs/app.2026-01-15.2.log` (after `size`)…; `limit` keeps the newest.
 *
 * A worker that fails (full disk, folder removed or unwritable) is gone for good: thread-stream
 * destroys it on the first write error. So the sink starts a new one after a backoff, counts the
 * lines it could not hand to any worker meanwhile, and reports that count once a line has reached
 * the disk again — an outage is two reports (its error, then `dropped N lines`), not silence until
 * a restart.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pino } from 'pino';
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

/** The worker loads pino-roll by absolute path: resolution from a worker thread has no caller to start from. */
const PINO_ROLL = createRequire(import.meta.url).resolve('pino-roll');

interface ThreadStreamLike {
  write(chunk: string): boolean;
  flush(cb: (error?: Error | null) => void): void;
  end(): void;
  once(event: 'close' | 'ready', listener: () => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  readonly closed: boolean;
  readonly writable: boolean;
}

export function createFileSink(path: string, options: FileLogOptions, { onError, onDropped }: DeliveryReport): LogSink {
  const frequency = options.frequency ?? 'daily';
  const keep = wholeOption('file.keep', options.keep, 7);
  const size = options.size ?? '10m';
  // Checked here: pino-roll would only find out in its worker thread.
  if (!SIZE_RE.test(size)) throw new LogConfigError('LOG_OPTION_INVALID', 'file.size', `must be a number with an optional k, m or g suffix (e.g. '10m'), got "${size}"`);
  if (typeof frequency === 'number' ? !Number.isInteger(frequency) || frequency < 1 : frequency !== 'daily' && frequency !== 'hourly') {
    throw new LogConfigError('LOG_OPTION_INVALID', 'file.frequency', `must be 'daily', 'hourly' or a whole number of milliseconds, got ${JSON.stringify(frequency)}`);
  }
  const baseDelay = wholeOption('file.reopenMs', options.reopenMs, 1_000);
  const maxDelay = Math.max(wholeOption('file.maxReopenMs', options.maxReopenMs, 60_000), baseDelay);
  const file = resolve(path);

  const start = (): ThreadStreamLike =>
    pino.transport({
      target: PINO_ROLL,
      options: {
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
      },
    }) as unknown as ThreadStreamLike;

  /** The newest worker, ready or not. */
  let current: ThreadStreamLike;
  /** The worker lines go to; undefined while a failed one waits for its replacement (or its 'ready'). */
  let live: ThreadStreamLike | undefined;
  /** Between a worker's failure (reported) and the first line on disk again. */
  let outage = false;
  /** Lines no worker took during this outage. */
  let dropped = 0;
  /** A flush is checking that the new worker writes. */
  let confirming = false;
  let delay = baseDelay;
  let timer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;

  function open(first: boolean): void {
    timer = undefined;
    const transport = (current = start());
    // The first worker takes lines at once (it buffers them until it is ready, so startup lines are
    // kept). A replacement takes them only once it is ready: lines given to one that fails on
    // starting would be lost without being counted.
    if (first) live = transport;
    else transport.once('ready', () => (live = transport));
    transport.on('error', (error) => {
      if (live === transport) live = undefined;
      // One report per outage, not one per failed attempt.
      if (!outage) onError(new Error(`file ${file}: ${error.message}`, { cause: error }));
      outage = true;
      if (closing === undefined && timer === undefined) {
        timer = setTimeout(() => open(false), delay).unref();
        delay = Math.min(delay * 2, maxDelay);
      }
    });
  }

  /** The outage ends when a flush proves a line reached the new worker's file (the disk may still be full). */
  function confirm(transport: ThreadStreamLike): void {
    confirming = true;
    transport.flush((error) => {
      confirming = false;
      if (error || live !== transport || !outage) return;
      outage = false;
      delay = baseDelay;
      onError(new Error(`file ${file}: writing again; dropped ${dropped} line(s) while it could not`));
      dropped = 0;
    });
  }

  open(true);
  return {
    write(line) {
      if (closing !== undefined) return;
      if (live === undefined || !live.writable) {
        dropped++;
        onDropped(1);
        return;
      }
      live.write(line);
      if (outage && !confirming) confirm(live);
    },
    flush(cb) {
      if (live === undefined) cb(new Error(`file ${file}: not writable, ${dropped} line(s) dropped so far`));
      else live.flush((error) => cb(error ?? undefined));
    },
    close() {
      closing ??= (async () => {
        clearTimeout(timer);
        if (dropped > 0) onError(new Error(`file ${file}: closed with ${dropped} line(s) dropped while it could not be written`));
        const transport = current;
        if (transport.closed) return;
        // `end()` makes the worker flush and close the file; `close` fires once the worker exited.
        await new Promise<void>((done) => {
          transport.once('close', done);
          transport.end();
        });
      })();
      return closing;
    },
  };
}
