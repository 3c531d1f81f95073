/**
 * serverOptions()'s load shedding: once the event loop lags past `maxEventLoopDelayMs`, requests are
 * answered 503 SERVICE_UNAVAILABLE with `Retry-After: 1` before routing (and counted), while the
 * health endpoints are still served: under 2000 connections every request used to queue for seconds,
 * liveness probes included, and Kubernetes would restart a healthy busy pod.
 */
import { connect, type Socket } from 'node:net';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { serverOptions } from '../../src/http/server-options.js';
import { createMetrics, METRIC_NAMES, registerHttpMetrics } from '../../src/ops/metrics/index.js';
import { demoApp } from '../helpers/demo.js';
import { listenedServers } from '../helpers/raw-http.js';
import { waitUntil } from '../helpers/wait-until.js';

const { listening, track } = listenedServers();

/** Blocks the event loop, as a CPU-bound burst of requests does. */
function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

/** A connection being opened (what it is sent before it connects is sent once it does). */
function opening(port: number): { socket: Socket; answer: Promise<string> } {
  const socket = connect({ port, host: '127.0.0.1' });
  track(socket);
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (received += chunk));
  const answer = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  return { socket, answer };
}

async function connected(port: number): Promise<{ socket: Socket; answer: Promise<string> }> {
  const c = opening(port);
  await new Promise((resolve) => c.socket.once('connect', resolve));
  return c;
}

/** Lets the event loop turn `n` times (timers, poll — sockets read —, check), whatever the clock says. */
async function loopTurns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

const statusOf = (answer: string): string => answer.split('\r\n')[0]!;
const OK = 'HTTP/1.1 200 OK';
const SHED = 'HTTP/1.1 503 Service Unavailable';

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
      expect(statusOf(answer)).toBe(SHED);
      expect(answer).toMatch(/\r\nretry-after: 1\r\n/i);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
      expect(body).toMatchObject({ code: 'SERVICE_UNAVAILABLE', error: expect.any(String), request_id: expect.any(String) });
    }
    expect((await probe.answer).split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(await shedCount()).toBe(3);
    let status = '';
    await waitUntil(
      'a new request to be served again (200)',
      async () => {
        const again = await connected(port).catch((error: Error) => error);
        if (again instanceof Error) return ((status = again.message), false);
        again.socket.write(request('/'));
        status = (await again.answer).split('\r\n')[0] ?? '';
        return status === 'HTTP/1.1 200 OK';
      },
      { every: 200, seen: () => status },
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

/**
 * A stall that ends is not a lag that lasts: a 1.3 s synchronous step (a big JSON.parse, terser
 * minifying a bundle in a test process beside the app) used to shed every request for up to 500 ms
 * after the loop had caught up. Turns are counted with setImmediate, not timed, so a loaded machine
 * cannot make these pass or fail.
 */
describe('load shedding after a stall', () => {
  it('sheds only the requests that waited through a one-off stall: once the loop caught up, open and new connections are served', async () => {
    const { port, shedCount } = await shedApp(1000);
    const open = await connected(port);
    const witness = await connected(port);
    await new Promise((resolve) => setTimeout(resolve, 300)); // calm samples: the stall's is not the first
    busyWait(1300);
    witness.socket.write(request('/')); // read right after the stall: it waited through it
    await loopTurns(4);
    open.socket.write(request('/'));
    const fresh = await connected(port);
    fresh.socket.write(request('/'));
    expect(statusOf(await witness.answer)).toBe(SHED);
    expect(statusOf(await open.answer)).toBe(OK);
    expect(statusOf(await fresh.answer)).toBe(OK);
    expect(await shedCount()).toBe(1);
  });

  it('judges the first sample after listen like the others: a start-up stall sheds only what waited through it', async () => {
    const { port, shedCount } = await shedApp(1000);
    const witness = opening(port);
    witness.socket.write(request('/'));
    busyWait(1600); // start-up work after listen (a module compile, a synchronous minify)
    await loopTurns(4);
    const after = await connected(port);
    after.socket.write(request('/'));
    expect(statusOf(await after.answer)).toBe(OK);
    expect(statusOf(await witness.answer)).toBe(SHED);
    expect(await shedCount()).toBe(1);
  });

  it('sheds while the lag persists: after a second stall in a row, requests the loop reads once it caught up are shed until a calm sample', async () => {
    const { port } = await shedApp(1000);
    /**
     * Two stalls with one late sample between them, then a request read four turns after the second.
     * Its status; null when a 200 came 100 ms (a sample interval) or more after the stall, as a calm
     * sample may then have run first: the process was paused (a loaded machine), try again.
     */
    const afterTwoStalls = async (): Promise<string | null> => {
      const c = await connected(port);
      await new Promise((resolve) => setTimeout(resolve, 300));
      busyWait(1300);
      await loopTurns(2); // the late sample runs (its timers phase comes before the second check phase)
      busyWait(1300); // right after it, before the loop ran calm for an interval
      const stalledUntil = performance.now();
      await loopTurns(4);
      c.socket.write(request('/'));
      const status = statusOf(await c.answer);
      return status === SHED || performance.now() - stalledUntil < 100 ? status : null;
    };
    let status: string | null = null;
    for (let attempt = 0; attempt < 3 && status === null; attempt++) status = await afterTwoStalls();
    expect(status).toBe(SHED);
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
