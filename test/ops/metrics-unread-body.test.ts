/**
 * The separate metrics server runs without the plugin, so the plugin's `onSend` does not close the
 * connections of its answers given before a body is read (src/http/unread-body.ts): it has its own
 * hook. Without it, a POST to `/metrics` announcing 8 MiB got its 405 with `Connection: keep-alive`
 * and Node read the whole body.
 */
import { connect, type Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { serverOptions } from '../../src/http/server-options.js';
import { createMetrics, registerMetricsRoute } from '../../src/ops/metrics/index.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';

const apps: FastifyInstance[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function metricsPort(): Promise<number> {
  const app = Fastify(serverOptions());
  apps.push(app);
  const separate = await registerMetricsRoute(app, { metrics: createMetrics({ defaultMetrics: false }), port: 0, events: memorySecurityEvents() });
  await app.ready();
  return separate!.port;
}

/** Sends `head` then `body` on a new connection; resolves the answer's status line, its `Connection`, and whether the server ended the connection. */
function exchange(port: number, head: string, body: string): Promise<{ status: string; connection: string | undefined; ended: Promise<true> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    sockets.push(socket);
    let received = '';
    let markEnded: (value: true) => void = () => undefined;
    const ended = new Promise<true>((r) => (markEnded = r));
    socket.on('end', () => markEnded(true));
    socket.on('close', () => markEnded(true));
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      const seen = received.includes('\r\n\r\n');
      received += chunk.toString('latin1');
      if (seen || !received.includes('\r\n\r\n')) return;
      const headText = received.slice(0, received.indexOf('\r\n\r\n'));
      resolve({ status: headText.split('\r\n')[0] ?? '', connection: /\r\nconnection: ([^\r]*)/i.exec(headText)?.[1], ended });
    });
    socket.write(head + body);
  });
}

describe('metrics server: answers before the body is read', () => {
  it('a POST to /metrics announcing 8 MiB gets its 405 with Connection: close, and the connection ends', async () => {
    const port = await metricsPort();
    const answer = await exchange(port, `POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${8 * 1024 * 1024}\r\n\r\n`, 'a'.repeat(1024));
    expect([answer.status, answer.connection]).toEqual(['HTTP/1.1 405 Method Not Allowed', 'close']);
    expect(await answer.ended).toBe(true);
  });

  it('a small POST to /metrics (a type no parser takes) sent whole with its head gets its 405 and keeps the connection (nothing left to read)', async () => {
    const port = await metricsPort();
    const answer = await exchange(port, 'POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 2\r\n\r\n', 'ab');
    expect([answer.status, answer.connection]).toEqual(['HTTP/1.1 405 Method Not Allowed', 'keep-alive']);
  });

  it('a GET without a body keeps its connection (control)', async () => {
    const port = await metricsPort();
    const answer = await exchange(port, 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', '');
    expect([answer.status, answer.connection]).toEqual(['HTTP/1.1 200 OK', 'keep-alive']);
  });
});
