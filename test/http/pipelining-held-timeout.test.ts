/**
 * A request held behind an answer in progress (an unsafe one waits: RFC 9112 §9.3.2) whose body had not
 * all arrived when Node's request timeout gave the connection up (408, then closed once the answers
 * before it are sent) is not run once those answers are: its body can never arrive, and the connection
 * closes after the 408. Before, it was dropped from the answers waited for but stayed held, and its route
 * ran after the 408 was decided (its answer written ahead of the 408).
 */
import Fastify from 'fastify';
import { expect, it } from 'vitest';
import { serverOptions } from '../../src/http/server-options.js';
import { listenedServers } from '../helpers/raw-http.js';
import { waitUntil } from '../helpers/wait-until.js';

const { listening, keptConnection } = listenedServers();

it('a POST held behind a GET in progress, its body cut short past the request timeout: its route not run, only the GET answered, then 408', async () => {
  const app = Fastify(serverOptions({ requestTimeoutMs: 200 }));
  const runs: string[] = [];
  let release: (() => void) | undefined;
  app.get('/slow', () => new Promise<string>((resolve) => (release = () => resolve('slow'))));
  // A parser that does not read the body: the route would run whatever arrived.
  app.addContentTypeParser('text/x', (_request, _payload, done) => done(null, 'x'));
  app.post('/effect', () => {
    runs.push('effect');
    return { done: true };
  });
  let timedOut = false;
  app.server.on('clientError', (error: Error & { code?: string }) => {
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') timedOut = true;
  });
  const port = await listening(app);
  const { send, received, closed } = keptConnection(port);
  send('GET /slow HTTP/1.1\r\nHost: x\r\n\r\nPOST /effect HTTP/1.1\r\nHost: x\r\nContent-Type: text/x\r\nContent-Length: 10\r\n\r\nab');
  await waitUntil('the request timeout', () => timedOut && release !== undefined);
  release?.();
  await waitUntil('the connection closed', closed, { seen: received });
  expect([...received().matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1])).toEqual(['200', '408']);
  expect(runs).toEqual([]);
});
