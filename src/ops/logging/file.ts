/**
 * `file:PATH`: JSON lines into rotating files written by pino-roll in pino's transport worker
 * thread, so disk latency never blocks a request. `logs/app.log` becomes
 * `logs/app.2026-01-15.1.log`, `logs/app.2026-01-15.2.log` (after `size`)…; `limit` keeps the newest.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { LogConfigError, wholeOption } from './destination.js';
import type { LogSink } from './sink.js';

export interface FileLogOptions {
  /** Start a new file past this size (`k`, `m`, `g` suffixes, as pino-roll reads them). @default '10m' */
  size?: string;
  /** Start a new file every day (`daily`), hour (`hourly`) or this many milliseconds. @default 'daily' */
  frequency?: 'daily' | 'hourly' | number;
  /** Rotated files kept besides the current one; older ones (also from earlier runs) are deleted. @default 7 */
  keep?: number;
}

const SIZE_RE = /^\d+(\.\d+)?[kmg]?$/i;

/** The worker loads pino-roll by absolute path: resolution from a worker thread has no caller to start from. */
const PINO_ROLL = createRequire(import.meta.url).resolve('pino-roll');

interface ThreadStreamLike {
  write(chunk: string): boolean;
  flush(cb: (error?: Error | null) => void): void;
  end(): void;
  once(event: 'close' | 'error', listener: (error?: Error) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  readonly closed: boolean;
  readonly writable: boolean;
}

export function createFileSink(path: string, options: FileLogOptions = {}, onError: (error: Error) => void): LogSink {
  const frequency = options.frequency ?? 'daily';
  const keep = wholeOption('file.keep', options.keep, 7);
  const size = options.size ?? '10m';
  // Checked here: pino-roll would only find out in its worker thread.
  if (!SIZE_RE.test(size)) throw new LogConfigError('LOG_OPTION_INVALID', 'file.size', `must be a number with an optional k, m or g suffix (e.g. '10m'), got "${size}"`);
  if (typeof frequency === 'number' ? !Number.isInteger(frequency) || frequency < 1 : frequency !== 'daily' && frequency !== 'hourly') {
    throw new LogConfigError('LOG_OPTION_INVALID', 'file.frequency', `must be 'daily', 'hourly' or a whole number of milliseconds, got ${JSON.stringify(frequency)}`);
  }
  const transport = pino.transport({
    target: PINO_ROLL,
    options: {
      file: resolve(path),
      size,
      frequency,
      // A date in the name only makes sense when files roll by calendar.
      ...(typeof frequency === 'string' ? { dateFormat: frequency === 'daily' ? 'yyyy-MM-dd' : 'yyyy-MM-dd-HH' } : {}),
      // Also delete files an earlier process wrote (by name pattern), or every restart would leave
      // its files behind for good. In that mode pino-roll's count includes the current file.
      limit: { count: keep + 1, removeOtherLogFiles: true },
      mkdir: true,
      // sonic-boom's flush() waits for the disk only when minLength > 0 (with 0 it returns at
      // once); 1 byte still writes every line straight away.
      minLength: 1,
    },
  }) as unknown as ThreadStreamLike;
  transport.on('error', onError);
  let closing: Promise<void> | undefined;
  return {
    write(line) {
      // A dead worker (unwritable folder, full disk) was reported once; writing on would report every line.
      if (closing === undefined && transport.writable) transport.write(line);
    },
    flush(cb) {
      transport.flush((error) => cb(error ?? undefined));
    },
    close() {
      // `end()` makes the worker flush and close the file; `close` fires once the worker exited.
      closing ??= transport.closed
        ? Promise.resolve()
        : new Promise<void>((done) => {
            transport.once('close', () => done());
            transport.end();
          });
      return closing;
    },
  };
}
