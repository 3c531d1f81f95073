/**
 * `createLogger`: one pino logger for the app, Fastify and security events, with five strategies
 * chosen by `LOG_FORMAT` / `LOG_DESTINATION` (PROTOCOL §1):
 *
 * | strategy | destination | written by |
 * | --- | --- | --- |
 * | pretty | `stdout`, format `pretty` | pino-pretty's formatter, in this thread |
 * | json | `stdout`, format `json` | pino's sonic-boom writer |
 * | file | `file:PATH` | sonic-boom, asynchronous writes (rotation by day and size, file-roller.ts) |
 * | syslog | `syslog:udp://…`, `syslog:tcp://…` | RFC 5424 over UDP / TCP with octet counting |
 * | otlp | `otlp:http://…` | OTLP/HTTP JSON, batched |
 *
 * Every line passes the same redaction (redact.ts) before any destination sees it.
 */
import { pino, type Level, type Logger } from 'pino';
import { LogConfigError, parseLogDestination, parseLogFormat, type LogDestination, type LogFormat } from './destination.js';
import { createFileSink, type FileLogOptions } from './file.js';
import { createOtlpSink, type OtlpLogOptions } from './otlp.js';
import { CENSOR, REDACT_PATHS, censorLine } from './redact.js';
import { serializeRequest } from './request-serializer.js';
import { serializeError } from './error-serializer.js';
import { createJsonSink, createPrettySink, destinationOf, type DeliveryReport, type LogSink, type TextStream } from './sink.js';
import { createSyslogSink, type SyslogLogOptions } from './syslog.js';

export interface CreateLoggerOptions {
  /**
   * How `stdout` lines look: `pretty` for a developer's terminal, `json` for containers. Files,
   * syslog and OTLP always carry the JSON record, whatever this says.
   * @default 'json'
   */
  format?: LogFormat | string;
  /**
   * `stdout`, `file:PATH`, `syslog:udp://HOST:PORT`, `syslog:tcp://HOST:PORT` (optional
   * `?facility=local0`), `otlp:http://HOST:4318`, or the value `parseLogDestination` returns.
   * @default 'stdout'
   */
  destination?: string | LogDestination;
  /** Lowest level written: `trace`, `debug`, `info`, `warn`, `error`, `fatal` or `silent`. @default 'info' */
  level?: string;
  /** pino `name`, syslog APP-NAME and OTLP `service.name`. @default 'livecomponents' */
  appName?: string;
  /** pino redact paths added to `REDACT_PATHS` (e.g. `'body.card_number'`). @default [] */
  redact?: readonly string[];
  /** Where the `stdout` destination writes instead of standard output (tests, stderr). @default standard output */
  stream?: TextStream;
  /** `file:` rotation. */
  file?: FileLogOptions;
  syslog?: SyslogLogOptions;
  otlp?: OtlpLogOptions;
  /**
   * Delivery problems of the destination (collector down, queue full). They cannot go through
   * the logger they concern.
   * @default writes one line to standard error
   */
  onError?: (error: Error) => void;
  /**
   * Records the destination could not deliver, as they are given up: a file no writer can take,
   * a syslog or OTLP queue past its bound, a collector refusing a batch for good, what is still
   * queued when the logger closes. `droppedLogRecords(logger)` keeps the running total (the
   * metric `livecomponents_log_records_dropped_total` reads it). Must not throw.
   * @default none
   */
  onDropped?: (count: number) => void;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/**
 * @example
 * const logger = createLogger({ format: 'json', destination: process.env.LOG_DESTINATION ?? 'stdout' });
 * const app = Fastify(serverOptions({ loggerInstance: logger }));
 * app.addHook('onClose', () => closeLogger(logger));
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const format = parseLogFormat(options.format ?? 'json');
  const destination = typeof options.destination === 'object' ? options.destination : parseLogDestination(options.destination ?? 'stdout');
  const level = options.level ?? 'info';
  if (!(LEVELS as readonly string[]).includes(level)) {
    throw new LogConfigError('LOG_LEVEL_INVALID', 'LOG_LEVEL', `unknown level "${level}" (expected ${LEVELS.join(', ')})`);
  }
  const appName = options.appName ?? 'livecomponents';
  const onError = options.onError ?? ((e: Error) => void process.stderr.write(`livecomponents logging: ${e.message}\n`));
  let dropped = 0;
  const onDropped = (count: number): void => {
    dropped += count;
    options.onDropped?.(count);
  };
  const sink = createSink(destination, format, appName, options, { onError, onDropped });
  droppedTotals.set(sink, () => dropped);
  return pino(
    {
      name: appName,
      level: level as Level,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...REDACT_PATHS, ...(options.redact ?? [])], censor: CENSOR },
      hooks: { streamWrite: censorLine },
      // `error` too: an Error under any other key is written `{}` by JSON (its fields are not
      // enumerable) and skips the command-argument censoring, and `{ error }` is a common spelling.
      // `req` replaces Fastify's (an instance's own serializers win): client text escaped, the
      // forwarded address cut (request-serializer.ts).
      serializers: { err: serializeError, error: serializeError, req: serializeRequest },
    },
    sink,
  );
}

/** Per sink made by `createLogger`, its running total of dropped records. */
const droppedTotals = new WeakMap<object, () => number>();

/**
 * Log records the destination of `logger` (made by `createLogger`, or any of its children such as
 * Fastify's `app.log`) has given up on since it was created; 0 for any other logger. `stdout`
 * writes synchronously and never drops.
 */
export function droppedLogRecords(logger: Logger | object): number {
  const stream = destinationOf(logger);
  return typeof stream === 'object' && stream !== null ? (droppedTotals.get(stream)?.() ?? 0) : 0;
}

function createSink(destination: LogDestination, format: LogFormat, appName: string, options: CreateLoggerOptions, report: DeliveryReport): LogSink {
  switch (destination.kind) {
    case 'stdout':
      return format === 'pretty' ? createPrettySink(options.stream) : createJsonSink(options.stream);
    case 'file':
      return createFileSink(destination.path, options.file ?? {}, report);
    case 'syslog':
      return createSyslogSink(destination, appName, options.syslog ?? {}, report);
    case 'otlp':
      return createOtlpSink(destination.url, appName, options.otlp ?? {}, report);
  }
}

export { beforeLoggerClose, closeLogger, flushLogger } from './sink.js';
export type { DeliveryReport, LogSink, TextStream } from './sink.js';
export { LogConfigError, parseLogDestination, parseLogFormat, LOG_FORMATS, SYSLOG_FACILITIES } from './destination.js';
export type { LogConfigErrorCode, LogDestination, LogFormat } from './destination.js';
export { CENSOR, REDACT_PATHS, censorLine } from './redact.js';
export { LOG_FIELDS } from './fields.js';
export type { FileLogOptions } from './file.js';
export type { SyslogLogOptions } from './syslog.js';
export type { OtlpLogOptions } from './otlp.js';
