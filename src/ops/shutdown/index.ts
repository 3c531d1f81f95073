/**
 * Graceful shutdown on SIGTERM / SIGINT (Kubernetes sends SIGTERM, then SIGKILL after
 * `terminationGracePeriodSeconds`):
 *
 * 1. `state.shuttingDown = true`: `/health/ready` answers 503 at once, and every response from now
 *    on carries `Connection: close`, so keep-alive clients reconnect elsewhere.
 * 2. Drain: keep serving until every open connection has closed by itself, at most `drainMs`.
 * 3. `app.close()`: stop accepting, finish in-flight requests, run the app's `onClose` hooks
 *    (stores, metrics server), then `onClose`; log the outcome, then `flushLogs`.
 * 4. Exit 0 — or exit 1 if any of that failed or `graceMs` ran out first (log flush included).
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { LifecycleState } from '../health/lifecycle.js';
import { InvalidOptionError, positiveMs } from '../health/options-error.js';
import { trackConnections } from './connections.js';

export interface GracefulShutdownOptions {
  /** The state the health probes read; set `shuttingDown` here. */
  state: LifecycleState;
  /**
   * Longest the whole shutdown may take, `flushLogs` included, before the process exits 1 anyway,
   * in ms, at most 2^31 − 1 (a timer's limit). @default 10_000
   */
  graceMs?: number;
  /**
   * Longest to wait for open connections to close by themselves before closing the listener, in
   * ms; the wait ends early when none is left. Must be below `graceMs`.
   * @default Math.min(1_000, graceMs / 2), at least 1
   */
  drainMs?: number;
  /** @default ['SIGTERM', 'SIGINT'] */
  signals?: readonly NodeJS.Signals[];
  /** Runs after `app.close()` (after the app's own `onClose` hooks): close pools… @default none */
  onClose?: () => Promise<void>;
  /**
   * Runs last, once the outcome is logged (`shutdown: complete` or `shutdown: failed`), so those
   * lines are delivered too: close the logger. Bounded by `graceMs` like the rest: a log collector
   * that never answers cannot hold the exit past it.
   * @example flushLogs: () => closeLogger(logger)
   * @default none
   */
  flushLogs?: () => Promise<void>;
  /** Ends the process. @default process.exit */
  exit?: (code: number) => void;
  /** @default app.log */
  logger?: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>;
  /** Where the signals come from. @default process */
  signalSource?: Pick<NodeJS.Process, 'on' | 'removeListener'>;
}

export interface GracefulShutdown {
  /** Starts the shutdown (as a signal would); resolves once `exit` was called. Idempotent. */
  shutdown(reason: string): Promise<void>;
  /** Removes the signal handlers (the app's hooks stay; they are inert until a shutdown). */
  uninstall(): void;
}

const WHERE = 'installGracefulShutdown';

/**
 * Call before `app.listen()` (it adds a hook and counts connections from the first one).
 * @example
 * const state = createLifecycleState();
 * installGracefulShutdown(app, { state, graceMs: 25_000 });
 * await app.listen({ port: 3000 });
 */
export function installGracefulShutdown(app: FastifyInstance, options: GracefulShutdownOptions): GracefulShutdown {
  const { state, onClose, flushLogs } = options;
  if (typeof state !== 'object' || state === null) throw new InvalidOptionError(WHERE, 'state must be a LifecycleState');
  const graceMs = positiveMs(WHERE, 'graceMs', options.graceMs ?? 10_000);
  // The default is a timer's delay too, so at least 1 ms: a graceMs under 2 leaves no room for it.
  const drainMs = positiveMs(WHERE, 'drainMs', options.drainMs ?? Math.max(1, Math.min(1_000, graceMs / 2)));
  if (drainMs >= graceMs) {
    throw new InvalidOptionError(
      WHERE,
      options.drainMs === undefined ? `graceMs (${graceMs}) must be at least 2 ms: drainMs, the part of it spent draining, waits at least 1 ms` : `drainMs (${drainMs}) must be below graceMs (${graceMs})`,
    );
  }
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  if (!Array.isArray(signals) || signals.length === 0) throw new InvalidOptionError(WHERE, 'signals must be a non-empty array');
  if (onClose !== undefined && typeof onClose !== 'function') throw new InvalidOptionError(WHERE, 'onClose must be a function');
  if (flushLogs !== undefined && typeof flushLogs !== 'function') throw new InvalidOptionError(WHERE, 'flushLogs must be a function');
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const logger = options.logger ?? app.log;
  const source = options.signalSource ?? process;
  if (app.server.listening) throw new InvalidOptionError(WHERE, 'call it before app.listen(): connections opened earlier would not be drained');

  try {
    app.addHook('onSend', (request, reply, payload, done) => {
      // HTTP/2 has no Connection header (and closes streams, not sockets).
      if (state.shuttingDown && request.raw.httpVersionMajor < 2) reply.header('connection', 'close');
      done(null, payload);
    });
  } catch (error) {
    throw new InvalidOptionError(WHERE, `call it before app.ready() (${(error as Error).message})`);
  }
  const connections = trackConnections(app.server);

  let running: Promise<void> | null = null;
  let exited = false;
  function finish(code: number): void {
    if (exited) return;
    exited = true;
    exit(code);
  }

  async function run(reason: string): Promise<void> {
    state.shuttingDown = true;
    logger.info({ reason, graceMs, drainMs, openConnections: connections.size }, 'shutdown: readiness is now 503, draining');
    // Armed until the exit itself, the log flush included: graceMs bounds the whole shutdown.
    const force = setTimeout(() => {
      logger.error({ graceMs }, 'shutdown: grace period over, exiting with requests or resources still open');
      finish(1);
    }, graceMs);
    const closed = await close();
    const flushed = await flush();
    clearTimeout(force);
    finish(closed && flushed ? 0 : 1);
  }

  /** Drain and close (steps 2 and 3), logging the outcome; `false` when something failed. */
  async function close(): Promise<boolean> {
    try {
      const drained = await connections.drained(drainMs);
      if (!drained) logger.warn({ openConnections: connections.size }, 'shutdown: idle connections left after the drain; closing them');
      await app.close();
      await onClose?.();
      connections.stop();
      logger.info('shutdown: complete');
      return true;
    } catch (error) {
      logger.error({ err: error }, 'shutdown: failed');
      return false;
    }
  }

  async function flush(): Promise<boolean> {
    try {
      await flushLogs?.();
      return true;
    } catch (error) {
      // The logger may be half closed: this line reaches whatever of it still works.
      logger.error({ err: error }, 'shutdown: flushing the logs failed');
      return false;
    }
  }

  function shutdown(reason: string): Promise<void> {
    running ??= run(reason);
    return running;
  }

  // A second signal is ignored, not a forced exit: `npm start` forwards the terminal's SIGINT to a
  // child that already got it from its process group, so every Ctrl-C arrives twice.
  const handlers = signals.map((signal) => {
    const handler = (): void => {
      if (running !== null) logger.warn({ signal }, 'shutdown: already in progress');
      void shutdown(signal);
    };
    source.on(signal, handler);
    return [signal, handler] as const;
  });

  return {
    shutdown,
    uninstall() {
      for (const [signal, handler] of handlers) source.removeListener(signal, handler);
    },
  };
}
