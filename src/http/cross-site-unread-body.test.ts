/**
 * A body the action route does not read is answered before it is read: 403 for a post that is not
 * JSON whose source the CSRF source check refuses (in `onRequest`: a form, `text/plain`), and for
 * JSON announced over the body limit from such a source (Fastify's 413, before reading, becomes the
 * CSRF refusal), 415 for a body that is not JSON from the app's own origin. (JSON within the limit
 * is read, from any source: a client that is no browser can leave out `Origin` anyway.) Node then reads what is
 * left of an unread body to its end on a kept-alive connection, whatever `actionBodyLimit` says: a
 * cross-site `text/plain` post announcing 64 MiB was read whole (probed: every byte accepted,
 * `Connection: keep-alive`), where a JSON body over the limit gets 413 and the connection closed
 * after ~4 MiB of socket buffers. So those answers close the connection too, as Fastify does after a
 * parser error. Over real sockets: the client sends the head and 1 KiB of the body it announces, and
 * waits for the answer and the server's end of the connection (a server reading to the end would
 * wait for the rest, and neither would come).
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { demoApp } from '../../test/helpers/demo.js';
import { postPart as postPartOf } from '../../test/helpers/partial-post.js';
import type { SecurityEvent } from '../ops/security-events.js';

const APP = 'https://app.example.test';
const EVIL = 'https://evil.example';
const ANNOUNCED = 8 * 1024 * 1024;

/** A POST to the action route announcing `announced` bytes (8 MiB by default), 1 KiB of them sent. */
const postPart = (port: number, headers: Record<string, string>, sockets: Socket[], announced = ANNOUNCED) => postPartOf(port, '/api/livecomponents/action', headers, sockets, announced);

describe('action route: a body it does not parse is not read', () => {
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

  it('JSON over the body limit from a foreign Origin: 403 (not 413), Connection: close, the server ends the connection; one malicious_csrf', async () => {
    const before = events.length;
    const answer = await postPart(port, { 'content-type': 'application/json', origin: EVIL }, sockets);
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
