/**
 * The reference app's operations wiring end to end: real traffic through the pipeline, then the
 * scrape — action, HTTP and security-event series with exact counts, promtool-clean output, and the
 * health probes backed by the real store and SQL database.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createDemoApp } from '../../examples/demo/app.js';
import { loadConfig } from '../../src/ops/config.js';
import { createLifecycleState } from '../../src/ops/health/index.js';
import { openClient } from '../helpers/demo.js';
import { promtoolAvailability, promtoolCheck } from './promtool.js';

const METRICS_TOKEN = 'scrape-token-0123456789abcdef';
const HEALTH_TOKEN = 'health-token-0123456789abcdef';
const scrape = { authorization: `Bearer ${METRICS_TOKEN}` };

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function opsApp(env: Record<string, string> = {}) {
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
  const app = await createDemoApp({ config, lifecycle, framework: { dataDir } });
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
