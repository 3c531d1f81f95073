/**
 * A body the action route never parses (a form, `text/plain`) is answered before it is read: 403
 * for a cross-site one (refused as CSRF in `onRequest`), 415 for one from the app's own origin. Node
 * then reads what is left of an unread body to its end on a kept-alive connection, whatever
 * `actionBodyLimit` says: a cross-site `text/plain` post announcing 64 MiB was read whole (probed:
 * every byte accepted, `Connection: keep-alive`), where a JSON body over the limit gets 413 and the
 * connection closed after ~4 MiB of socket buffers. So those answers close the connection too, as
 * Fastify does after a parser error. Over real sockets: the client sends the head and 1 KiB of an
 * announced 8 MiB, and waits for the answer and the server's end of the connection.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { demoApp } from '../../test/helpers/demo.js';
import type { SecurityEvent } from '../ops/security-events.js';

const APP = 'https://app.example.test';
const EVIL = 'https://evil.example';
const ANNOUNCED = 8 * 1024 * 1024;

interface Exchange {
  /** Status line and headers (lower-cased names). */
  status: string;
  headers: Record<string, string>;
  /** Resolves once the server ended the connection. */
  ended: Promise<void>;
}

/** Sends the head of a POST announcing `ANNOUNCED` body bytes and the first 1 KiB of them; resolves at the answer's head. */
function postPart(port: number, headers: Record<string, string>, sockets: Socket[]): Promise<Exchange> {
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
    const head = Object.entries({ host: 'app.example.test', 'content-length': String(ANNOUNCED), ...headers })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.write(`POST /api/livecomponents/action HTTP/1.1\r\n${head}\r\n`);
    socket.write(Buffer.alloc(1024, 0x61));
  });
}

describe('action route: a body it never parses is not read', () => {
  let app: FastifyInstance;
  let port: number;
  let events: SecurityEvent[];
  const sockets: Socket[] = [];
  beforeAll(async () => {
    const demo = await demoApp({ APP_URL: APP });
    app = demo.app;
    events = demo.events.events;
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await app.close();
  });

  it('a cross-site text/plain post: 403, Connection: close, the server ends the connection; one malicious_csrf, no malicious_cors', async () => {
    const before = events.length;
    const answer = await postPart(port, { 'content-type': 'text/plain', origin: EVIL, 'sec-fetch-site': 'cross-site' }, sockets);
    expect(answer.status).toBe('HTTP/1.1 403 Forbidden');
    expect(answer.headers.connection).toBe('close');
    await answer.ended;
    expect(events.slice(before).map((e) => e.event)).toEqual(['malicious_csrf']);
  });

  it('a cross-site form post from a foreign Origin alone (no Sec-Fetch-Site): the same', async () => {
    const before = events.length;
    const answer = await postPart(port, { 'content-type': 'application/x-www-form-urlencoded', origin: EVIL }, sockets);
    expect(answer.status).toBe('HTTP/1.1 403 Forbidden');
    expect(answer.headers.connection).toBe('close');
    await answer.ended;
    expect(events.slice(before).map((e) => e.event)).toEqual(['malicious_csrf']);
  });

  it('the same body from the app’s own origin: still 415, Connection: close, no event', async () => {
    const before = events.length;
    const answer = await postPart(port, { 'content-type': 'text/plain', origin: APP, 'sec-fetch-site': 'same-origin' }, sockets);
    expect(answer.status).toBe('HTTP/1.1 415 Unsupported Media Type');
    expect(answer.headers.connection).toBe('close');
    await answer.ended;
    expect(events.length - before).toBe(0);
  });
});
