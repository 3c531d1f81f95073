/**
 * `LOG_FORMAT` and `LOG_DESTINATION` (PROTOCOL §1) as values. Each bad input is a `LogConfigError`
 * whose `code` is stable and whose message names the variable, so the config schema can show it as is.
 */
import { checkTimerDelay, MAX_TIMER_MS } from '../../core/deadline.js';
import { urlForMessage } from '../config-fields.js';

export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Where log lines go. `stdout` and `file` take the format; syslog and OTLP are structured by nature. */
export type LogDestination =
  | { kind: 'stdout' }
  | { kind: 'file'; path: string }
  | { kind: 'syslog'; transport: 'udp' | 'tcp'; host: string; port: number; facility: number }
  | { kind: 'otlp'; url: string };

export type LogConfigErrorCode = 'LOG_DESTINATION_INVALID' | 'LOG_FORMAT_INVALID' | 'LOG_LEVEL_INVALID' | 'LOG_OPTION_INVALID';

export class LogConfigError extends Error {
  readonly code: LogConfigErrorCode;
  /** The problem without the variable name, for schemas that prefix the path themselves. */
  readonly detail: string;

  constructor(code: LogConfigErrorCode, variable: string, detail: string) {
    super(`${variable}: ${detail}`);
    this.name = 'LogConfigError';
    this.code = code;
    this.detail = detail;
  }
}

/** RFC 5424 §6.2.1 facility codes by name. */
export const SYSLOG_FACILITIES: Readonly<Record<string, number>> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};

/** No RFC fixes a port for syslog over TCP; 514 is what rsyslog and syslog-ng listen on by default. */
const SYSLOG_DEFAULT_PORT = 514;
const EXPECTED = 'expected stdout, file:PATH, syslog:udp://HOST:PORT, syslog:tcp://HOST:PORT or otlp:http(s)://HOST:PORT';

export function parseLogFormat(text: string): LogFormat {
  const value = text.trim().toLowerCase();
  if ((LOG_FORMATS as readonly string[]).includes(value)) return value as LogFormat;
  throw new LogConfigError('LOG_FORMAT_INVALID', 'LOG_FORMAT', `unknown format "${text}" (expected pretty or json)`);
}

/**
 * `LOG_DESTINATION` as messages and summaries may show it: the URL of `syslog:`/`otlp:` through
 * `urlForMessage` (no user, password or query such as `?api_key=`); `stdout` and `file:PATH` as is.
 */
export function logDestinationForMessage(text: string): string {
  const colon = text.indexOf(':');
  const scheme = text.slice(0, colon).toLowerCase();
  return scheme === 'syslog' || scheme === 'otlp' ? `${text.slice(0, colon)}:${urlForMessage(text.slice(colon + 1))}` : text;
}

/**
 * @example parseLogDestination('syslog:tcp://logs.internal:514?facility=local0')
 * // → { kind: 'syslog', transport: 'tcp', host: 'logs.internal', port: 514, facility: 16 }
 */
export function parseLogDestination(text: string): LogDestination {
  const value = text.trim();
  if (value === '') return fail('is empty (expected stdout, file:PATH, syslog:URL or otlp:URL)');
  if (value === 'stdout') return { kind: 'stdout' };
  const colon = value.indexOf(':');
  if (colon <= 0) return fail(`"${urlForMessage(value)}" is not a destination (${EXPECTED})`);
  const scheme = value.slice(0, colon).toLowerCase();
  const rest = value.slice(colon + 1);
  switch (scheme) {
    case 'file':
      if (rest.trim() === '') return fail('file: needs a path, e.g. file:./logs/app.log');
      return { kind: 'file', path: rest };
    case 'syslog':
      return parseSyslog(rest);
    case 'otlp':
      return parseOtlp(rest);
    default:
      return fail(`unknown scheme "${scheme}:" (${EXPECTED})`);
  }
}

function parseSyslog(text: string): LogDestination {
  const url = parseUrl(text, 'syslog:udp://HOST:PORT or syslog:tcp://HOST:PORT');
  const transport = url.protocol.slice(0, -1);
  if (transport !== 'udp' && transport !== 'tcp') {
    return fail(`syslog transport must be udp or tcp, got "${url.protocol}" (e.g. syslog:udp://127.0.0.1:514)`);
  }
  if (url.hostname === '') return fail(`syslog:${urlForMessage(text)} has no host`);
  const facilityName = url.searchParams.get('facility') ?? 'user';
  const facility = SYSLOG_FACILITIES[facilityName];
  if (facility === undefined) {
    return fail(`unknown syslog facility "${facilityName}" (expected one of ${Object.keys(SYSLOG_FACILITIES).join(', ')})`);
  }
  for (const key of url.searchParams.keys()) {
    if (key !== 'facility') return fail(`unknown syslog option "${key}" (only facility is accepted)`);
  }
  const port = url.port === '' ? SYSLOG_DEFAULT_PORT : Number(url.port);
  // Node's socket refuses port 0 at every send: each line would be lost.
  if (port === 0) return fail(`syslog:${urlForMessage(text)}: the port must be from 1 to 65535`);
  // WHATWG URL keeps IPv6 literals bracketed; sockets want them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { kind: 'syslog', transport, host, port, facility };
}

function parseOtlp(text: string): LogDestination {
  const url = parseUrl(text, 'otlp:http://HOST:4318');
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return fail(`otlp needs an http:// or https:// URL, got "${url.protocol}" (OTLP/HTTP, e.g. otlp:http://127.0.0.1:4318)`);
  }
  // Like OTEL_EXPORTER_OTLP_ENDPOINT: a bare collector address gets the logs path; a path is kept as given.
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/logs';
  return { kind: 'otlp', url: url.toString() };
}

function parseUrl(text: string, example: string): URL {
  try {
    return new URL(text);
  } catch {
    return fail(`"${urlForMessage(text)}" is not a URL (expected ${example})`);
  }
}

function fail(detail: string): never {
  throw new LogConfigError('LOG_DESTINATION_INVALID', 'LOG_DESTINATION', detail);
}

/** A strategy option that must be a whole number ≥ `min`; `undefined` takes the default. */
export function wholeOption(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) throw new LogConfigError('LOG_OPTION_INVALID', name, `must be a whole number of at least ${min}, got ${v}`);
  return v;
}

/**
 * A strategy option that becomes a timer's delay: a whole number of ms from 1 to `max`, at most
 * `MAX_TIMER_MS`. Node fires a longer timer after 1 ms: an OTLP `intervalMs` of 2^31 POSTed in a busy
 * loop, a `timeoutMs` of 2^31 aborted every POST at once. `undefined` takes the default.
 */
export function timerOption(name: string, value: number | undefined, fallback: number, max = MAX_TIMER_MS): number {
  const v = wholeOption(name, value, fallback);
  return checkTimerDelay(v, { max, integer: true }, () => new LogConfigError('LOG_OPTION_INVALID', name, `must be at most ${max} ms (a Node.js timer waits at most ${MAX_TIMER_MS} ms), got ${v}`));
}
