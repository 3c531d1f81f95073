/**
 * A loopback TCP proxy in front of a Redis that counts round trips on the wire: a "turn" starts
 * each time the client sends after having received something (or for the first time). Pipelined
 * commands written together count once, however the kernel splits them; a client that waits for a
 * reply before sending more counts once per wait.
 *
 * Replies are delivered `latencyMs` late, like on a real network: a long pipeline is then fully
 * sent before Redis's first answers (to its first commands) reach the client, so those early
 * answers cannot split one round trip in two.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface CountingProxy {
  readonly port: number;
  readonly url: string;
  /** Turns since the start or the last `reset()`, over every connection. */
  readonly turns: number;
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(targetPort: number, latencyMs = 0): Promise<CountingProxy> {
  let turns = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    let clientSending = false;
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => {
      if (!clientSending) {
        clientSending = true;
        turns++;
      }
      upstream.write(chunk);
    });
    const deliver = (chunk: Buffer) => {
      clientSending = false;
      if (!client.destroyed) client.write(chunk);
    };
    upstream.on('data', (chunk: Buffer) => {
      if (latencyMs > 0) setTimeout(deliver, latencyMs, chunk);
      else deliver(chunk);
    });
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', drop).on('error', drop);
    upstream.on('close', drop).on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get turns() {
      return turns;
    },
    reset() {
      turns = 0;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
