/**
 * Why the app cannot listen where `HOST`, `PORT` and `METRICS_PORT` say, in words that name the
 * variable to change: for start-up's last line (the reference app's `main.ts`) and for
 * `livecomponents doctor --connect`, which tries the same listen (`tryListen`) before a start.
 *
 * Node's own errors name no variable (`getaddrinfo ENOTFOUND example.invalid`, `listen EACCES:
 * permission denied 127.0.0.1:80`), and the configuration's format check cannot tell whether a
 * well-formed host name resolves, or an address belongs to this machine.
 */
import { createServer } from 'node:net';
import type { AppConfig } from './config.js';

/** The variables that say where the app listens. */
export type ListenConfig = Pick<AppConfig, 'HOST' | 'PORT' | 'METRICS_PORT'>;

/** Ports below this need privileges on Linux (CAP_NET_BIND_SERVICE, or root). */
const FIRST_UNPRIVILEGED_PORT = 1024;

/** `getaddrinfo` failures: the name does not resolve (now, or at all). */
const RESOLVE_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);

const HOST_HINT = 'set HOST to an address of this machine (127.0.0.1, or 0.0.0.0 for every interface) or a name that resolves to one';

/**
 * The sentence for a failed `listen` on `HOST` and `PORT` (or `METRICS_PORT`), starting with the
 * variable to change; undefined when `error` is not such a failure.
 * @example listenRefusal(Object.assign(new Error('x'), { code: 'EADDRINUSE', syscall: 'listen', port: 3000 }), config)
 * // 'PORT=3000 is in use on 127.0.0.1 by another process (EADDRINUSE): stop it, or set another PORT'
 */
export function listenRefusal(error: unknown, config: ListenConfig): string | undefined {
  const e = error as (NodeJS.ErrnoException & { port?: unknown }) | undefined;
  if (e === undefined || e === null || typeof e !== 'object' || typeof e.code !== 'string') return undefined;
  const host = config.HOST;
  if (e.syscall === 'getaddrinfo' || RESOLVE_CODES.has(e.code)) {
    return `HOST=${host} does not resolve to an address (getaddrinfo ${e.code}): ${HOST_HINT}`;
  }
  if (e.syscall !== 'listen') return undefined;
  if (e.code === 'EADDRNOTAVAIL') return `HOST=${host} is not an address of this machine (EADDRNOTAVAIL): ${HOST_HINT}`;
  if (e.code === 'EINVAL' || e.code === 'EAFNOSUPPORT') {
    const linkLocal = /^fe[89ab]/i.test(host) && !host.includes('%') ? ' (a link-local IPv6 address needs its interface, such as fe80::1%eth0)' : '';
    return `HOST=${host} cannot be listened on (${e.code})${linkLocal}: ${HOST_HINT}`;
  }
  const port = typeof e.port === 'number' ? e.port : config.PORT;
  const variable = config.METRICS_PORT !== undefined && port === config.METRICS_PORT && port !== config.PORT ? 'METRICS_PORT' : 'PORT';
  if (e.code === 'EADDRINUSE') return `${variable}=${port} is in use on ${host} by another process (EADDRINUSE): stop it, or set another ${variable}`;
  if (e.code === 'EACCES' || e.code === 'EPERM') {
    const why = port > 0 && port < FIRST_UNPRIVILEGED_PORT
      ? `this user may not listen on a port below ${FIRST_UNPRIVILEGED_PORT} (${e.code}): set ${variable} to ${FIRST_UNPRIVILEGED_PORT} or more (a proxy in front can serve port 80 or 443), or grant the process CAP_NET_BIND_SERVICE`
      : `listening on it is not permitted (${e.code}): set another ${variable}`;
    return `${variable}=${port} on ${host}: ${why}`;
  }
  return `${variable}=${port} on HOST=${host} cannot be listened on (${e.code})`;
}

/**
 * Listens on `host`:`port` and closes again at once; resolves with the error that refused it, or
 * undefined. `timeoutMs` bounds a name lookup that does not answer.
 */
export function tryListen(host: string, port: number, timeoutMs: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    const timer = setTimeout(() => {
      server.close();
      resolve(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'EAI_AGAIN', syscall: 'getaddrinfo' }));
    }, timeoutMs);
    server.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(error);
    });
    // exclusive: a cluster worker would otherwise be handed the primary's socket and never fail.
    server.listen({ host, port, exclusive: true }, () => {
      clearTimeout(timer);
      server.close(() => resolve(undefined));
    });
  });
}
