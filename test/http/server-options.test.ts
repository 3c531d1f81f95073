/**
 * serverOptions() caps the connections the server holds open, below the process's open-files limit,
 * so a flood of idle sockets cannot take the file handles the database, Redis and the logs need
 * (~20,000 idle sockets used to exhaust the process's open files).
 */
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { Server as HttpsServer } from 'node:https';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultMaxConnections, FALLBACK_MAX_CONNECTIONS, openFilesLimit, serverOptions } from '../../src/http/server-options.js';
import { rawExchange, statusLineOf } from '../helpers/raw-http.js';
import { createMetrics, METRIC_NAMES, registerHttpMetrics } from '../../src/ops/metrics/index.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max processes             63704                63704                processes
Max open files            20000                524288               files
Max locked memory         8388608              8388608              bytes
`;

describe('the default cap', () => {
  it('reads the soft limit of "Max open files"; null when unlimited or absent', () => {
    expect(openFilesLimit(LIMITS)).toBe(20_000);
    expect(openFilesLimit(LIMITS.replace('Max open files            20000', 'Max open files            unlimited'))).toBeNull();
    expect(openFilesLimit('Max processes 10 10 processes\n')).toBeNull();
    expect(openFilesLimit('')).toBeNull();
  });

  it('leaves a tenth of the limit (at least 256, at most half) to everything else; 8192 when the limit is unknown', () => {
    const caps = [1024, 20_000, 65_536, 1_048_576, 2000, 400, 256, 3, 1].map((n) => [n, defaultMaxConnections(n)]);
    expect(caps).toEqual([
      [1024, 768],
      [20_000, 18_000],
      [65_536, 58_982],
      [1_048_576, 943_718],
      [2000, 1744],
      [400, 200],
      [256, 128],
      [3, 2],
      [1, 1],
    ]);
    expect(defaultMaxConnections(null)).toBe(FALLBACK_MAX_CONNECTIONS);
    expect(FALLBACK_MAX_CONNECTIONS).toBe(8192);
  });

  it("applies it to the app's Node server, below this process's open-files limit", async () => {
    const app = Fastify(serverOptions());
    try {
      const soft = process.platform === 'linux' ? Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'latin1'))?.[1]) : null;
      expect(app.server.maxConnections).toBe(defaultMaxConnections(soft !== null && Number.isFinite(soft) ? soft : null));
      if (soft !== null && Number.isFinite(soft)) expect(app.server.maxConnections).toBeLessThan(soft);
    } finally {
      await app.close();
    }
  });

  it('is overridable, and refuses a cap that is not a positive whole number', async () => {
    const app = Fastify(serverOptions({ maxConnections: 5 }));
    expect(app.server.maxConnections).toBe(5);
    await app.close();
    for (const maxConnections of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10' as unknown as number]) {
      expect(() => serverOptions({ maxConnections }), String(maxConnections)).toThrow(TypeError);
    }
  });

  it("builds the server as Fastify does otherwise (same timeouts and parser settings), only capped", async () => {
    const options = serverOptions({ requestTimeoutMs: 5000 });
    const { serverFactory, ...rest } = options;
    expect(typeof serverFactory).toBe('function');
    const ours = Fastify(options);
    const fastifys = Fastify(rest);
    try {
      for (const key of ['keepAliveTimeout', 'requestTimeout', 'headersTimeout', 'timeout', 'maxRequestsPerSocket', 'maxHeadersCount'] as const) {
        expect(ours.server[key], key).toBe(fastifys.server[key]);
      }
      expect([ours.server.keepAliveTimeout, ours.server.requestTimeout, ours.server.headersTimeout]).toEqual([72_000, 5000, 5000]);
    } finally {
      await Promise.all([ours.close(), fastifys.close()]);
    }
  });
});

describe('with TLS asked for', () => {
  it('builds an HTTPS server (capped) when https is given, and refuses http2 rather than serve plain HTTP', async () => {
    // Fastify ignores `https` once a server factory is given: without this, plain HTTP, silently.
    // (The types of serverOptions() refuse `https`; plain JavaScript, or a cast, gets here.)
    const app = Fastify({ ...serverOptions({ maxConnections: 7 }), https: {} } as never) as unknown as FastifyInstance;
    try {
      expect(app.server).toBeInstanceOf(HttpsServer);
      expect([app.server.maxConnections, app.server.requestTimeout]).toEqual([7, 60_000]);
    } finally {
      await app.close();
    }
    const plain = Fastify(serverOptions());
    expect(plain.server).not.toBeInstanceOf(HttpsServer);
    await plain.close();
    expect(() => Fastify({ ...serverOptions(), http2: true } as never)).toThrow(/http2 is not supported/);
  });
});

describe('past the cap', () => {
  const apps: FastifyInstance[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  /** A connection holding a request that never finishes its headers. */
  function idle(port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1' }, () => {
        socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
        resolve(socket);
      });
      socket.on('error', reject);
      sockets.push(socket);
    });
  }

  async function openConnections(app: FastifyInstance): Promise<number> {
    return new Promise((resolve, reject) => app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
  }

  it('a new connection is closed unanswered while the cap is held, and served again once one closes', async () => {
    const app = Fastify(serverOptions({ maxConnections: 3 }));
    const metrics = createMetrics({ defaultMetrics: false });
    registerHttpMetrics(app, metrics);
    const droppedMetric = async (): Promise<number | undefined> =>
      (await metrics.registry.getSingleMetric(METRIC_NAMES.connectionsDropped)!.get()).values[0]?.value;
    app.get('/', async () => 'ok');
    apps.push(app);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    const held = [await idle(port), await idle(port), await idle(port)];
    for (let i = 0; i < 100 && (await openConnections(app)) < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await openConnections(app)).toBe(3);

    const dropped: number[] = [];
    app.server.on('drop', () => dropped.push(1));
    // Closed as soon as accepted: the client sees the end of the connection (or a reset), no answer.
    const refused = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').catch((error: NodeJS.ErrnoException) => `[${error.code}]`);
    expect(['', '[ECONNRESET]']).toContain(refused);
    expect(dropped).toHaveLength(1);
    expect(await droppedMetric()).toBe(1); // counted: no request was formed, so no hook saw it

    held[0]!.destroy();
    for (let i = 0; i < 100 && (await openConnections(app)) > 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(statusLineOf(await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))).toBe('HTTP/1.1 200 OK');
  });
});

describe('a request that reaches a closing server', () => {
  it("is answered by the app in PROTOCOL's shape, not by Fastify's bare 503 without code or request_id", async () => {
    const app = Fastify(serverOptions());
    let releaseSlow = (): void => undefined;
    app.get('/slow', () => new Promise<string>((resolve) => (releaseSlow = () => resolve('slow done'))));
    app.get('/fast', () => 'fast done');
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    const socket = connect({ port, host: '127.0.0.1' });
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    const ended = new Promise((resolve) => socket.on('close', resolve));
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    // A request in flight keeps its connection open through close(); the next one on that
    // connection arrives while the app is closing (a shutdown's close, after its drain).
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await pause(100);
    const closing = app.close();
    await pause(50);
    socket.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    await pause(50);
    releaseSlow();
    await ended;
    await closing;
    expect(received.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
    expect(received).toContain('fast done');
    // Served, and told to go: the connection closes after it.
    expect(received.split('fast done')[0]?.toLowerCase()).toContain('connection: close');
  });
});
