/**
 * Observer hooks an app passes only watch a request: one that throws, or returns a promise that
 * rejects, leaves the request's answer exactly what it is without the hook, and is reported — once at
 * first, then at most once a minute per hook (`guardObserver`), so a hook broken under load writes one
 * line, not one per request. `onSecretFallback` (both secrets), `registerHealth`'s `onPreviousToken`,
 * the metrics route's `countSecretFallback`, and a security logger's `onEvent`.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { livecomponents } from '../../src/http/plugin.js';
import { createLifecycleState, registerHealth } from '../../src/ops/health/index.js';
import { createMetrics, registerMetricsRoute } from '../../src/ops/metrics/index.js';
import { createSecurityLogger } from '../../src/ops/security-logger.js';
import type { LiveComponentsOptions } from '../../src/runtime/setup.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import type { Store } from '../../src/store/types.js';
import { openClient, testRuntime, tinyCounter, type TestClient } from '../helpers/demo.js';
import { waitUntil } from '../helpers/wait-until.js';

const servers: FastifyInstance[] = [];
const stores: Store[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

const b64 = (): string => randomBytes(32).toString('base64');
const hex = (): string => randomBytes(32).toString('hex');

const throwing = (): never => {
  throw new Error('hook broke');
};
const rejecting = (): Promise<never> => Promise.reject(new Error('hook broke later'));

/** JSON log lines written to a string array, and a pino logger writing them. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString('utf8').split('\n')) if (text !== '') lines.push(JSON.parse(text) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

/** The lines that report a failure of the hook named `name`. */
const reportsOf = (lines: readonly Record<string, unknown>[], name: string) =>
  lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith(`livecomponents: the ${name} hook failed`));

/** Calls of `console.error` whose first argument reports a failure of the hook named `name`. */
const consoleReports = (spy: { mock: { calls: unknown[][] } }, name: string) =>
  spy.mock.calls.filter((c) => typeof c[0] === 'string' && c[0].startsWith(`livecomponents: the ${name} hook failed`));

/** Instances on one store, the counter on `/`. */
function cluster() {
  const store = createMemoryStore({ sweepIntervalMs: 0 });
  stores.push(store);
  return async (settings: Partial<LiveComponentsOptions>) => {
    const runtime = await testRuntime([tinyCounter], store, settings);
    const app = Fastify();
    servers.push(app);
    await app.register(livecomponents, { runtime });
    app.get('/', async (request, reply) => {
      const view = await app.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('counter:main') }));
    });
    await app.ready();
    return app;
  };
}

/** `client`'s increment on `app`: the status and the body without its per-request fields. */
async function increment(app: FastifyInstance, client: TestClient): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/livecomponents/action',
    headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token },
    payload: JSON.stringify({ component_id: 'counter:main', action: 'inc', params: {} }),
  });
  const body = res.json() as Record<string, unknown>;
  if (typeof body.csrf_token === 'string') client.token = body.csrf_token;
  const { csrf_token: token, request_id: id, ...rest } = body;
  return { status: res.statusCode, body: { ...rest, csrf_token: typeof token, request_id: typeof id } };
}

const OK = (n: number) => ({ status: 200, body: { html: `<div data-lc-id="counter:main"><i>${n}</i></div>`, state: { n }, csrf_token: 'string', request_id: 'undefined' } });

describe.each([
  ['throws', throwing],
  ['rejects', rejecting],
] as const)('onSecretFallback that %s', (_how, hook) => {
  it('session_secret: three actions let in by the fallback answer 200 as without the hook; one report for the three', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    const [OLD, NEW, stateKeys] = [b64(), b64(), b64()];
    const instance = cluster();
    const old = await instance({ stateKeys, sessionSecret: OLD });
    const rotated = await instance({ stateKeys, sessionSecret: NEW, sessionSecretFallbacks: [OLD], onSecretFallback: hook });
    const clients = [await openClient(old), await openClient(old), await openClient(old)];
    for (const client of clients) expect(await increment(rotated, client)).toEqual(OK(1));
    await waitUntil('the hook failure report', () => consoleReports(spy, "onSecretFallback('session_secret')").length === 1);
    // Their answers' tokens are of the current secret: the hook is not called again.
    expect(await increment(rotated, clients[0] as TestClient)).toEqual(OK(2));
    const reports = consoleReports(spy, "onSecretFallback('session_secret')");
    expect(reports.length).toBe(1);
    expect(reports[0]?.[0]).toBe(
      "livecomponents: the onSecretFallback('session_secret') hook failed once since its last report; what it observed went on without it (reported at most once a minute)",
    );
    expect(spy.mock.calls.length).toBe(1);
  });

  it('state_key: an action on state sealed with the older key answers 200 as without the hook; one report', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    const [secret, oldKey, newKey] = [b64(), b64(), b64()];
    const instance = cluster();
    const old = await instance({ sessionSecret: secret, stateKeys: oldKey });
    const rotated = await instance({ sessionSecret: secret, stateKeys: `${newKey},${oldKey}`, onSecretFallback: hook });
    const [a, b] = [await openClient(old), await openClient(old)];
    expect([await increment(rotated, a), await increment(rotated, b), await increment(rotated, a)]).toEqual([OK(1), OK(1), OK(2)]);
    await waitUntil('the hook failure report', () => consoleReports(spy, "onSecretFallback('state_key')").length === 1);
    expect(spy.mock.calls.length).toBe(1);
  });
});

describe.each([
  ['throws', throwing],
  ['rejects', rejecting],
] as const)('registerHealth onPreviousToken that %s', (_how, hook) => {
  it('four /health requests with the previous token answer 200 with the output, as without the hook; one error line', async () => {
    const { lines, logger } = capturedLogger();
    const app = Fastify({ loggerInstance: logger }) as unknown as FastifyInstance;
    servers.push(app);
    const [token, previousToken] = [hex(), hex()];
    const state = createLifecycleState();
    state.startupDone = true;
    registerHealth(app, { state, checks: [{ name: 'store', check: () => Promise.resolve() }], token, previousToken, onPreviousToken: hook });
    await app.ready();
    const answers = [];
    for (let i = 0; i < 4; i++) {
      const res = await app.inject({ url: '/health', headers: { authorization: `Bearer ${previousToken}` } });
      answers.push([res.statusCode, (res.json() as { status: string }).status]);
    }
    expect(answers).toEqual([
      [200, 'pass'],
      [200, 'pass'],
      [200, 'pass'],
      [200, 'pass'],
    ]);
    await waitUntil('the hook failure line', () => reportsOf(lines, 'onPreviousToken').length === 1);
    expect(lines.filter((l) => (l.level as number) >= 50).length).toBe(1);
    expect((reportsOf(lines, 'onPreviousToken')[0]?.err as { message: string }).message).toMatch(/^hook broke/);
  });
});

describe('the metrics route with a countSecretFallback that throws', () => {
  it('three scrapes with the previous token answer 200 with the exposition; one error line', async () => {
    const { lines, logger } = capturedLogger();
    const app = Fastify({ loggerInstance: logger }) as unknown as FastifyInstance;
    servers.push(app);
    const metrics = createMetrics({ defaultMetrics: false });
    const [token, previousToken] = [hex(), hex()];
    await registerMetricsRoute(app, { metrics: { render: metrics.render, contentType: metrics.contentType, countSecretFallback: throwing }, token, previousToken });
    await app.ready();
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${previousToken}` } })).statusCode);
    expect(statuses).toEqual([200, 200, 200]);
    expect(reportsOf(lines, 'countSecretFallback').length).toBe(1);
    expect(lines.filter((l) => (l.level as number) >= 50).length).toBe(1);
  });
});

describe.each([
  ['throws', throwing],
  ['rejects', rejecting],
] as const)("a security logger's onEvent that %s", (_how, hook) => {
  it('three actions with a forged token answer 403 CSRF_TOKEN_INVALID as without the hook; three events, one report', async () => {
    const { lines, logger } = capturedLogger();
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    stores.push(store);
    const events = createSecurityLogger({ logger, onEvent: hook });
    const app = await cluster()({ events });
    const client = await openClient(app);
    client.token = `v1.${'A'.repeat(client.token.length - 3)}`;
    const answers = [await increment(app, client), await increment(app, client), await increment(app, client)];
    const refused = { status: 403, body: { error: expect.any(String) as string, code: 'CSRF_TOKEN_INVALID', csrf_token: 'undefined', request_id: 'string' } };
    expect(answers).toEqual([refused, refused, refused]);
    await waitUntil('the hook failure line', () => reportsOf(lines, 'onEvent').length === 1);
    expect(lines.filter((l) => l.event === 'malicious_csrf').length).toBe(3);
    expect(lines.filter((l) => (l.level as number) >= 50).length).toBe(1);
  });
});
