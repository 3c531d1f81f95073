/**
 * `livecomponents revoke-sessions`: where its security event goes — the app's log destination
 * (`LOG_FORMAT`, `LOG_DESTINATION`) — and who ran it, for the event's text.
 */
import { hostname, userInfo } from 'node:os';
import { closeLogger, createLogger } from '../ops/logging/index.js';
import type { SecurityEventSink } from '../ops/security-events.js';
import { createSecurityLogger } from '../ops/security-logger.js';
import { Refusal, type CommandIo } from './command.js';

/** Who ran it, for the event: the OS user and host (a container may have no user name). */
export function operator(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? 'unknown'}`;
  }
  return `${user} on ${hostname()}`;
}

/** Per sink made here, the logger to close once the event is written. */
const ownLoggers = new WeakMap<SecurityEventSink, ReturnType<typeof createLogger>>();

/**
 * The security log of the app's configuration (`LOG_FORMAT`, default json; `LOG_DESTINATION`): on
 * `stdout`, written to this command's standard error instead.
 */
export function securityLog(io: Pick<CommandIo, 'env' | 'err'>): SecurityEventSink {
  const destination = io.env.LOG_DESTINATION?.trim() || 'stdout';
  let logger: ReturnType<typeof createLogger>;
  try {
    logger = createLogger({
      format: io.env.LOG_FORMAT?.trim() || 'json',
      destination,
      stream: { write: (chunk: string) => io.err(chunk.replace(/\n$/, '')) },
      onError: (error) => io.err(`revoke-sessions: the security log: ${error.message}`),
    });
  } catch (error) {
    throw new Refusal(`LOG_FORMAT or LOG_DESTINATION: ${(error as Error).message}`, 2);
  }
  const sink = createSecurityLogger({ logger });
  ownLoggers.set(sink, logger);
  return sink;
}

export async function closeSecurityLog(sink: SecurityEventSink): Promise<void> {
  const logger = ownLoggers.get(sink);
  if (logger !== undefined) await closeLogger(logger).catch(() => undefined);
}
