/**
 * `file:PATH`: JSON lines into rotating files written by pino-roll in pino's transport worker
 * thread, so disk latency never blocks a request. `logs/app.log` becomes
 * `logs/app.2026-01-15.1.log`, `logs/app.2026-01-15.2.log` (after `size`)…; `limit` keeps the newest.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pino } from 'pino';
import type { LogSink } from './sink.js';

export interface FileLogOptions {
  /** Start a new file past this size (`k`, `m`, `g` suffixes, as pino-roll reads them). @default '10m' */
  size?: string;
  /** Start a new file every day (`daily`), hour (`hourly`) or this many milliseconds. @default 'daily' */
  frequency?: 'daily' | 'hourly' | number;
  /** Rotated files kept besides the current one; older ones are deleted. @default 7 */
  keep?: number;
}

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
  const transport = pino.transport({
    target: PINO_ROLL,
    options: {
      file: resolve(path),
      size: options.size ?? '10m',
      frequency,
      // A date in the name only makes sense when files roll by calendar.
      ...(typeof frequency === 'string' ? { dateFormat: frequency === 'daily' ? 'yyyy-MM-dd' : 'yyyy-MM-dd-HH' } : {}),
      limit: { count: options.keep ?? 7 },
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
