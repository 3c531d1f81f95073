/**
 * A POST that announces a body and sends only its first 1 KiB, over a real socket: for answers
 * given before the body is read (src/http/unread-body.ts). A server that closes the connection
 * after such an answer ends it at once; one that reads the rest of the body to its end waits for
 * bytes that never come, and `ended` never resolves (the test's timeout says so).
 */
import { connect, type Socket } from 'node:net';

export interface PartialPostAnswer {
  /** Status line, e.g. `HTTP/1.1 403 Forbidden`. */
  status: string;
  /** Headers of the answer (lower-cased names). */
  headers: Record<string, string>;
  /** Resolves once the server ended the connection. */
  ended: Promise<void>;
}

/**
 * Sends the head of a POST to `path` announcing `announced` body bytes, and `sent` of them (1 KiB, or
 * all when fewer; in one chunk with `transfer-encoding: chunked`, which announces no length); resolves
 * at the answer's head. `sockets` collects the socket, for the suite to destroy. `method` replaces POST.
 */
export function postPart(
  port: number,
  path: string,
  headers: Record<string, string>,
  sockets: Socket[],
  announced: number,
  { method = 'POST', sent = 1024 }: { method?: string; sent?: number } = {},
): Promise<PartialPostAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    sockets.push(socket);
    let received = '';
    let resolveEnded: () => void = () => undefined;
    const ended = new Promise<void>((r) => (resolveEnded = r));
    socket.on('end', () => resolveEnded());
    socket.on('close', () => resolveEnded());
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      const before = received.indexOf('\r\n\r\n') !== -1;
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n\r\n');
      if (before || end === -1) return;
      const [status = '', ...lines] = received.slice(0, end).split('\r\n');
      const parsed = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      resolve({ status, headers: parsed, ended });
    });
    const chunked = headers['transfer-encoding'] === 'chunked';
    const head = Object.entries({ host: 'app.example.test', ...(chunked ? {} : { 'content-length': String(announced) }), ...headers })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.write(`${method} ${path} HTTP/1.1\r\n${head}\r\n`);
    const part = Buffer.alloc(Math.min(sent, announced), 0x61);
    socket.write(chunked ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]) : part);
  });
}
