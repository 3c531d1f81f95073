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
import { startTcpForwarder, type Link } from '../helpers/tcp-forwarder.js';

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
  /** Connections whose client has sent since it last received: its turn is under way. */
  const sending = new WeakSet<Link>();
  const forwarder = await startTcpForwarder({
    target: () => targetPort,
    fromClient: (_chunk, link) => {
      if (!sending.has(link)) {
        sending.add(link);
        turns++;
      }
      return true;
    },
    // Replies are written here rather than by the forwarder, to deliver them late.
    fromServer: (chunk, link) => {
      const deliver = () => {
        sending.delete(link);
        if (!link.client.destroyed) link.client.write(chunk);
      };
      if (latencyMs > 0) setTimeout(deliver, latencyMs);
      else deliver();
      return false;
    },
  });
  return {
    port: forwarder.port,
    url: `redis://127.0.0.1:${forwarder.port}`,
    get turns() {
      return turns;
    },
    reset() {
      turns = 0;
    },
    close: forwarder.close,
  };
}
