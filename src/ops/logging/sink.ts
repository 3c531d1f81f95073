/**
 * The destination object handed to pino. Every strategy implements the same three calls, so
 * shutdown is one `closeLogger(logger)` whatever the destination, and tests can await delivery.
 */
import { pino, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { parseLine } from './record.js';

export interface LogSink {
  /** One serialized line (pino calls this). */
  write(line: string): void;
  /** Calls back once everything written so far has been handed on (pino's `logger.flush(cb)`). */
  flush(cb: (error?: Error) => void): void;
  /** Delivers what is pending, then releases sockets, timers and files. Idempotent. */
  close(): Promise<void>;
}

/**
 * How a destination that can fail tells about it: `onError` once per outage (they cannot go through
 * the logger they concern), `onDropped` with every record it gives up on.
 */
export interface DeliveryReport {
  onError(error: Error): void;
  onDropped(count: number): void;
}

/** Anything with a `write(string)`: `process.stdout`, a file stream, a test's collector. */
export interface TextStream {
  write(chunk: string): unknown;
}

function isLogSink(value: unknown): value is LogSink {
  const v = value as Partial<LogSink> | null;
  return typeof v?.write === 'function' && typeof v.flush === 'function' && typeof v.close === 'function';
}

/**
 * Flushes and closes the destination of a logger made by `createLogger` (or any of its children,
 * such as Fastify's `app.log`). Call it last on shutdown: lines logged afterwards are dropped.
 * First it runs what `beforeLoggerClose` registered for that destination (a security logger's
 * pending flood summaries), so those lines are written and delivered with the rest.
 */
export async function closeLogger(logger: Logger): Promise<void> {
  const stream = destinationOf(logger);
  runBeforeClose(stream);
  if (isLogSink(stream)) await stream.close();
}

/** Per destination, what to write before it closes. Weak: a destination dropped takes its hooks along. */
const beforeClose = new WeakMap<object, Set<() => void>>();

/**
 * Runs `write` once when `closeLogger` is called on `logger` or any logger sharing its destination
 * (Fastify's `app.log` and the logger it was made from), before the destination closes. Returns the
 * call that takes it back. For loggers without a destination object (a test's recorder) nothing is
 * registered.
 */
export function beforeLoggerClose(logger: object, write: () => void): () => void {
  const stream = destinationOf(logger);
  if (typeof stream !== 'object' || stream === null) return () => undefined;
  let hooks = beforeClose.get(stream);
  if (hooks === undefined) beforeClose.set(stream, (hooks = new Set()));
  hooks.add(write);
  return () => void hooks.delete(write);
}

function runBeforeClose(stream: unknown): void {
  if (typeof stream !== 'object' || stream === null) return;
  const hooks = beforeClose.get(stream);
  if (hooks === undefined) return;
  beforeClose.delete(stream);
  for (const write of hooks) {
    try {
      write();
    } catch {
      // A hook that fails must not keep the destination from closing and delivering the rest.
    }
  }
}

/** The destination pino writes `logger`'s lines to (shared by its children); anything, for any object. */
export function destinationOf(logger: Logger | object): unknown {
  return (logger as Record<symbol, unknown>)[pino.symbols.streamSym];
}

/** Resolves once everything logged so far has been handed on; the logger stays usable. */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve, reject) => logger.flush((error?: Error) => (error ? reject(error) : resolve())));
}

/** What `createTextSink` needs of pino's stdout writer (sonic-boom). */
interface OwnedStream extends TextStream {
  flush(cb: (error?: Error | null) => void): void;
  end(): void;
  once(event: 'close', listener: () => void): void;
}

/**
 * Standard output through pino's sonic-boom writer (which never closes fd 1), synchronously like
 * pino's own default: an asynchronous writer loses or reorders the last lines when the process
 * dies with a write in flight, and those are the lines that explain the crash.
 */
function stdoutStream(): OwnedStream {
  return pino.destination({ dest: 1, sync: true });
}

/** `json`: lines go out exactly as pino serialized them. */
export function createJsonSink(stream?: TextStream): LogSink {
  return createTextSink(stream ?? stdoutStream(), stream === undefined, (line) => line);
}

/** `pretty`: pino-pretty's formatter run in this thread, for a developer's terminal. */
export function createPrettySink(stream?: TextStream): LogSink {
  const colorize = stream === undefined && coloursWanted(process.env, process.stdout.isTTY);
  const prettify = prettyFactory({ colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' });
  // Re-read so pino-pretty sees pino's numeric level even when a merge object shadowed it.
  return createTextSink(stream ?? stdoutStream(), stream === undefined, (line) => {
    const record = parseLine(line);
    return prettify({ ...record.fields, level: record.level, time: record.timeMs, msg: record.msg });
  });
}

/**
 * Colours on a terminal, unless `NO_COLOR` is set to anything but "" (https://no-color.org: a
 * user's or a CI's standing request, which a screen reader or a log collector reading the
 * terminal relies on).
 */
export function coloursWanted(env: NodeJS.ProcessEnv, isTTY: boolean | undefined): boolean {
  return isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '');
}

/** `owned`: the stream was made here (stdout), so `flush` and `close` reach it; a caller's stream stays open. */
function createTextSink(out: TextStream, owned: boolean, format: (line: string) => string): LogSink {
  const own = owned ? (out as OwnedStream) : undefined;
  let closed = false;
  return {
    write(line) {
      if (!closed) out.write(format(line));
    },
    flush(cb) {
      if (own) own.flush((error) => cb(error ?? undefined));
      else cb();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (own) await new Promise<void>((resolve) => (own.once('close', resolve), own.end()));
    },
  };
}
