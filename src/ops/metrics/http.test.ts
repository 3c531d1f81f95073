import { request as httpRequest } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { serverOptions } from '../../http/server-options.js';
import { createMetrics, registerHttpMetrics, type Metrics } from './index.js';
import { rawExchange as rawAnswer, statusLineOf } from '../../../test/helpers/raw-http.js';
import { waitUntil } from '../../../test/helpers/wait-until.js';
import { httpSamples } from '../../../test/helpers/metrics-samples.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function listen(app: FastifyInstance): Promise<number> {
  apps.push(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.server.address() as { port: number }).port;
}

/** Sends `bytes` on a fresh connection; resolves the status line once the server closed it. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return rawAnswer(port, bytes).then(statusLineOf);
}

describe('a client that hangs up before the answer', () => {
  /** An app whose `/work` routes wait at a gate once they have the request (body included). */
  function gatedApp(metrics: Metrics) {
    const app = Fastify();
    registerHttpMetrics(app, metrics);
    const started = deferred();
    const gate = deferred();
    const finished = deferred();
    const handler = async (): Promise<{ ok: boolean }> => {
      started.resolve();
      await gate.promise;
      setImmediate(finished.resolve);
      return { ok: true };
    };
    app.post('/work', handler);
    app.get('/work', handler);
    return { app, started, gate, finished };
  }

  it.each([
    ['a POST whose body was read (onRequestAbort never fires for it)', 'POST'],
    ['a GET', 'GET'],
  ])('%s is counted once, as 499, and not again when the app answers later', async (_name, method) => {
    const metrics = createMetrics({ defaultMetrics: false });
    const { app, started, gate, finished } = gatedApp(metrics);
    const port = await listen(app);
    const req = httpRequest({ host: '127.0.0.1', port, path: '/work', method, agent: false, headers: { 'content-type': 'application/json' } });
    req.on('error', () => undefined);
    req.end(method === 'POST' ? '{"email":"a@example.com"}' : undefined);
    await started.promise;
    req.destroy();
    await waitUntil('the abort to be counted', async () => Object.keys((await httpSamples(metrics)).requests).length > 0);
    gate.resolve();
    await finished.promise;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await httpSamples(metrics)).toEqual({ requests: { [`${method} /work 499`]: 1 }, timed: { [`${method} /work 499`]: 1 } });
  });

  it('an answer is counted once with its status, over a socket and through inject, even when onResponse runs late', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const app = Fastify();
    // An async onResponse hook before the metrics' one: the response's close comes before it.
    app.addHook('onResponse', async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
    });
    registerHttpMetrics(app, metrics);
    app.get('/ok', async () => ({ ok: true }));
    const port = await listen(app);
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        httpRequest({ host: '127.0.0.1', port, path: '/ok', agent: false }, (res) => res.resume().on('end', resolve)).on('error', reject).end();
      });
    }
    await app.inject('/ok');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(await httpSamples(metrics)).toEqual({ requests: { 'GET /ok 200': 4 }, timed: { 'GET /ok 200': 4 } });
  });
});

describe('requests refused before routing (serverOptions)', () => {
  function refusingApp(metrics: Metrics | null, requestTimeoutMs?: number): FastifyInstance {
    const app = Fastify(serverOptions({ requestTimeoutMs }));
    if (metrics !== null) registerHttpMetrics(app, metrics);
    app.post('/echo', async (request) => request.body);
    app.get('/echo', async () => 'ok');
    return app;
  }

  it('counts each refusal once as `unmatched`, with the status answered and no label from the request', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const port = await listen(refusingApp(metrics));
    expect(await rawExchange(port, 'GET /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect(await rawExchange(port, 'GET /api/v1/auth/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect(await rawExchange(port, 'FOO / HTTP/1.1\r\nHost: x\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect(await rawExchange(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect(await rawExchange(port, `GET /echo HTTP/1.1\r\nHost: x\r\nCookie: big=${'a'.repeat(20_000)}\r\n\r\n`)).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect((await httpSamples(metrics)).requests).toEqual({ 'GET unmatched 400': 2, 'OTHER unmatched 400': 2, 'OTHER unmatched 431': 1 });
    const text = await metrics.render();
    expect(text).not.toMatch(/%zz|%E0|FOO|1x|aaaa/);
  });

  it('counts a request timeout once, whether the headers or the body never finished', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const port = await listen(refusingApp(metrics, 300));
    expect(await rawExchange(port, 'GET /echo HTTP/1.1\r\nHost: x\r\n')).toBe('HTTP/1.1 408 Request Timeout');
    // The app already has this one (headers complete) and never answers it: the refusal is its answer.
    expect(await rawExchange(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":')).toBe(
      'HTTP/1.1 408 Request Timeout',
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await httpSamples(metrics)).requests).toEqual({ 'OTHER unmatched 408': 2 });
  });

  it('tells each app only of its own refusals, and needs no metrics', async () => {
    const a = createMetrics({ defaultMetrics: false });
    const b = createMetrics({ defaultMetrics: false });
    const portA = await listen(refusingApp(a));
    await listen(refusingApp(b));
    const portBare = await listen(refusingApp(null));
    expect(await rawExchange(portA, 'GET /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect(await rawExchange(portA, 'FOO / HTTP/1.1\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect(await rawExchange(portBare, 'FOO / HTTP/1.1\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect((await httpSamples(a)).requests).toEqual({ 'GET unmatched 400': 1, 'OTHER unmatched 400': 1 });
    expect((await httpSamples(b)).requests).toEqual({});
  });
});
