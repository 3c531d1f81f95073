import { EventEmitter } from 'node:events';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLifecycleState } from '../health/lifecycle.js';
import { installGracefulShutdown, type GracefulShutdown, type GracefulShutdownOptions } from './index.js';

interface Harness {
  app: FastifyInstance;
  handle: GracefulShutdown;
  port: number;
  signals: EventEmitter;
  exits: number[];
  exited: Promise<number>;
  logs: { level: string; msg: string }[];
  state: ReturnType<typeof createLifecycleState>;
  /** Resolves the request parked in GET /slow. */
  releaseSlow: () => void;
  slowEntered: Promise<void>;
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((f) => f()));
});

async function harness(options: Partial<GracefulShutdownOptions> = {}, setup: (app: FastifyInstance) => void = () => undefined): Promise<Harness> {
  const app = Fastify();
  setup(app);
  const state = createLifecycleState();
  const signals = new EventEmitter();
  const exits: number[] = [];
  let onExit = (_code: number): void => undefined;
  const exited = new Promise<number>((resolve) => (onExit = resolve));
  const logs: { level: string; msg: string }[] = [];
  const log = (level: string) => (a: unknown, b?: string) => void logs.push({ level, msg: typeof a === 'string' ? a : (b ?? '') });
  let releaseSlow = (): void => undefined;
  let entered = (): void => undefined;
  const slowEntered = new Promise<void>((resolve) => (entered = resolve));
  app.get('/slow', async () => {
    entered();
    await new Promise<void>((resolve) => (releaseSlow = resolve));
    return { done: true };
  });
  app.get('/fast', async () => ({ fast: true }));
  const handle = installGracefulShutdown(app, {
    state,
    signalSource: signals as unknown as NodeJS.Process,
    exit: (code) => {
      exits.push(code);
      onExit(code);
    },
    logger: { info: log('info'), warn: log('warn'), error: log('error') } as never,
    ...options,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  cleanup.push(() => app.close());
  const port = (app.server.address() as AddressInfo).port;
  return { app, handle, port, signals, exits, exited, logs, state, releaseSlow: () => releaseSlow(), slowEntered };
}

function get(port: number, path: string, agent: Agent | false = false): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('installGracefulShutdown', () => {
  it('on SIGTERM: readiness flag at once, the in-flight request finishes, hooks run in order, exit 0', async () => {
    const order: string[] = [];
    const h = await harness({ onClose: async () => void order.push('onClose option') }, (app) =>
      app.addHook('onClose', async () => void order.push('app onClose hook')),
    );
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(async () => agent.destroy());
    const inFlight = get(h.port, '/slow', agent);
    await h.slowEntered;

    h.signals.emit('SIGTERM');
    expect(h.state.shuttingDown).toBe(true);
    h.releaseSlow();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.body).toBe('{"done":true}');
    // Keep-alive clients are told to go: the connection closes after this response.
    expect(res.headers.connection).toBe('close');

    expect(await h.exited).toBe(0);
    expect(h.exits).toEqual([0]);
    expect(order).toEqual(['app onClose hook', 'onClose option']);
    expect(h.app.server.listening).toBe(false);
    expect(h.logs.map((l) => l.msg)).toEqual(['shutdown: readiness is now 503, draining', 'shutdown: complete']);
  });

  it('treats SIGINT the same, and ignores a second signal while shutting down', async () => {
    const h = await harness();
    h.signals.emit('SIGINT');
    h.signals.emit('SIGINT');
    h.signals.emit('SIGTERM');
    expect(await h.exited).toBe(0);
    expect(h.exits).toEqual([0]);
    expect(h.logs.filter((l) => l.msg === 'shutdown: already in progress')).toHaveLength(2);
  });

  it('serves requests that arrive during the drain, each on a connection it then closes', async () => {
    const h = await harness({ drainMs: 5_000, graceMs: 10_000 });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(async () => agent.destroy());
    // Hold a connection open (idle keep-alive), so the drain waits for it.
    expect((await get(h.port, '/fast', agent)).headers.connection).toBe('keep-alive');
    h.signals.emit('SIGTERM');
    const during = await get(h.port, '/fast', agent);
    expect(during.status).toBe(200);
    expect(during.headers.connection).toBe('close');
    // That closed the last connection: the drain ends without waiting out its 5 s.
    expect(await h.exited).toBe(0);
    expect(h.logs.some((l) => l.level === 'warn')).toBe(false);
  });

  it('closes connections still idle when the drain time is up', async () => {
    const h = await harness({ drainMs: 30, graceMs: 10_000 });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(async () => agent.destroy());
    await get(h.port, '/fast', agent);
    h.signals.emit('SIGTERM');
    expect(await h.exited).toBe(0);
    expect(h.logs.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual(['shutdown: idle connections left after the drain; closing them']);
  });

  it('exits 1 when the grace period runs out, and only once', async () => {
    let finishClose = (): void => undefined;
    const h = await harness({ graceMs: 40, drainMs: 10, onClose: () => new Promise<void>((resolve) => (finishClose = resolve)) });
    h.signals.emit('SIGTERM');
    expect(await h.exited).toBe(1);
    finishClose();
    await new Promise((resolve) => setImmediate(resolve));
    expect(h.exits).toEqual([1]);
    expect(h.logs.some((l) => l.level === 'error' && l.msg.startsWith('shutdown: grace period over'))).toBe(true);
  });

  it('flushes the logs last, after the outcome is logged, then exits 0', async () => {
    const order: string[] = [];
    const h = await harness({
      onClose: async () => void order.push('onClose'),
      flushLogs: async () => void order.push(`flushLogs after "${h.logs.at(-1)?.msg}"`),
    });
    h.signals.emit('SIGTERM');
    expect(await h.exited).toBe(0);
    expect(order).toEqual(['onClose', 'flushLogs after "shutdown: complete"']);
  });

  // No timed assertion: the timers are fake, so the grace period runs out when the test moves them,
  // and the exit is seen not to come a millisecond before it.
  it('exits 1 once the grace period runs out during the log flush, and only once', async () => {
    let finishFlush = (): void => undefined;
    let flushing = false;
    const h = await harness({ graceMs: 60, drainMs: 10, flushLogs: () => new Promise<void>((resolve) => ((flushing = true), (finishFlush = resolve))) });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      h.signals.emit('SIGTERM');
      await vi.advanceTimersByTimeAsync(59);
      while (!flushing) await new Promise((resolve) => setImmediate(resolve));
      expect(h.exits).toEqual([]); // the log flush still runs, within the grace period
      await vi.advanceTimersByTimeAsync(1);
      expect(await h.exited).toBe(1);
    } finally {
      vi.useRealTimers();
    }
    finishFlush();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(h.exits).toEqual([1]);
    expect(h.logs.map((l) => l.msg)).toEqual([
      'shutdown: readiness is now 503, draining',
      'shutdown: complete',
      'shutdown: grace period over, exiting with requests or resources still open',
    ]);
  });

  it('exits 1 when flushing the logs fails', async () => {
    const h = await harness({ flushLogs: () => Promise.reject(new Error('collector gone')) });
    h.signals.emit('SIGTERM');
    expect(await h.exited).toBe(1);
    expect(h.exits).toEqual([1]);
    expect(h.logs.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['shutdown: flushing the logs failed']);
  });

  it('exits 1 when closing fails', async () => {
    const h = await harness({ onClose: () => Promise.reject(new Error('flush failed')) });
    h.signals.emit('SIGTERM');
    expect(await h.exited).toBe(1);
    expect(h.exits).toEqual([1]);
    expect(h.logs.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['shutdown: failed']);
  });

  it('shutdown() starts it without a signal and is idempotent', async () => {
    const h = await harness();
    const first = h.handle.shutdown('deploy');
    expect(h.handle.shutdown('again')).toBe(first);
    expect(h.state.shuttingDown).toBe(true);
    await first;
    expect(h.exits).toEqual([0]);
  });

  it('uninstall() removes the signal handlers', async () => {
    const app = Fastify();
    const signals = new EventEmitter();
    const handle = installGracefulShutdown(app, { state: createLifecycleState(), signalSource: signals as unknown as NodeJS.Process, exit: () => undefined });
    expect([signals.listenerCount('SIGTERM'), signals.listenerCount('SIGINT')]).toEqual([1, 1]);
    handle.uninstall();
    expect([signals.listenerCount('SIGTERM'), signals.listenerCount('SIGINT')]).toEqual([0, 0]);
    await app.close();
  });

  it('takes graceMs 2 and 3 with the default drainMs (1 ms: half the grace, at least a timer\'s shortest wait)', async () => {
    for (const graceMs of [2, 3]) {
      const app = Fastify();
      const handle = installGracefulShutdown(app, { state: createLifecycleState(), graceMs, signalSource: new EventEmitter() as unknown as NodeJS.Process, exit: () => undefined });
      handle.uninstall();
      await app.close();
    }
  });

  it.each([
    [{ graceMs: 0 }, /graceMs must be a positive number/],
    [{ graceMs: 100, drainMs: 100 }, /drainMs \(100\) must be below graceMs \(100\)/],
    // The default drainMs (half the grace) is a timer's delay too: at least 1 ms, so graceMs 1 has no room.
    [{ graceMs: 1 }, /graceMs \(1\) must be at least 2 ms: drainMs, the part of it spent draining, waits at least 1 ms/],
    [{ drainMs: -5 }, /drainMs must be a positive number/],
    // Node fires a longer timer after 1 ms: graceMs 2^31 exited 1 at once.
    [{ graceMs: 2 ** 31 }, /graceMs must be at most 2147483647 ms/],
    [{ graceMs: 2 ** 31 - 1, drainMs: 2 ** 31 }, /drainMs must be at most 2147483647 ms/],
    [{ signals: [] }, /signals must be a non-empty array/],
    [{ onClose: 'nope' }, /onClose must be a function/],
    [{ flushLogs: 'nope' }, /flushLogs must be a function/],
    [{ state: undefined }, /state must be a LifecycleState/],
  ])('refuses %j with LC_INVALID_OPTION', async (extra, message) => {
    const app = Fastify();
    const attempt = () => installGracefulShutdown(app, { state: createLifecycleState(), exit: () => undefined, ...(extra as object) });
    expect(attempt).toThrow(message);
    expect(attempt).toThrow(expect.objectContaining({ code: 'LC_INVALID_OPTION' }));
    await app.close();
  });

  it('with the longest grace a timer can wait (2^31 − 1 ms), a shutdown completes and exits 0', async () => {
    const h = await harness({ graceMs: 2 ** 31 - 1, onClose: () => new Promise<void>((resolve) => setTimeout(resolve, 30)) });
    await h.handle.shutdown('test');
    expect(h.exits).toEqual([0]);
    expect(h.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('refuses to install on an app that is already listening', async () => {
    const app = Fastify();
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanup.push(() => app.close());
    expect(() => installGracefulShutdown(app, { state: createLifecycleState(), exit: () => undefined })).toThrow(/before app\.listen\(\)/);
  });
});
