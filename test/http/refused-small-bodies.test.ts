/**
 * A refusal given before the body is read closes the connection only when the body announced is not
 * all in (src/http/unread-body.ts): a small body that came with the head is no cost (Node drops what
 * it buffered), and a keep-alive client must not pay a new connection for its next request. Before,
 * the auth API's refusals (a foreign origin's 403, a 429, a body that is not JSON) and
 * `refuseForeignForms` closed it whenever a body was announced, however small and complete; and the
 * plugin's onSend still closed it after the answers Fastify gives in the read that brought the head
 * (the not-found handler's 404/405 for a body no parser takes, the parser lookup's 415).
 * Over real sockets, on the reference app as production builds it: each request is written in one
 * write (head and body together, as a browser sends a small form), and the next request goes on the
 * same connection once the answer is in; "answered" is the exact count of answers on that socket.
 * The controls: the same refusals for a body announced at 8 MiB of which 1 KiB is sent close it.
 * The same holds for `serverOptions()`' own answers given before routing (`OPTIONS *`, a URL the
 * router refuses, load shedding's 503), which decided at once, in the read that brought the head, and
 * so closed the connection after a small body sent with it too.
 */
import { connect, type Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverOptions } from '../../src/http/server-options.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { demoApp } from '../helpers/demo.js';
import { postPart } from '../helpers/partial-post.js';
import { FAST_ARGON2 } from '../auth/harness.js';

const APP = 'https://app.example.test';
const EVIL = 'https://evil.example';
const ANNOUNCED = 8 * 1024 * 1024;

let app: FastifyInstance;
let port: number;
const sockets: Socket[] = [];

beforeAll(async () => {
  // A memory store: the limiter's answer comes in microtasks, before Node has parsed the rest of the
  // read (the tightest case; a store on a socket or a file answers later).
  app = (await demoApp({ APP_URL: APP }, { store: createMemoryStore({ sweepIntervalMs: 0 }) }, { password: FAST_ARGON2 })).app;
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as { port: number }).port;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await app.close();
});

/** A request with `body` (its length announced), as one string for one write. */
function request(method: string, path: string, headers: Record<string, string>, body = ''): string {
  const head = Object.entries({ host: 'app.example.test', 'content-length': String(Buffer.byteLength(body)), ...headers })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return `${method} ${path} HTTP/1.1\r\n${head}\r\n${body}`;
}

/**
 * `requests` one after another on one connection to `to` (the reference app's port by default), each
 * written once the answer to the one before is in (head and its `content-length` body); stops at an
 * answer saying `Connection: close`, or when the server ends the connection. `beforeFirst` runs once
 * connected, before the first request is written. Resolves `status / connection` of each answer received.
 */
function onOneConnection(requests: readonly string[], to = port, beforeFirst?: () => void): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port: to, host: '127.0.0.1' });
    sockets.push(socket);
    const answers: string[] = [];
    let received = Buffer.alloc(0);
    const next = (): void => {
      const bytes = requests[answers.length];
      if (bytes === undefined) {
        socket.destroy();
        resolve(answers);
      } else socket.write(bytes);
    };
    socket.on('error', reject);
    socket.on('close', () => resolve(answers));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = received.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (received.length < end + 4 + length) return;
      received = received.subarray(end + 4 + length);
      const connection = /\r\nconnection: ([^\r]*)/i.exec(head)?.[1];
      answers.push(`${head.split('\r\n')[0]} / ${connection}`);
      if (connection === 'close') return; // the server ends it: 'close' resolves
      next();
    });
    socket.on('connect', () => {
      beforeFirst?.();
      next();
    });
  });
}

const HEALTH = request('GET', '/health/live', {});
const JSON_TYPE = { 'content-type': 'application/json' };

describe('a small body all in, refused before it is read: the connection serves the next request', () => {
  it('the auth API, a foreign Origin (403): kept, the next request answered', async () => {
    const refused = request('POST', '/api/v1/auth/login', { ...JSON_TYPE, origin: EVIL }, '{"email":"a@b.c","password":"x"}');
    expect(await onOneConnection([refused, refused, HEALTH])).toEqual(['HTTP/1.1 403 Forbidden / keep-alive', 'HTTP/1.1 403 Forbidden / keep-alive', 'HTTP/1.1 200 OK / keep-alive']);
  });

  it('the auth API, a body that is not JSON from the app’s own page (415): kept, the next request answered', async () => {
    const refused = request('POST', '/api/v1/auth/forgot-password', { 'content-type': 'text/plain', origin: APP }, 'email=a@b.c');
    expect(await onOneConnection([refused, HEALTH])).toEqual(['HTTP/1.1 415 Unsupported Media Type / keep-alive', 'HTTP/1.1 200 OK / keep-alive']);
  });

  it('the auth API past its limit (429, after 5 failed sign-ins): kept, the next request answered', async () => {
    // Well-formed: a body the parser refuses (malformed JSON) closes the connection by Fastify's own rule.
    const wrong = request('POST', '/api/v1/auth/login', { ...JSON_TYPE, origin: APP }, '{"email":"nobody@example.com","password":"not the password"}');
    const answers = await onOneConnection([wrong, wrong, wrong, wrong, wrong, wrong, HEALTH]);
    expect(answers).toEqual([...Array<string>(5).fill('HTTP/1.1 401 Unauthorized / keep-alive'), 'HTTP/1.1 429 Too Many Requests / keep-alive', 'HTTP/1.1 200 OK / keep-alive']);
  });

  it('refuseForeignForms, a cross-site sign-in form (303): kept, the next request answered', async () => {
    const refused = request('POST', '/login', { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' }, 'email=a%40b.c&password=x');
    expect(await onOneConnection([refused, HEALTH])).toEqual(['HTTP/1.1 303 See Other / keep-alive', 'HTTP/1.1 200 OK / keep-alive']);
  });
});

describe('answers the plugin’s onSend closes for an unread body: a small one all in keeps the connection', () => {
  // Fastify answers these in the read that brought the head, without reading the body: the
  // not-found handler for a body no parser takes (404, 405), the parser lookup's 415.
  const OCTETS = { 'content-type': 'application/octet-stream' };
  it.each([
    ['404 for a POST to no route', request('POST', '/nowhere', OCTETS, 'hello'), 'HTTP/1.1 404 Not Found'],
    ['405 for a POST to a GET-only page', request('POST', '/', OCTETS, 'hello'), 'HTTP/1.1 405 Method Not Allowed'],
    ['405 for a PUT to the action route', request('PUT', '/api/livecomponents/action', OCTETS, 'hello'), 'HTTP/1.1 405 Method Not Allowed'],
    ['415 for a body the sign-in form’s parser does not take', request('POST', '/login', { ...OCTETS, origin: APP }, 'hello'), 'HTTP/1.1 415 Unsupported Media Type'],
    ['a browser’s 404 page', request('POST', '/nowhere', { ...OCTETS, accept: 'text/html' }, 'hello'), 'HTTP/1.1 404 Not Found'],
  ])('%s: kept, the next request answered', async (_name, refused, status) => {
    expect(await onOneConnection([refused, refused, HEALTH])).toEqual([`${status} / keep-alive`, `${status} / keep-alive`, 'HTTP/1.1 200 OK / keep-alive']);
  });
});

describe('controls: a body announced at 8 MiB with 1 KiB sent, refused the same ways: Connection: close, ended', () => {
  it.each([
    ['a foreign Origin to the auth API (403)', '/api/v1/auth/login', { ...JSON_TYPE, origin: EVIL }, 'HTTP/1.1 403 Forbidden'],
    ['text/plain to the auth API (415)', '/api/v1/auth/forgot-password', { 'content-type': 'text/plain', origin: APP }, 'HTTP/1.1 415 Unsupported Media Type'],
    ['a cross-site form (303)', '/login', { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' }, 'HTTP/1.1 303 See Other'],
    ['a body no parser takes, to no route (404)', '/nowhere', { 'content-type': 'application/octet-stream' }, 'HTTP/1.1 404 Not Found'],
    ['a body the sign-in form’s parser does not take (415)', '/login', { 'content-type': 'application/octet-stream', origin: APP }, 'HTTP/1.1 415 Unsupported Media Type'],
  ])('%s', async (_name, path, headers, status) => {
    const answer = await postPart(port, path, headers, sockets, ANNOUNCED);
    expect([answer.status, answer.headers.connection]).toEqual([status, 'close']);
    await answer.ended;
  });
});

describe('serverOptions()’ own answers, before routing: a small body all in keeps the connection, one still coming closes it', () => {
  // Answered by its Node request handler or Fastify's `frameworkErrors`, where no hook of the app
  // runs: they decided in the read that brought the head, and closed after a small body too.
  it.each([
    ['OPTIONS * (204)', 'OPTIONS', '*', 'HTTP/1.1 204 No Content'],
    ['a URL the router refuses (400)', 'POST', '/%', 'HTTP/1.1 400 Bad Request'],
  ])('%s', async (_name, method, path, status) => {
    const refused = request(method, path, { 'content-type': 'text/plain' }, 'hello');
    expect(await onOneConnection([refused, refused, HEALTH])).toEqual([`${status} / keep-alive`, `${status} / keep-alive`, 'HTTP/1.1 200 OK / keep-alive']);
    const answer = await postPart(port, path, { 'content-type': 'text/plain' }, sockets, ANNOUNCED, { method });
    expect([answer.status, answer.headers.connection]).toEqual([status, 'close']);
    await answer.ended;
  });

  it('a hijacked reply (written past onSend, so its head says keep-alive): the server ends the connection only for a body still coming', async () => {
    const hijacking = Fastify(serverOptions({ maxEventLoopDelayMs: 0 }));
    hijacking.get('/', async () => 'ok');
    hijacking.post('/hijacked', {
      onRequest: (_request, reply, done) => {
        reply.hijack();
        reply.raw.writeHead(403, { 'content-type': 'text/plain', 'content-length': '7' }).end('refused');
        done();
      },
    }, async () => 'never');
    await hijacking.listen({ port: 0, host: '127.0.0.1' });
    const to = (hijacking.server.address() as { port: number }).port;
    try {
      const small = request('POST', '/hijacked', { 'content-type': 'text/plain' }, 'hello');
      expect(await onOneConnection([small, small, request('GET', '/', {})], to)).toEqual(['HTTP/1.1 403 Forbidden / keep-alive', 'HTTP/1.1 403 Forbidden / keep-alive', 'HTTP/1.1 200 OK / keep-alive']);
      const answer = await postPart(to, '/hijacked', { 'content-type': 'text/plain' }, sockets, ANNOUNCED);
      expect(answer.status).toBe('HTTP/1.1 403 Forbidden');
      await answer.ended;
    } finally {
      for (const socket of sockets) socket.destroy(); // a connection still open would hold close()
      await hijacking.close();
    }
  });

  it('load shedding’s 503', async () => {
    const shedding = Fastify(serverOptions({ maxEventLoopDelayMs: 300 }));
    shedding.get('/', async () => 'ok');
    shedding.post('/', async () => 'ok');
    await shedding.listen({ port: 0, host: '127.0.0.1' });
    const to = (shedding.server.address() as { port: number }).port;
    // The loop stuck past the limit, as a burst of CPU-bound requests does: a request read right after
    // it is shed; the next one, once the loop has caught up, is served.
    const stall = (): void => {
      const end = performance.now() + 1500;
      while (performance.now() < end) {
        // spin
      }
    };
    try {
      const small = request('POST', '/', { 'content-type': 'text/plain' }, 'hello');
      expect(await onOneConnection([small, request('GET', '/', {})], to, stall)).toEqual(['HTTP/1.1 503 Service Unavailable / keep-alive', 'HTTP/1.1 200 OK / keep-alive']);
      const large = `POST / HTTP/1.1\r\nhost: a\r\ncontent-type: text/plain\r\ncontent-length: ${ANNOUNCED}\r\n\r\n${'a'.repeat(1024)}`;
      expect(await onOneConnection([large, request('GET', '/', {})], to, stall)).toEqual(['HTTP/1.1 503 Service Unavailable / close']);
    } finally {
      await shedding.close();
    }
  });
});
