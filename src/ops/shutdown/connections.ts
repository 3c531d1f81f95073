/**
 * Counts the server's open TCP connections so shutdown can wait for them to close by themselves.
 *
 * Why wait instead of closing right away: `server.close()` also destroys every connection that is
 * idle *as far as Node knows*, and a request whose bytes are still in the kernel's socket buffer is
 * not known yet — its client would see a reset for a request it did send. While shutting down,
 * every response carries `Connection: close`, so each busy connection closes itself after its
 * current request; waiting for the count to reach zero (bounded) lets those requests finish.
 */
import type { Server } from 'node:net';
import type { Socket } from 'node:net';

export interface ConnectionTracker {
  readonly size: number;
  /** Resolves `true` once no connection is open, or `false` after `maxMs`. */
  drained(maxMs: number): Promise<boolean>;
  stop(): void;
}

export function trackConnections(server: Pick<Server, 'on' | 'removeListener'>): ConnectionTracker {
  const open = new Set<Socket>();
  let notify: (() => void) | null = null;

  const onConnection = (socket: Socket): void => {
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      if (open.size === 0) notify?.();
    });
  };
  server.on('connection', onConnection);

  return {
    get size() {
      return open.size;
    },
    drained(maxMs) {
      if (open.size === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          notify = null;
          resolve(false);
        }, maxMs);
        notify = () => {
          notify = null;
          clearTimeout(timer);
          resolve(true);
        };
      });
    },
    stop: () => void server.removeListener('connection', onConnection),
  };
}
