/** Raw HTTP over a socket, for requests no HTTP client would send (malformed, oversized, cut off). */
import { connect } from 'node:net';

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

/** The status line of a raw answer (`''` when the server wrote nothing). */
export function statusLineOf(answer: string): string {
  return answer.split('\r\n')[0] ?? '';
}
