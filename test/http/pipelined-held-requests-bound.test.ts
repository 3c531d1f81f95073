/**
 * The requests one connection has waiting behind its answers in progress (`held`, per connection in
 * serverOptions()) are bounded by `MAX_HELD_REQUESTS`: one more closes the connection. Pausing the
 * socket did not stop Node's parser, which resumes reading after every complete request, so a client
 * that pipelined POSTs behind one that never answers, and read nothing, had every one it sent held
 * (99,305 from 4.7 MB, 196 MB of heap, on one connection).
 */
import { connect, type Socket } from 'node:net';
import Fastify from 'fastify';
import { expect, it } from 'vitest';
import { MAX_HELD_REQUESTS, serverOptions } from '../../src/http/server-options.js';
import { listenedServers } from '../helpers/raw-http.js';
import { waitUntil } from '../helpers/wait-until.js';

const { listening, track, keptConnection } = listenedServers();

/** The connection's held requests, read through its state's symbol (module-private in server-options.ts). */
function heldOf(socket: Socket): number {
  const symbol = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'livecomponents.answering');
  const state = symbol === undefined ? undefined : (socket as unknown as Record<symbol, { held: Map<unknown, unknown> } | undefined>)[symbol];
  return state?.held.size ?? 0;
}

it(`a connection that pipelines 5,000 POSTs behind one that never answers has at most ${MAX_HELD_REQUESTS} held, then is closed`, async () => {
  const app = Fastify(serverOptions());
  let reached = 0;
  app.post('/never', () => {
    reached++;
    return new Promise(() => undefined);
  });
  let mostHeld = 0;
  // After serverOptions()' own handler (registered first): the request has been held or run by now.
  app.server.on('request', (req: { socket: Socket }) => (mostHeld = Math.max(mostHeld, heldOf(req.socket))));
  const connection = keptConnection(await listening(app));
  connection.send('POST /never HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'.repeat(5_000));
  await waitUntil('the server closed the connection', () => connection.closed(), { seen: () => `${mostHeld} held, ${reached} reached` });
  expect(mostHeld).toBe(MAX_HELD_REQUESTS);
  // The first ran; the others waited behind it (POST: unsafe, one at a time) and never ran.
  expect(reached).toBe(1);
});

it(`a connection that pipelines 5,000 GETs behind an answer that closes it and never ends is closed after ${MAX_HELD_REQUESTS} of them`, async () => {
  // Node keeps the response of each request read behind that answer until it is sent: never, here.
  const app = Fastify(serverOptions());
  let reached = 0;
  app.get('/stream', (_request, reply) => {
    reached++;
    reply.hijack();
    reply.raw.writeHead(200, { connection: 'close', 'content-type': 'text/plain' });
    reply.raw.write('x');
  });
  const connection = keptConnection(await listening(app));
  connection.send('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitUntil('the stream began', () => connection.received().includes('\r\nx\r\n'), { seen: () => JSON.stringify(connection.received()) });
  connection.send('GET /x HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(5_000));
  await waitUntil('the server closed the connection', () => connection.closed(), { seen: () => `${reached} reached` });
  expect(reached).toBe(1);
});

it('a keep-alive connection that sends 3,000 requests one at a time, GETs and POSTs, has every one answered 200 and stays open', async () => {
  // Never pipelined, so nothing is ever held or dropped: the bounds never come near such a client.
  const app = Fastify(serverOptions());
  app.get('/n', () => 'ok');
  app.post('/n', () => 'ok');
  const port = await listening(app);
  const socket = connect({ port, host: '127.0.0.1' });
  track(socket);
  socket.on('error', () => undefined);
  let closed = false;
  socket.once('close', () => (closed = true));
  let received = '';
  let answered = 0;
  let sent = 0;
  const send = (): void => {
    sent++;
    socket.write(sent % 2 === 0 ? 'POST /n HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n' : 'GET /n HTTP/1.1\r\nHost: x\r\n\r\n');
  };
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
    // Each answer ends with its 2-byte body 'ok'; the next request goes once it is in.
    for (let end = received.indexOf('\r\n\r\nok'); end !== -1; end = received.indexOf('\r\n\r\nok')) {
      expect(received.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
      received = received.slice(end + 6);
      answered++;
      if (sent < 3_000) send();
    }
  });
  socket.once('connect', send);
  await waitUntil('3,000 answers', () => answered === 3_000 || closed, { seen: () => `${answered} answered, ${sent} sent, closed: ${closed}` });
  expect(answered).toBe(3_000);
  expect(received).toBe('');
  expect(closed).toBe(false);
});
