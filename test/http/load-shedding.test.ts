/**
 * serverOptions()'s load shedding: once the event loop lags past `maxEventLoopDelayMs`, requests are
 * answered 503 SERVICE_UNAVAILABLE with `Retry-After: 1` before routing (and counted), while the
 * health endpoints are still served: under 2000 connections every request used to queue for seconds,
 * liveness probes included, and Kubernetes would restart a healthy busy pod.
 */
import { connect, type Socket } from 'node:net';
import Fastify from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import { serverOptions } from '../../src/http/server-options.js';
import { createMetrics, METRIC_NAMES, registerHttpMetrics } from '../../src/ops/metrics/index.js';
import { demoApp } from '../helpers/demo.js';
import { listenedServers } from '../helpers/raw-http.js';

const { listening, track } = listenedServers();

/** Blocks the event loop, as a CPU-bound burst of requests does. */
function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

async function connected(port: number): Promise<{ socket: Socket; answer: Promise<string> }> {
  const socket = connect({ port, host: '127.0.0.1' });
  track(socket);
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (received += chunk));
  const answer = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, answer };
}

/** A request that closes its connection once answered, so its answer is everything received. */
const request = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

async function shedApp(maxEventLoopDelayMs: number): Promise<{ port: number; shedCount: () => Promise<number | undefined> }> {
  const app = Fastify(serverOptions({ maxEventLoopDelayMs }));
  const metrics = createMetrics();
  registerHttpMetrics(app, metrics);
  app.get('/', async () => 'ok');
  app.get('/health/live', async () => ({ status: 'pass' }));
  const port = await listening(app);
  const shedCount = async (): Promise<number | undefined> => (await metrics.registry.getSingleMetric(METRIC_NAMES.requestsShed)?.get())?.values[0]?.value;
  return { port, shedCount };
}

describe('load shedding', () => {
  it('answers the requests that arrive while the event loop is stuck 503 + Retry-After, serves /health/live, counts each shed request, and serves again once the loop caught up', async () => {
    const { port, shedCount } = await shedApp(300);
    const clients = await Promise.all([connected(port), connected(port), connected(port)]);
    const probe = await connected(port);
    busyWait(1500);
    // Sent before the loop runs again: the server reads them right after the stall.
    for (const c of clients) c.socket.write(request('/'));
    probe.socket.write(request('/health/live'));
    const answers = await Promise.all(clients.map((c) => c.answer));
    for (const answer of answers) {
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
      expect(answer).toMatch(/\r\nretry-after: 1\r\n/i);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
      expect(body).toMatchObject({ code: 'SERVICE_UNAVAILABLE', error: expect.any(String), request_id: expect.any(String) });
    }
    expect((await probe.answer).split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(await shedCount()).toBe(3);
    await vi.waitFor(
      async () => {
        const again = await connected(port);
        again.socket.write(request('/'));
        expect((await again.answer).split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
      },
      { timeout: 10_000, interval: 200 },
    );
  });

  it('is off with maxEventLoopDelayMs: 0; other values are refused', async () => {
    const { port, shedCount } = await shedApp(0);
    const c = await connected(port);
    busyWait(1500);
    c.socket.write(request('/'));
    expect((await c.answer).split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(await shedCount()).toBe(0);
    for (const maxEventLoopDelayMs of [-1, 1.5, Number.NaN, 2 ** 31]) {
      expect(() => serverOptions({ maxEventLoopDelayMs }), String(maxEventLoopDelayMs)).toThrow(TypeError);
    }
  });
});

describe('the reference app', () => {
  /** The demo app listening with `env`, `/` answered after a stall of the event loop. */
  async function afterStall(env: Record<string, string>): Promise<string> {
    const { app } = await demoApp(env);
    const c = await connected(await listening(app));
    busyWait(1500);
    c.socket.write(request('/'));
    return (await c.answer).split('\r\n')[0]!;
  }

  it('sheds by default and takes MAX_EVENT_LOOP_DELAY_MS (0: off) from its configuration', async () => {
    expect(await afterStall({ MAX_EVENT_LOOP_DELAY_MS: '300' })).toBe('HTTP/1.1 503 Service Unavailable');
    expect(await afterStall({})).toBe('HTTP/1.1 503 Service Unavailable');
    expect(await afterStall({ MAX_EVENT_LOOP_DELAY_MS: '0' })).toBe('HTTP/1.1 200 OK');
  });
});
