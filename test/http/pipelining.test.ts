/**
 * serverOptions() bounds what one pipelining connection costs: at most `MAX_ANSWERS_IN_PROGRESS`
 * of its requests reach the app while their answers are not sent (the rest wait, the connection not
 * read meanwhile: one connection that pipelined 200,000 requests and read nothing had 83,408 of them
 * run, 1.36 GB held), and a malformed request behind answers the client never reads closes the
 * connection after the connection timeout instead of waiting for ever.
 */
import { connect, type Socket } from 'node:net';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { MAX_ANSWERS_IN_PROGRESS, serverOptions } from '../../src/http/server-options.js';
import { listenedServers } from '../helpers/raw-http.js';
import { waitUntil } from '../helpers/wait-until.js';

const { listening, track } = listenedServers();

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A connection that sends `bytes` in one write and reads nothing until `read()`. */
function pipeliner(port: number, bytes: string): { socket: Socket; read(): void; answers(): number } {
  const socket = connect({ port, host: '127.0.0.1' });
  track(socket);
  let received = '';
  socket.setEncoding('latin1');
  socket.pause();
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined); // a reset is an ending like any other here
  socket.once('connect', () => socket.write(bytes));
  return { socket, read: () => socket.resume(), answers: () => received.match(/HTTP\/1\.1 200 /g)?.length ?? 0 };
}

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

describe('a connection that pipelines many requests', () => {
  it(`has at most ${MAX_ANSWERS_IN_PROGRESS} of them reach the app while their answers are in progress; the rest follow as answers go out, all answered in order`, async () => {
    const app = Fastify(serverOptions());
    const started: number[] = [];
    const release: (() => void)[] = [];
    app.get('/slow/:n', (request) => {
      const n = Number((request.params as { n: string }).n);
      started.push(n);
      return new Promise((resolve) => release.push(() => resolve({ n })));
    });
    const port = await listening(app);
    const total = 200;
    const c = pipeliner(port, Array.from({ length: total }, (_, i) => get(`/slow/${i}`)).join(''));
    await waitUntil(`${MAX_ANSWERS_IN_PROGRESS} answers started`, () => started.length === MAX_ANSWERS_IN_PROGRESS, { seen: () => `${started.length} started` });
    await pause(300); // more would have arrived by now
    expect(started.length).toBe(MAX_ANSWERS_IN_PROGRESS);
    c.read();
    // Each answer let go lets one more request in.
    while (started.length < total || release.length > 0) {
      for (const go of release.splice(0)) go();
      await pause(10);
    }
    await waitUntil(`all ${total} answers`, () => c.answers() === total, { seen: () => `${c.answers()} answers` });
    expect(started).toEqual(Array.from({ length: total }, (_, i) => i));
  });

  it('that the client never reads has a bounded number reach the app, not every request it sent', async () => {
    const app = Fastify(serverOptions());
    let reached = 0;
    const answer = 'x'.repeat(256 * 1024);
    app.get('/big', () => {
      reached++;
      return answer;
    });
    const port = await listening(app);
    const c = pipeliner(port, get('/big').repeat(5000));
    await waitUntil(`${MAX_ANSWERS_IN_PROGRESS} answers in progress`, () => reached >= MAX_ANSWERS_IN_PROGRESS, { seen: () => `${reached} reached` });
    await pause(500);
    // What the sockets' buffers hold (a few MiB on loopback) went out; the rest waits for the client.
    expect(reached).toBeLessThan(MAX_ANSWERS_IN_PROGRESS + 100);
    c.socket.destroy();
  });

  it('with a malformed request behind answers the client never reads, is closed after the connection timeout', async () => {
    const app = Fastify(serverOptions({ connectionTimeoutMs: 300 }));
    const answer = 'x'.repeat(256 * 1024);
    app.get('/big', () => answer);
    // Seen from the server: the client, reading nothing, would not see the connection end either.
    const serverSide = new Promise<Socket>((resolve) => app.server.once('connection', resolve));
    const port = await listening(app);
    pipeliner(port, get('/big').repeat(100) + 'NOT HTTP\r\n\r\n');
    const socket = await serverSide;
    await new Promise((resolve) => socket.once('close', resolve)); // the test's timeout fails it otherwise
    expect(socket.destroyed).toBe(true);
  }, 15_000);
});
