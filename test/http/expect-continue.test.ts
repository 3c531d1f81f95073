/**
 * `Expect: 100-continue` (curl sends it with a body over 1 MiB, .NET's HttpClient and some SDKs
 * with every body): serverOptions()' server sends `100 Continue` only when the request's body is read,
 * never before its hooks ran. Node, left alone, answered 100 on arrival: a cross-site post the action
 * route refuses unread was invited to send its 8 MiB, and read whole. Over real sockets, on the
 * reference app (serverOptions, the plugin, the auth API): a refused request gets its final answer
 * with no 100 line and the connection closed; an accepted one gets its 100, then its answer once the
 * body is sent; a client that sends the body without waiting is served too.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { SecurityEvent } from '../../src/ops/security-events.js';
import { FAST_ARGON2 } from '../auth/harness.js';
import { demoApp } from '../helpers/demo.js';

const APP = 'https://app.example.test';
const EVIL = 'https://evil.example';
const ANNOUNCED = 8 * 1024 * 1024;

let app: FastifyInstance;
let port: number;
let events: SecurityEvent[];
let cookie: string;
let token: string;
const sockets: Socket[] = [];

beforeAll(async () => {
  const demo = await demoApp({ APP_URL: APP }, {}, { password: FAST_ARGON2 });
  app = demo.app;
  events = demo.events.events;
  const client = await demo.client('/');
  ({ cookie, token } = client);
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as { port: number }).port;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await app.close();
});

interface Exchange {
  /** Everything the server wrote so far. */
  received(): string;
  /** Resolves once what the server wrote matches `re`. */
  until(re: RegExp): Promise<string>;
  /** Resolves once the server ended the connection. */
  ended: Promise<void>;
  send(bytes: string): void;
}

/**
 * Opens a connection and sends the head of `POST path` with `Expect: 100-continue`, announcing `length`
 * body bytes; `first`: bytes sent in the same write as the head (the body, when the client does not wait).
 */
function expecting(path: string, headers: Record<string, string>, length: number, first = '', method = 'POST'): Exchange {
  const socket = connect({ port, host: '127.0.0.1' });
  sockets.push(socket);
  let received = '';
  const waiters: Array<() => void> = [];
  socket.setEncoding('latin1');
  // A body written after the server closed may meet a reset: what was received is what is checked.
  socket.on('error', () => undefined);
  socket.on('data', (chunk: string) => {
    received += chunk;
    for (const waiter of waiters.splice(0)) waiter();
  });
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const head = Object.entries({ host: 'app.example.test', 'content-length': String(length), expect: '100-continue', ...headers })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.write(`${method} ${path} HTTP/1.1\r\n${head}\r\n${first}`);
  return {
    received: () => received,
    until(re) {
      return new Promise((resolve) => {
        const check = (): void => {
          if (re.test(received)) resolve(received);
          else waiters.push(check);
        };
        check();
      });
    },
    ended,
    send: (bytes) => void socket.write(bytes),
  };
}

/** The status lines of `answer`, in order (a 100 Continue included). */
const statusLines = (answer: string): string[] => answer.match(/HTTP\/1\.1 \d{3}[^\r]*/g) ?? [];
const connectionOf = (answer: string): string | undefined => /\r\nconnection: ([^\r]*)/i.exec(answer)?.[1];
/** Resolves at the final answer's head (a status other than 1xx, then its blank line). */
const FINAL_HEAD = /HTTP\/1\.1 [2-5]\d\d[^\r]*\r\n(?:[^\r]+\r\n)*\r\n/;
/** Resolves at the second final answer's head on one connection. */
const SECOND_FINAL_HEAD = new RegExp(`${FINAL_HEAD.source}[^]*${FINAL_HEAD.source}`);

describe('Expect: 100-continue', () => {
  it('a cross-site text/plain post to the action route: 403 with no 100 Continue, Connection: close, the connection ended; one malicious_csrf', async () => {
    const before = events.length;
    const exchange = expecting('/api/livecomponents/action', { 'content-type': 'text/plain', origin: EVIL, 'sec-fetch-site': 'cross-site' }, ANNOUNCED);
    const answer = await exchange.until(FINAL_HEAD);
    expect([statusLines(answer), connectionOf(answer)]).toEqual([['HTTP/1.1 403 Forbidden'], 'close']);
    await exchange.ended;
    expect(events.slice(before).map((e) => e.event)).toEqual(['malicious_csrf']);
  });

  it('a POST to a path with no route, and to a GET-only page: 404 and 405 with no 100, Connection: close, ended', async () => {
    for (const [path, status] of [
      ['/nowhere', 'HTTP/1.1 404 Not Found'],
      ['/', 'HTTP/1.1 405 Method Not Allowed'],
    ] as const) {
      const exchange = expecting(path, { 'content-type': 'application/octet-stream' }, ANNOUNCED);
      const answer = await exchange.until(FINAL_HEAD);
      expect([statusLines(answer), connectionOf(answer)]).toEqual([[status], 'close']);
      await exchange.ended;
    }
  });

  it('a valid same-origin action: 100 Continue, and once the body is sent its 200, the connection kept; the same JSON announced over the body limit from a foreign Origin: 403 with no 100', async () => {
    const foreign = expecting('/api/livecomponents/action', { 'content-type': 'application/json', origin: EVIL }, ANNOUNCED);
    const refusal = await foreign.until(FINAL_HEAD);
    expect([statusLines(refusal), connectionOf(refusal)]).toEqual([['HTTP/1.1 403 Forbidden'], 'close']);
    await foreign.ended;

    const body = JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} });
    const exchange = expecting(
      '/api/livecomponents/action',
      { 'content-type': 'application/json', origin: APP, 'sec-fetch-site': 'same-origin', cookie, 'x-csrf-token': token },
      Buffer.byteLength(body),
    );
    expect(statusLines(await exchange.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/))).toEqual(['HTTP/1.1 100 Continue']);
    exchange.send(body);
    const answer = await exchange.until(FINAL_HEAD);
    expect([statusLines(answer), connectionOf(answer)]).toEqual([['HTTP/1.1 100 Continue', 'HTTP/1.1 200 OK'], 'keep-alive']);
    token = (JSON.parse((await exchange.until(/\r\n\r\n\{[^]*\}$/)).split('\r\n\r\n').at(-1) ?? '{}') as { csrf_token: string }).csrf_token;
  });

  it('the auth API: a foreign Origin gets 403 with no 100 (one malicious_cors); the app’s own gets 100, then 401 for unknown credentials', async () => {
    const before = events.length;
    const refused = expecting('/api/v1/auth/login', { 'content-type': 'application/json', origin: EVIL }, ANNOUNCED);
    const refusal = await refused.until(FINAL_HEAD);
    expect([statusLines(refusal), connectionOf(refusal)]).toEqual([['HTTP/1.1 403 Forbidden'], 'close']);
    await refused.ended;
    expect(events.slice(before).map((e) => e.event)).toEqual(['malicious_cors']);

    const body = JSON.stringify({ email: 'nobody@example.com', password: 'not the password' });
    const login = expecting('/api/v1/auth/login', { 'content-type': 'application/json', origin: APP }, Buffer.byteLength(body));
    await login.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    login.send(body);
    const answer = await login.until(FINAL_HEAD);
    expect([statusLines(answer), connectionOf(answer)]).toEqual([['HTTP/1.1 100 Continue', 'HTTP/1.1 401 Unauthorized'], 'keep-alive']);
  });

  it('a client that sends the body without waiting for the 100 (as curl does after a second): served, 200; refused, its 403 with no 100 and the connection closed, the body sent after it dropped', async () => {
    const refused = expecting('/api/livecomponents/action', { 'content-type': 'text/plain', origin: EVIL, 'sec-fetch-site': 'cross-site' }, 64 * 1024);
    const refusal = await refused.until(FINAL_HEAD);
    refused.send('a'.repeat(64 * 1024));
    await refused.ended;
    expect([statusLines(refused.received()), connectionOf(refusal)]).toEqual([['HTTP/1.1 403 Forbidden'], 'close']);

    const body = JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} });
    const exchange = expecting(
      '/api/livecomponents/action',
      { 'content-type': 'application/json', origin: APP, 'sec-fetch-site': 'same-origin', cookie, 'x-csrf-token': token },
      Buffer.byteLength(body),
    );
    exchange.send(body);
    const answer = await exchange.until(FINAL_HEAD);
    // The 100 goes out if the body's read began before all of it was in; either way it comes first.
    expect(statusLines(answer).filter((line) => line !== 'HTTP/1.1 100 Continue')).toEqual(['HTTP/1.1 200 OK']);
    expect(statusLines(answer).at(-1)).toBe('HTTP/1.1 200 OK');
  });

  it('a body all in before it is read (sent with the head, or none: Content-Length: 0, a GET): served, the connection kept for the next request', async () => {
    // The auth API reads the body after its (async) origin and rate-limit checks: by then all of it is in.
    const body = JSON.stringify({ email: 'nobody@example.com', password: 'not the password' });
    const login = expecting('/api/v1/auth/login', { 'content-type': 'application/json', origin: APP }, Buffer.byteLength(body), body);
    const answer = await login.until(FINAL_HEAD);
    expect([statusLines(answer).filter((line) => line !== 'HTTP/1.1 100 Continue'), connectionOf(answer)]).toEqual([['HTTP/1.1 401 Unauthorized'], 'keep-alive']);
    login.send('GET /health/live HTTP/1.1\r\nhost: app.example.test\r\n\r\n');
    expect(statusLines(await login.until(SECOND_FINAL_HEAD)).at(-1)).toBe('HTTP/1.1 200 OK');

    for (const [method, path, headers] of [
      ['POST', '/api/v1/auth/logout', { 'content-type': 'application/json', origin: APP }],
      ['GET', '/health/live', {}],
    ] as const) {
      const empty = expecting(path, headers, 0, '', method);
      const first = await empty.until(FINAL_HEAD);
      expect([statusLines(first), connectionOf(first)]).toEqual([[expect.stringMatching(/^HTTP\/1\.1 [24]\d\d /)], 'keep-alive']);
      empty.send('GET /health/live HTTP/1.1\r\nhost: app.example.test\r\n\r\n');
      expect(statusLines(await empty.until(SECOND_FINAL_HEAD)).at(-1)).toBe('HTTP/1.1 200 OK');
    }
  });
});
