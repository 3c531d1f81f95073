/**
 * The reference app's operations wiring end to end: real traffic through the pipeline, then the
 * scrape — action, HTTP and security-event series with exact counts, promtool-clean output, and the
 * health probes backed by the real store and SQL database.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createDemoApp, type DemoAppOptions } from '../../examples/demo/app.js';
import { createPasswordHasher, type PasswordHasher } from '../../src/auth/password.js';
import { loadConfig } from '../../src/ops/config.js';
import { createLifecycleState } from '../../src/ops/health/index.js';
import { closeLogger, createLogger, droppedLogRecords } from '../../src/ops/logging/index.js';
import { openClient } from '../helpers/demo.js';
import { capture } from '../logging/capture.js';
import { promtoolAvailability, promtoolCheck } from './promtool.js';
import { rawExchange as rawAnswer, statusLineOf } from '../helpers/raw-http.js';
import { waitUntil } from '../helpers/wait-until.js';

const METRICS_TOKEN = 'scrape-token-0123456789abcdef';
const HEALTH_TOKEN = 'health-token-0123456789abcdef';
const scrape = { authorization: `Bearer ${METRICS_TOKEN}` };

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function opsApp(env: Record<string, string> = {}, auth: DemoAppOptions['auth'] = {}, loggerInstance?: DemoAppOptions['loggerInstance']) {
  const dataDir = mkdtempSync(join(tmpdir(), 'lc-ops-'));
  const config = loadConfig({
    LC_STATE_KEYS: randomBytes(32).toString('base64'),
    LC_SESSION_SECRET: randomBytes(32).toString('base64'),
    DATABASE_URL: `sqlite:${join(dataDir, 'ops.db')}`,
    METRICS_TOKEN,
    HEALTH_TOKEN,
    ...env,
  });
  const lifecycle = createLifecycleState();
  // No `events` override: the app's own security logger feeds the counters, as in production.
  const app = await createDemoApp({ config, lifecycle, framework: { dataDir }, auth, loggerInstance });
  apps.push(app);
  return { app, lifecycle };
}

describe('reference app metrics', () => {
  it('counts real traffic with exact values and bounded labels', async () => {
    const { app } = await opsApp();
    await app.ready();
    const client = await openClient(app, '/');
    expect((await client.action('counter:main', 'increment')).statusCode).toBe(200);
    expect((await client.action('counter:main', 'increment')).statusCode).toBe(200);
    const forged = await client.action('counter:main', 'increment', {}, { headers: { 'x-csrf-token': 'forged' } });
    expect(forged.statusCode).toBe(403);
    expect((await app.inject('/no/such/page/user-1234')).statusCode).toBe(404);

    const res = await app.inject({ url: '/metrics', headers: scrape });
    expect(res.statusCode).toBe(200);
    const text = res.body;
    const lines = [
      'livecomponents_actions_total{component="counter",action="increment",outcome="ok"} 2',
      'livecomponents_actions_total{component="counter",action="increment",outcome="CSRF_TOKEN_INVALID"} 1',
      'livecomponents_action_duration_seconds_count{component="counter",action="increment",outcome="ok"} 2',
      'livecomponents_security_events_total{event="malicious_csrf"} 1',
      'livecomponents_security_events_total{event="excess_rate_limit_exceeded"} 0',
      'livecomponents_auth_events_total{event="authn_login_fail"} 0',
      'http_requests_total{method="GET",route="/",status_code="200"} 1',
      'http_requests_total{method="POST",route="/api/livecomponents/action",status_code="200"} 2',
      'http_requests_total{method="POST",route="/api/livecomponents/action",status_code="403"} 1',
      'http_requests_total{method="GET",route="unmatched",status_code="404"} 1',
    ];
    for (const line of lines) expect(text).toContain(`${line}\n`);
    expect(text.match(/^livecomponents_actions_total\{/gm)).toHaveLength(2);
    expect(text).not.toContain('user-1234');
    expect(text).toContain('# TYPE process_cpu_seconds_total counter');
  });

  it('passes promtool check metrics after traffic', async (ctx) => {
    const promtool = promtoolAvailability();
    if (promtool.state === 'fail') throw new Error(promtool.reason);
    if (promtool.state === 'skip') {
      console.warn(`\n⚠️  SKIPPED promtool check of /metrics: ${promtool.reason}. It runs (and must pass) in CI.\n`);
      ctx.skip();
    }
    const { app } = await opsApp();
    const client = await openClient(app, '/orders');
    expect((await client.action('order:main', 'createOrder', { item: 'book' }, { headers: { 'idempotency-key': 'k-1' } })).statusCode).toBe(200);
    expect((await client.action('order:main', 'createOrder', { item: '' })).statusCode).toBe(400);
    const text = (await app.inject({ url: '/metrics', headers: scrape })).body;
    expect(text).toContain('outcome="VALIDATION_FAILED"} 1\n');
    expect(promtoolCheck(text)).toEqual({ status: 0, output: '' });
  });

  it('requires METRICS_TOKEN on /metrics, and moves it off the app with METRICS_PORT', async () => {
    const { app } = await opsApp();
    const refused = await app.inject('/metrics');
    expect(refused.statusCode).toBe(401);
    expect(refused.json().code).toBe('INVALID_TOKEN');
    const { app: separate } = await opsApp({ METRICS_PORT: '0' });
    expect((await separate.inject({ url: '/metrics', headers: scrape })).statusCode).toBe(404);
  });
});

describe('reference app: refused operations tokens', () => {
  it('logs and counts exactly one authz_fail per refused /metrics or /health token, never the token', async () => {
    const out = capture();
    const logger = createLogger({ format: 'json', stream: out });
    const { app } = await opsApp({}, {}, logger);
    await app.ready();
    const guess = 'Bearer guess-0123456789abcdef';
    const before = await counters(app);
    expect((await app.inject({ url: '/metrics', headers: { authorization: guess } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/health/ready', headers: { authorization: guess } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/health', headers: { authorization: `Bearer ${HEALTH_TOKEN}` } })).statusCode).toBe(200);
    expect((await app.inject('/health/ready')).statusCode).toBe(200);
    expect(deltas(before, await counters(app))).toEqual({
      'http_requests_total{method="GET",route="/health/ready",status_code="401"}': 1,
      'http_requests_total{method="GET",route="/health/ready",status_code="200"}': 1,
      'http_requests_total{method="GET",route="/health",status_code="200"}': 1,
    });
    expect((await app.inject({ url: '/metrics', headers: scrape })).body).toContain('livecomponents_security_events_total{event="authz_fail"} 2\n');
    const events = out.records().filter((r) => r.security_event === true);
    expect(events.map((r) => [r.event, r.event_level, r.request_uri, r.description])).toEqual([
      ['authz_fail', 'WARN', '/metrics', 'METRICS_TOKEN check refused the request: wrong or malformed bearer token'],
      ['authz_fail', 'WARN', '/health/ready', 'HEALTH_TOKEN check refused the request: wrong or malformed bearer token'],
    ]);
    expect(out.text()).not.toContain('guess-0123456789abcdef');
  });

  it('logs nothing for a wrong token when no token is configured', async () => {
    const out = capture();
    const { app } = await opsApp({ METRICS_TOKEN: '', HEALTH_TOKEN: '' }, {}, createLogger({ format: 'json', stream: out }));
    await app.ready();
    expect((await app.inject({ url: '/metrics', headers: { authorization: 'Bearer guess-0123456789abcdef' } })).statusCode).toBe(200);
    expect((await app.inject({ url: '/health', headers: { authorization: 'Bearer guess-0123456789abcdef' } })).statusCode).toBe(200);
    expect(out.records().filter((r) => r.security_event === true)).toEqual([]);
  });
});

describe('reference app metrics: the log destination', () => {
  it('counts the log records a failing destination dropped, exactly', async () => {
    const notADir = join(mkdtempSync(join(tmpdir(), 'lc-ops-log-')), 'plain-file');
    writeFileSync(notADir, '');
    const errors: Error[] = [];
    // warn: request lines (info) stay out, so the count is exactly the lines written below.
    const logger = createLogger({ destination: `file:${join(notADir, 'app.log')}`, level: 'warn', onError: (e) => errors.push(e) });
    const { app } = await opsApp({}, {}, logger);
    await app.ready();
    app.log.warn('reaches the failing writer');
    await waitUntil('the first error', () => errors.length > 0);
    const value = async (): Promise<number> =>
      Number(/^livecomponents_log_records_dropped_total (\d+)$/m.exec((await app.inject({ url: '/metrics', headers: scrape })).body)?.[1]);
    const before = await value();
    expect(before).toBe(droppedLogRecords(logger));
    for (let i = 0; i < 4; i++) app.log.error(`lost ${i}`);
    expect(await value()).toBe(before + 4);
    await app.close();
    apps.pop();
    await closeLogger(logger);
  });
});

/** The value of each `http_requests_total` / auth-event sample of a scrape, keyed by its line's labels. */
async function counters(app: FastifyInstance): Promise<Map<string, number>> {
  const text = (await app.inject({ url: '/metrics', headers: scrape })).body;
  const samples = text.split('\n').filter((l) => /^(http_requests_total|livecomponents_auth_events_total)\{/.test(l));
  return new Map(samples.map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
}

/** What changed between two scrapes (the second scrape's own request left out). */
function deltas(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const changed = [...after].filter(([k, v]) => v !== (before.get(k) ?? 0) && !k.includes('route="/metrics"'));
  return Object.fromEntries(changed.map(([k, v]) => [k, v - (before.get(k) ?? 0)]));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function listening(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.server.address() as { port: number }).port;
}

/** Sends `bytes` on a fresh connection; resolves the status line once the server closed it. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return rawAnswer(port, bytes).then(statusLineOf);
}

describe('reference app metrics: requests that get no ordinary answer', () => {
  it('counts a sign-in whose client hung up during the password check once, as 499', async () => {
    // The password check of an unknown email waits at a gate: the request is read, the app is working.
    const fast = createPasswordHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 });
    const checking = deferred();
    const gate = deferred();
    const hasher: PasswordHasher = {
      params: fast.params,
      hash: (password) => fast.hash(password),
      verify: (stored, password) => fast.verify(stored, password),
      async verifyDummy(password) {
        checking.resolve();
        await gate.promise;
        return fast.verifyDummy(password);
      },
    };
    const { app } = await opsApp({}, { hasher });
    const port = await listening(app);
    const before = await counters(app);
    const login = httpRequest({ host: '127.0.0.1', port, path: '/api/v1/auth/login', method: 'POST', agent: false, headers: { 'content-type': 'application/json' } });
    login.on('error', () => undefined);
    login.end(JSON.stringify({ email: 'nobody@example.com', password: 'wrong password, long enough' }));
    await checking.promise;
    login.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    gate.resolve();
    // Fully processed: the failed sign-in is logged (and counted) after the client left.
    for (let i = 0; i < 200 && (await counters(app)).get('livecomponents_auth_events_total{event="authn_login_fail"}') !== 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(deltas(before, await counters(app))).toEqual({
      'http_requests_total{method="POST",route="/api/v1/auth/login",status_code="499"}': 1,
      'livecomponents_auth_events_total{event="authn_login_fail"}': 1,
    });
  });

  it("counts the URLs the router refuses and the requests Node's parser refuses, under route unmatched", async () => {
    const { app } = await opsApp();
    const port = await listening(app);
    const before = await counters(app);
    const refused = [
      ['GET /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400],
      ['GET /api/v1/auth/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400],
      ['FOO / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
      ['POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 12, 13\r\n\r\n', 400],
      [`GET / HTTP/1.1\r\nHost: x\r\nCookie: big=${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ] as const;
    for (const [bytes, status] of refused) expect(await rawExchange(port, bytes)).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    const after = await counters(app);
    expect(deltas(before, after)).toEqual({
      'http_requests_total{method="GET",route="unmatched",status_code="400"}': 2,
      'http_requests_total{method="OTHER",route="unmatched",status_code="400"}': 2,
      'http_requests_total{method="OTHER",route="unmatched",status_code="431"}': 1,
    });
    expect([...after.keys()].join('\n')).not.toMatch(/%zz|%E0|FOO|aaaa/);
  });
});

describe('reference app health', () => {
  it('marks start-up done on ready, and checks the real store and SQL database', async () => {
    const { app, lifecycle } = await opsApp();
    expect(lifecycle.startupDone).toBe(false);
    await app.ready();
    expect(lifecycle.startupDone).toBe(true);
    expect((await app.inject('/health/startup')).statusCode).toBe(200);
    const ready = await app.inject('/health/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.headers['set-cookie']).toBeUndefined();
    const doc = (await app.inject('/health')).json();
    expect(doc.status).toBe('pass');
    expect(Object.keys(doc.checks)).toEqual(['store:responsiveness', 'sql:responsiveness']);
    lifecycle.shuttingDown = true;
    expect((await app.inject('/health/ready')).statusCode).toBe(503);
    expect((await app.inject('/health/live')).statusCode).toBe(200);
  });

  it('fails readiness with the error text for the token holder once the database is gone', async () => {
    const { app } = await opsApp();
    await app.ready();
    // Closing the app's store (as a crashed Redis or a deleted SQLite file would) fails the check.
    await app.livecomponents.runtime.store.close();
    const anonymous = await app.inject('/health/ready');
    expect(anonymous.statusCode).toBe(503);
    expect(anonymous.json().checks['store:responsiveness'][0]).not.toHaveProperty('output');
    const insider = await app.inject({ url: '/health/ready', headers: { authorization: `Bearer ${HEALTH_TOKEN}` } });
    expect(insider.json().checks['store:responsiveness'][0]).toMatchObject({ status: 'fail', output: expect.any(String) });
  });
});
