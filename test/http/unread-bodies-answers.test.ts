/**
 * Every answer given before a request's body is read closes the connection (src/http/unread-body.ts):
 * Node would otherwise read what is left of the body to its end on the kept-alive connection, whatever
 * the body limit says. Over real sockets, an app built as production builds it (`serverOptions()`, the
 * plugin, `notFoundHandler`): the client sends the head of a request announcing 8 MiB and 1 KiB of it,
 * and waits for the answer and the server's end of the connection. A server that reads on waits for
 * bytes that never come: its answer says `Connection: keep-alive` and the connection is never ended.
 * Before this, each of these was read to its end but the controls.
 */
import { connect, type Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notFoundHandler } from '../../src/http/not-found.js';
import { livecomponents } from '../../src/http/plugin.js';
import { serverOptions } from '../../src/http/server-options.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { testRuntime, tinyCounter } from '../helpers/demo.js';
import { postPart, type PartialPostAnswer } from '../helpers/partial-post.js';

const ANNOUNCED = 8 * 1024 * 1024;

let app: FastifyInstance;
let port: number;
const sockets: Socket[] = [];

beforeAll(async () => {
  app = Fastify(serverOptions({ maxEventLoopDelayMs: 0 }));
  await app.register(livecomponents, { runtime: await testRuntime([tinyCounter], createMemoryStore({ sweepIntervalMs: 0 })) });
  app.setNotFoundHandler(notFoundHandler(app));
  app.get('/page', async () => 'page');
  app.post('/json', async (request) => ({ got: request.body }));
  // An app's own refusals before the body: an auth hook, a preParsing check.
  app.post('/hooked', { onRequest: async (_request, reply) => reply.code(401).send({ code: 'UNAUTHENTICATED' }) }, async () => 'never');
  app.post('/pre-parsing', { preParsing: async (_request, reply) => reply.code(403).send({ code: 'FORBIDDEN' }) }, async () => 'never');
  // An answer written past Fastify (`reply.hijack()`): no onSend runs, no header of ours goes with it.
  app.post('/hijacked', { onRequest: (_request, reply, done) => {
    reply.hijack();
    reply.raw.writeHead(403, { 'content-type': 'text/plain' }).end('refused');
    done();
  } }, async () => 'never');
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as { port: number }).port;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await app.close();
});

/**
 * `method path` over a new connection, announcing `announced` body bytes (8 MiB by default; chunks
 * with `transfer-encoding: chunked`) and sending `sent` of them (1 KiB, or all when fewer); resolves at
 * the answer's head.
 */
function sendPart(method: string, path: string, headers: Record<string, string>, announced = ANNOUNCED, sent = 1024): Promise<PartialPostAnswer> {
  return postPart(port, path, headers, sockets, announced, { method, sent });
}

/** Two requests on one connection, each `bytes`; resolves the status line and `Connection` of both answers. */
function twoOnOne(bytes: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    sockets.push(socket);
    let received = '';
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const heads = [...received.matchAll(/HTTP\/1\.1 [^\r]*\r\n(?:[^\r]+\r\n)*\r\n/g)].map((match) => match[0]);
      if (heads.length < 2) return;
      socket.destroy();
      resolve(heads.map((head) => `${head.split('\r\n')[0]} / ${/\r\nconnection: ([^\r]*)/i.exec(head)?.[1]}`));
    });
    socket.write(bytes + bytes);
  });
}

/** The status and `Connection` of `answer`, then waits for the server to end the connection. */
async function closed(answer: PartialPostAnswer): Promise<[string, string | undefined]> {
  const seen: [string, string | undefined] = [answer.status, answer.headers.connection];
  if (seen[1] === 'close') await answer.ended;
  return seen;
}

describe('answers given before the body is read close the connection', () => {
  it('405 for a POST to a GET-only page (a body no parser takes): Allow, Connection: close, ended', async () => {
    const answer = await sendPart('POST', '/page', { 'content-type': 'application/octet-stream' });
    expect(await closed(answer)).toEqual(['HTTP/1.1 405 Method Not Allowed', 'close']);
    expect(answer.headers.allow).toBe('GET, HEAD');
    // No body: nothing to read, the connection serves the next request.
    expect(await twoOnOne('POST /page HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n')).toEqual([
      'HTTP/1.1 405 Method Not Allowed / keep-alive',
      'HTTP/1.1 405 Method Not Allowed / keep-alive',
    ]);
  });

  it('405 on the action route (PUT, a form): Connection: close, ended', async () => {
    const answer = await sendPart('PUT', '/api/livecomponents/action', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(await closed(answer)).toEqual(['HTTP/1.1 405 Method Not Allowed', 'close']);
  });

  it('404 for a POST with no Content-Type, and for one of a type no parser takes: Connection: close, ended', async () => {
    expect(await closed(await sendPart('POST', '/nowhere', {}))).toEqual(['HTTP/1.1 404 Not Found', 'close']);
    expect(await closed(await sendPart('POST', '/nowhere', { 'content-type': 'multipart/form-data; boundary=x' }))).toEqual(['HTTP/1.1 404 Not Found', 'close']);
    // JSON, which the not-found route's parser reads (up to the body limit) before its 404, keeps it;
    // so does an action-like JSON post a route reads (200).
    const json = (path: string): string => `POST ${path} HTTP/1.1\r\nhost: a\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{"a":1}`;
    expect(await twoOnOne(json('/nowhere'))).toEqual(['HTTP/1.1 404 Not Found / keep-alive', 'HTTP/1.1 404 Not Found / keep-alive']);
    expect(await twoOnOne(json('/json'))).toEqual(['HTTP/1.1 200 OK / keep-alive', 'HTTP/1.1 200 OK / keep-alive']);
  });

  it('404 for a tiny body not all arrived (20 bytes announced, 10 sent): Connection: close too', async () => {
    expect(await closed(await sendPart('POST', '/nowhere', { 'content-type': 'application/octet-stream' }, 20, 10))).toEqual(['HTTP/1.1 404 Not Found', 'close']);
  });

  it('a chunked body: 404, Connection: close, ended', async () => {
    expect(await closed(await sendPart('POST', '/nowhere', { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }))).toEqual([
      'HTTP/1.1 404 Not Found',
      'close',
    ]);
  });

  it("Fastify's 415 for a type no parser of the route takes: Connection: close, ended", async () => {
    expect(await closed(await sendPart('POST', '/json', { 'content-type': 'application/octet-stream' }))).toEqual(['HTTP/1.1 415 Unsupported Media Type', 'close']);
  });

  it("an app's onRequest hook answering (401) and a preParsing hook answering (403): Connection: close, ended", async () => {
    expect(await closed(await sendPart('POST', '/hooked', { 'content-type': 'application/json' }))).toEqual(['HTTP/1.1 401 Unauthorized', 'close']);
    expect(await closed(await sendPart('POST', '/pre-parsing', { 'content-type': 'application/json' }))).toEqual(['HTTP/1.1 403 Forbidden', 'close']);
  });

  it('a GET page served with a body announced (Fastify reads none for GET): 200, Connection: close, ended', async () => {
    expect(await closed(await sendPart('GET', '/page', { 'content-type': 'text/plain' }))).toEqual(['HTTP/1.1 200 OK', 'close']);
    expect(await twoOnOne('GET /page HTTP/1.1\r\nhost: a\r\n\r\n')).toEqual(['HTTP/1.1 200 OK / keep-alive', 'HTTP/1.1 200 OK / keep-alive']);
  });

  it('a URL the router refuses (frameworkErrors, 400): Connection: close, ended', async () => {
    expect(await closed(await sendPart('POST', '/%', { 'content-type': 'application/json' }))).toEqual(['HTTP/1.1 400 Bad Request', 'close']);
  });

  it('a hijacked reply answering before the body (no onSend, its own head): the connection ended after it', async () => {
    const answer = await sendPart('POST', '/hijacked', { 'content-type': 'application/json' });
    expect(answer.status).toBe('HTTP/1.1 403 Forbidden');
    await answer.ended;
    // A body all received keeps it.
    expect(await twoOnOne('POST /hijacked HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n')).toEqual([
      'HTTP/1.1 403 Forbidden / keep-alive',
      'HTTP/1.1 403 Forbidden / keep-alive',
    ]);
  });

  it('OPTIONS * with a body (204): Connection: close, ended', async () => {
    expect(await closed(await sendPart('OPTIONS', '*', { 'content-type': 'text/plain' }))).toEqual(['HTTP/1.1 204 No Content', 'close']);
  });
});


describe('load shedding', () => {
  it('a request shed (503) with a body announced: Connection: close, ended', async () => {
    const shedding = Fastify(serverOptions({ maxEventLoopDelayMs: 300 }));
    shedding.get('/', async () => 'ok');
    await shedding.listen({ port: 0, host: '127.0.0.1' });
    const socket = connect({ port: (shedding.server.address() as { port: number }).port, host: '127.0.0.1' });
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      let received = '';
      socket.setEncoding('latin1');
      const head = new Promise<void>((resolve) => socket.on('data', (chunk: string) => (received += chunk).includes('\r\n\r\n') && resolve()));
      const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      // The loop stuck past the limit, as a burst of CPU-bound requests does: what waited through it is shed.
      const end = performance.now() + 1500;
      while (performance.now() < end) {
        // spin
      }
      socket.write(`POST / HTTP/1.1\r\nhost: a\r\ncontent-type: text/plain\r\ncontent-length: ${ANNOUNCED}\r\n\r\n${'a'.repeat(1024)}`);
      await head;
      expect([received.split('\r\n')[0], /\r\nconnection: ([^\r]*)/i.exec(received)?.[1]]).toEqual(['HTTP/1.1 503 Service Unavailable', 'close']);
      await ended;
    } finally {
      socket.destroy(); // a connection still being read would hold close() for ever
      await shedding.close();
    }
  });
});
