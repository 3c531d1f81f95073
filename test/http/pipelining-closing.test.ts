/**
 * A request pipelined behind an answer that closes the connection is not run: Node still emits it,
 * but queues its answer behind one after which it ends the connection, so the answer is never sent
 * and the client cannot tell whether its route ran (an action's effects with no answer). Such answers:
 * any answer to an HTTP/1.0 keep-alive request without `Content-Length` (Node cannot end it but by
 * closing: `OPTIONS *`'s 204, a route's 204, a stream), one whose handler set `Connection: close`, and
 * one to a request that asked to close. Before, the reviewer's HTTP/1.0 client got only the 204 of its
 * `OPTIONS *` while the `POST` behind it ran. Over real sockets; the routes' runs counted exactly (once
 * a later request on a fresh connection was answered, so a run that was going to happen has happened).
 * The controls: pipelining behind answers that keep the connection still runs and answers every request,
 * in order, over HTTP/1.1 and HTTP/1.0 keep-alive alike; an unsafe request runs once the answers before
 * it are sent (RFC 9112 §9.3.2: only safe ones run in parallel), so a GET behind POSTs runs after them.
 */
import { PassThrough, Readable } from 'node:stream';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { serverOptions } from '../../src/http/server-options.js';
import { listenedServers, rawExchange } from '../helpers/raw-http.js';
import { waitUntil } from '../helpers/wait-until.js';

const { listening, keptConnection } = listenedServers();

/**
 * An app whose `POST /effect` notes the `n` of its body in `runs` (an effect), with routes whose
 * answers close the connection or not; `emitted()` counts the requests Node handed to the server.
 */
async function effectApp(): Promise<{ port: number; runs: string[]; emitted(): number; release(): void }> {
  const app = Fastify(serverOptions());
  const runs: string[] = [];
  const held = new PassThrough();
  app.post('/effect', (request) => {
    runs.push((request.body as { n: string }).n);
    return { done: true };
  });
  app.get('/seen', () => {
    runs.push('seen');
    return 'seen';
  });
  app.post('/nothing', (_request, reply) => reply.code(204).send());
  app.get('/stream', (_request, reply) => reply.type('text/plain').send(Readable.from(['a', 'b'])));
  app.get('/bye', (_request, reply) => reply.header('connection', 'close').send('bye'));
  // Its head (`Connection: close`) and a first chunk go out at once; the rest once `release()`d.
  app.get('/held-bye', (_request, reply) => {
    held.write('a');
    return reply.header('connection', 'close').type('text/plain').send(held);
  });
  let emitted = 0;
  app.server.on('request', () => emitted++);
  const port = await listening(app);
  return { port, runs, emitted: () => emitted, release: () => held.end('b') };
}

const json = (n: string): string => JSON.stringify({ n });
/** `POST /effect` over HTTP/1.0, asking to keep the connection. */
const post10 = (n: string): string => `POST /effect HTTP/1.0\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: ${json(n).length}\r\n\r\n${json(n)}`;
const post11 = (n: string): string => `POST /effect HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${json(n).length}\r\n\r\n${json(n)}`;
const SEEN = 'GET /seen HTTP/1.1\r\nHost: x\r\n\r\n';

/** Status line and `Connection` of each answer in `text`. */
const answersOf = (text: string): string[] =>
  [...text.matchAll(/HTTP\/1\.1 \d{3} [^\r]*\r\n[\s\S]*?\r\n\r\n/g)].map(([head]) => `${head.split('\r\n')[0]} / ${/\r\nconnection: ([^\r]*)/i.exec(head)?.[1]}`);

/** The runs once a request on a fresh connection was answered: a run still to come has come by then. */
async function runsAfterSentinel(port: number, runs: string[]): Promise<string[]> {
  const answer = await rawExchange(port, post11('sentinel').replace('Host: x\r\n', 'Host: x\r\nConnection: close\r\n'));
  expect(answer.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
  return runs.filter((n) => n !== 'sentinel');
}

describe('a request pipelined behind an answer that closes the connection is not run', () => {
  it('HTTP/1.0 keep-alive: `OPTIONS *` (204, Node closes), then a POST in the same write: only the 204, the POST’s route not run', async () => {
    const { port, runs, emitted } = await effectApp();
    const text = await rawExchange(port, `OPTIONS * HTTP/1.0\r\nConnection: keep-alive\r\n\r\n${post10('a')}`);
    expect(answersOf(text)).toEqual(['HTTP/1.1 204 No Content / close']);
    expect(emitted()).toBe(2); // Node did hand the POST over
    expect(await runsAfterSentinel(port, runs)).toEqual([]);
  });

  it('HTTP/1.0 keep-alive: a route answering 204, then a POST: not run', async () => {
    const { port, runs, emitted } = await effectApp();
    const text = await rawExchange(port, `POST /nothing HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n${post10('a')}`);
    expect(answersOf(text)).toEqual(['HTTP/1.1 204 No Content / close']);
    expect(emitted()).toBe(2);
    expect(await runsAfterSentinel(port, runs)).toEqual([]);
  });

  it('HTTP/1.0 keep-alive: a streamed answer (no Content-Length), then two POSTs: neither run, the stream whole', async () => {
    const { port, runs, emitted } = await effectApp();
    const text = await rawExchange(port, `GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n${post10('a')}${post10('b')}`);
    expect(answersOf(text)).toEqual(['HTTP/1.1 200 OK / close']);
    expect(text.endsWith('\r\n\r\nab')).toBe(true);
    expect(emitted()).toBe(3);
    expect(await runsAfterSentinel(port, runs)).toEqual([]);
  });

  it('HTTP/1.1: a handler that sets `Connection: close`, then a POST: not run', async () => {
    const { port, runs, emitted } = await effectApp();
    const text = await rawExchange(port, `GET /bye HTTP/1.1\r\nHost: x\r\n\r\n${post11('a')}`);
    expect(answersOf(text)).toEqual(['HTTP/1.1 200 OK / close']);
    expect(text.endsWith('\r\n\r\nbye')).toBe(true);
    expect(emitted()).toBe(2);
    expect(await runsAfterSentinel(port, runs)).toEqual([]);
  });

  it('HTTP/1.1: a POST and a GET sent once a `Connection: close` head is out, its answer still going: neither run', async () => {
    const { port, runs, emitted, release } = await effectApp();
    const c = keptConnection(port);
    c.send('GET /held-bye HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitUntil('the closing head and a first chunk', () => c.received().endsWith('\r\n1\r\na\r\n'), { seen: () => c.received() });
    c.send(post11('a') + SEEN);
    await waitUntil('Node to hand over both', () => emitted() === 3, { seen: () => emitted() });
    release();
    await waitUntil('the connection closed', () => c.closed());
    expect(answersOf(c.received())).toEqual(['HTTP/1.1 200 OK / close']);
    expect(c.received().endsWith('\r\n1\r\nb\r\n0\r\n\r\n')).toBe(true);
    expect(await runsAfterSentinel(port, runs)).toEqual([]);
  });
});

describe('controls: pipelining behind answers that keep the connection', () => {
  it('HTTP/1.1: three POSTs and a GET in one write: each run once, in order, all answered in order, the connection kept', async () => {
    const { port, runs } = await effectApp();
    const c = keptConnection(port);
    c.send(post11('1') + post11('2') + post11('3') + SEEN);
    await waitUntil('four answers', () => answersOf(c.received()).length === 4 && c.received().endsWith('seen'), { seen: () => c.received() });
    expect(answersOf(c.received())).toEqual([...Array<string>(4).fill('HTTP/1.1 200 OK / keep-alive')]);
    expect(c.received().match(/\{"done":true\}|seen$/g)).toEqual(['{"done":true}', '{"done":true}', '{"done":true}', 'seen']);
    expect(runs).toEqual(['1', '2', '3', 'seen']);
    c.send(SEEN);
    await waitUntil('a fifth answer on the same connection', () => answersOf(c.received()).length === 5, { seen: () => c.received() });
    expect(c.closed()).toBe(false);
    expect(runs).toEqual(['1', '2', '3', 'seen', 'seen']);
  });

  it('HTTP/1.0 keep-alive, answers with Content-Length: two POSTs in one write both run and are answered, and a third after them', async () => {
    const { port, runs } = await effectApp();
    const c = keptConnection(port);
    c.send(post10('a') + post10('b'));
    await waitUntil('two answers', () => c.received().split('{"done":true}').length === 3, { seen: () => c.received() });
    expect(answersOf(c.received())).toEqual(['HTTP/1.1 200 OK / keep-alive', 'HTTP/1.1 200 OK / keep-alive']);
    c.send(post10('c'));
    await waitUntil('a third answer', () => c.received().split('{"done":true}').length === 4, { seen: () => c.received() });
    expect(answersOf(c.received())).toHaveLength(3);
    expect(c.closed()).toBe(false);
    expect(runs).toEqual(['a', 'b', 'c']);
  });
});
