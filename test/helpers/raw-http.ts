/** Raw HTTP over a socket, for requests no HTTP client would send (malformed, oversized, cut off). */
import { connect, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach } from 'vitest';

/**
 * Sends `bytes` on a fresh connection to `port`, then each of `later` in a write of its own 100 ms
 * after the one before (so the server reads them apart); resolves everything the server wrote until
 * it closed.
 */
export function rawExchange(port: number, bytes: string, ...later: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
    const send = (chunk: string, rest: string[]): void => {
      socket.write(chunk, () => {
        const [next, ...after] = rest;
        if (next !== undefined) setTimeout(() => send(next, after), 100);
      });
    };
    send(bytes, later);
  });
}

/**
 * Sends `bytes` on a fresh connection to `host:port` and resolves the answer's head (status line and
 * headers, through the blank line) as the server wrote it, without waiting for the body or a close.
 */
export function rawHead(port: number, bytes: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.destroy();
      resolve(received.slice(0, end + 4));
    });
    socket.on('error', reject);
    socket.write(bytes);
  });
}

/** The status line of a raw answer (`''` when the server wrote nothing). */
export function statusLineOf(answer: string): string {
  return answer.split('\r\n')[0] ?? '';
}

/**
 * For a test file whose servers listen on real ports: `listening(app)` starts one on a free port and
 * `track(socket)` keeps a raw connection (`keptConnection(port)` opens one and records what it
 * receives); after each test every tracked socket is destroyed and
 * every app closed.
 */
/** A connection kept open by the test: what it received so far, and whether the server closed it. */
export interface KeptConnection {
  send(bytes: string): void;
  received(): string;
  closed(): boolean;
}

export function listenedServers(): { listening(app: FastifyInstance): Promise<number>; track<S extends Socket>(socket: S): S; keptConnection(port: number): KeptConnection } {
  const apps: FastifyInstance[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  return {
    async listening(app) {
      apps.push(app);
      await app.listen({ port: 0, host: '127.0.0.1' });
      return (app.server.address() as { port: number }).port;
    },
    track(socket) {
      sockets.push(socket);
      return socket;
    },
    keptConnection(port) {
      const socket = connect({ port, host: '127.0.0.1' });
      sockets.push(socket);
      let received = '';
      let closed = false;
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (received += chunk));
      socket.on('close', () => (closed = true));
      socket.on('error', () => undefined); // a reset is a close like any other here
      return { send: (bytes) => void socket.write(bytes), received: () => received, closed: () => closed };
    },
  };
}
