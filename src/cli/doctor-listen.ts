/**
 * `livecomponents doctor --connect`: the `listen` check. The app listens on `HOST`:`PORT` (and
 * `METRICS_PORT`, when set) once everything else is ready; a name that does not resolve, an
 * address of another machine, or a port below 1024 for a user without the privilege passed every
 * other check and stopped start-up. This check listens there the same way, as this user, and closes
 * at once, with the words start-up would print (src/ops/config-listen.ts).
 *
 * A port in use is not a failure: the doctor runs before a restart, while the instance it replaces
 * still holds the port. The line says so instead.
 */
import { passed, checked, type CheckResult } from './doctor-check.js';
import type { AppConfig } from '../ops/config.js';
import { listenRefusal, tryListen } from '../ops/config-listen.js';

export const LISTEN_CHECK_NAMES = ['listen'] as const;
export type ListenCheckName = (typeof LISTEN_CHECK_NAMES)[number];

/** Tries `HOST`:`PORT` and `HOST`:`METRICS_PORT`, each within `timeoutMs`. */
export async function checkListen(config: AppConfig, timeoutMs: number): Promise<CheckResult<ListenCheckName>> {
  const ports = [
    { variable: 'PORT', port: config.PORT },
    ...(config.METRICS_PORT === undefined ? [] : [{ variable: 'METRICS_PORT', port: config.METRICS_PORT }]),
  ];
  const problems: string[] = [];
  const notes: string[] = [];
  for (const { variable, port } of ports) {
    const error = await tryListen(config.HOST, port, timeoutMs);
    if (error === undefined) {
      notes.push(`${variable}=${port} is free`);
    } else if (error.code === 'EADDRINUSE') {
      notes.push(`${variable}=${port} is in use now (by the instance this one replaces?): start-up fails while it is`);
    } else {
      problems.push(listenRefusal(error, config) ?? `${variable}=${port} on HOST=${config.HOST} cannot be listened on (${error.message})`);
      // A host that refuses one port refuses the other for the same reason: one line is enough.
      if (error.syscall === 'getaddrinfo' || error.code === 'EADDRNOTAVAIL' || error.code === 'EINVAL') break;
    }
  }
  if (problems.length === 0) return passed('listen', `HOST=${config.HOST} takes a listener as this user; ${notes.join('; ')}`);
  return checked('listen', problems, '');
}
