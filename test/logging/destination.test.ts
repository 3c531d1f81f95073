import { describe, expect, it } from 'vitest';
import { createLogger, LogConfigError, parseLogDestination, parseLogFormat } from '../../src/ops/logging/index.js';

function errorOf(fn: () => unknown): LogConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof LogConfigError) return error;
    throw error;
  }
  throw new Error('expected a LogConfigError');
}

describe('parseLogDestination', () => {
  it('reads each documented form', () => {
    expect(parseLogDestination('stdout')).toEqual({ kind: 'stdout' });
    expect(parseLogDestination(' file:./logs/app.log ')).toEqual({ kind: 'file', path: './logs/app.log' });
    expect(parseLogDestination('syslog:udp://127.0.0.1:5514')).toEqual({
      kind: 'syslog',
      transport: 'udp',
      host: '127.0.0.1',
      port: 5514,
      facility: 1,
    });
    expect(parseLogDestination('syslog:tcp://logs.internal?facility=local0')).toEqual({
      kind: 'syslog',
      transport: 'tcp',
      host: 'logs.internal',
      port: 514,
      facility: 16,
    });
    expect(parseLogDestination('syslog:udp://[::1]:514')).toMatchObject({ host: '::1', port: 514 });
    expect(parseLogDestination('otlp:http://collector:4318')).toEqual({ kind: 'otlp', url: 'http://collector:4318/v1/logs' });
    expect(parseLogDestination('otlp:https://collector.example/custom/logs')).toEqual({
      kind: 'otlp',
      url: 'https://collector.example/custom/logs',
    });
  });

  it.each([
    ['ftp://host/file', 'LOG_DESTINATION: unknown scheme "ftp:"'],
    ['', 'LOG_DESTINATION: is empty'],
    ['stderr', 'LOG_DESTINATION: "stderr" is not a destination'],
    ['file:', 'LOG_DESTINATION: file: needs a path'],
    ['syslog:tls://host:6514', 'LOG_DESTINATION: syslog transport must be udp or tcp, got "tls:"'],
    ['syslog:not a url', 'LOG_DESTINATION: "not a url" is not a URL'],
    ['syslog:udp://host:514?facility=local9', 'LOG_DESTINATION: unknown syslog facility "local9"'],
    ['syslog:udp://host:514?format=cee', 'LOG_DESTINATION: unknown syslog option "format"'],
    ['syslog:udp://host:99999', 'LOG_DESTINATION: "udp://host:99999" is not a URL'],
    ['syslog:udp://host:0', 'LOG_DESTINATION: syslog:udp://host:0: the port must be from 1 to 65535'],
    ['syslog:tcp://host:0', 'LOG_DESTINATION: syslog:tcp://host:0: the port must be from 1 to 65535'],
    ['otlp:grpc://collector:4317', 'LOG_DESTINATION: otlp needs an http:// or https:// URL, got "grpc:"'],
  ])('refuses %j with a clear message', (text, message) => {
    const error = errorOf(() => parseLogDestination(text));
    expect(error.code).toBe('LOG_DESTINATION_INVALID');
    expect(error.message.startsWith(message)).toBe(true);
    expect(error.detail).toBe(error.message.slice('LOG_DESTINATION: '.length));
  });
});

describe('parseLogFormat and createLogger options', () => {
  it('accepts pretty and json in any case, refuses anything else', () => {
    expect(parseLogFormat('pretty')).toBe('pretty');
    expect(parseLogFormat(' JSON ')).toBe('json');
    const error = errorOf(() => parseLogFormat('xml'));
    expect(error.code).toBe('LOG_FORMAT_INVALID');
    expect(error.message).toBe('LOG_FORMAT: unknown format "xml" (expected pretty or json)');
  });

  it('refuses an unknown level and a bad destination before opening anything', () => {
    const level = errorOf(() => createLogger({ level: 'verbose', stream: { write: () => true } }));
    expect(level.code).toBe('LOG_LEVEL_INVALID');
    expect(level.message).toBe('LOG_LEVEL: unknown level "verbose" (expected trace, debug, info, warn, error, fatal, silent)');
    expect(errorOf(() => createLogger({ destination: 'kafka:broker:9092' })).code).toBe('LOG_DESTINATION_INVALID');
  });

  it.each([
    [{ destination: 'syslog:udp://127.0.0.1:9', syslog: { maxDatagramBytes: 100 } }, 'syslog.maxDatagramBytes: must be an integer from 480 to 65507, got 100'],
    [{ destination: 'syslog:tcp://127.0.0.1:9', syslog: { maxQueued: 0 } }, 'syslog.maxQueued: must be a whole number of at least 1, got 0'],
    [{ destination: 'syslog:tcp://127.0.0.1:9', syslog: { reconnectMs: 1.5 } }, 'syslog.reconnectMs: must be a whole number of at least 1, got 1.5'],
    [{ destination: 'otlp:http://127.0.0.1:9', otlp: { maxBatch: -1 } }, 'otlp.maxBatch: must be a whole number of at least 1, got -1'],
    [{ destination: 'otlp:http://127.0.0.1:9', otlp: { intervalMs: 0 } }, 'otlp.intervalMs: must be a whole number of at least 1, got 0'],
    [{ destination: 'file:./never.log', file: { size: '10 MB' } }, `file.size: must be a number with an optional k, m or g suffix (e.g. '10m'), got "10 MB"`],
    [{ destination: 'file:./never.log', file: { frequency: 'weekly' as 'daily' } }, `file.frequency: must be 'daily', 'hourly' or a whole number of milliseconds, got "weekly"`],
    [{ destination: 'file:./never.log', file: { keep: 0 } }, 'file.keep: must be a whole number of at least 1, got 0'],
  ])('refuses a bad strategy option before opening anything (%#)', (options, message) => {
    const error = errorOf(() => createLogger(options));
    expect(error.code).toBe('LOG_OPTION_INVALID');
    expect(error.message).toBe(message);
  });
});
