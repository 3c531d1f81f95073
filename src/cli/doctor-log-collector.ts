/**
 * `livecomponents doctor --connect`: the `log-collector` check. With `LOG_DESTINATION=syslog:…` or
 * `otlp:…` the app sends every log line to a collector; one that refuses the connection, or a host
 * name that does not resolve, passed the doctor while the running app lost every line (the logging
 * module says so on stderr only: `livecomponents logging: syslog tcp://…: connect ECONNREFUSED`).
 *
 * Read-only: a TCP connection is opened and closed at once (syslog over TCP, OTLP over HTTP(S)),
 * nothing is sent; for syslog over UDP, which has no answer, only the host name is resolved.
 */
import { lookup } from 'node:dns/promises';
import { connect } from 'node:net';
import { withDeadline } from '../core/deadline.js';
import { passed, failed, type CheckResult } from './doctor-check.js';
import type { AppConfig } from '../ops/config.js';
import { logDestinationForMessage, parseLogDestination } from '../ops/logging/destination.js';

export const LOG_COLLECTOR_CHECK_NAMES = ['log-collector'] as const;
export type LogCollectorCheckName = (typeof LOG_COLLECTOR_CHECK_NAMES)[number];

/** Connects to the collector of `LOG_DESTINATION` (or resolves its host, for UDP) within `timeoutMs`. */
export async function checkLogCollector(config: AppConfig, timeoutMs: number): Promise<CheckResult<LogCollectorCheckName>> {
  const destination = parseLogDestination(config.LOG_DESTINATION);
  if (destination.kind === 'stdout' || destination.kind === 'file') return passed('log-collector', 'no log collector: the logs go to a file or stdout');
  const shown = logDestinationForMessage(config.LOG_DESTINATION);
  let host: string;
  let port: number;
  if (destination.kind === 'syslog') {
    ({ host, port } = destination);
  } else {
    const url = new URL(destination.url);
    host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  }
  const udp = destination.kind === 'syslog' && destination.transport === 'udp';
  const error = udp ? await resolves(host, timeoutMs) : await connects(host, port, timeoutMs);
  if (error !== undefined) {
    const what = udp ? 'does not resolve' : 'did not answer';
    return failed('log-collector', `LOG_DESTINATION: ${shown} ${what} (${error}), so the app would start and every log line would be lost (said only on stderr); start the collector, or fix LOG_DESTINATION`);
  }
  return passed('log-collector', udp ? `${shown}: the host resolves (UDP confirms no delivery)` : `${shown} takes connections`);
}

/** Why `host`:`port` takes no TCP connection within `timeoutMs`, or undefined. */
function connects(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (why: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => done(`no connection within ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', () => done(undefined));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
  });
}

/** Why `host` does not resolve within `timeoutMs`, or undefined. */
async function resolves(host: string, timeoutMs: number): Promise<string | undefined> {
  try {
    await withDeadline(
      () => lookup(host),
      timeoutMs,
      (ms) => new Error(`no answer within ${ms} ms`),
      (error) => new Error(`getaddrinfo ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`),
    );
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
