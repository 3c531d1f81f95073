/**
 * The reference app under a flood of CSRF refusals from one address: its security logger writes the
 * first 10 lines, `/metrics` counts every refusal, and the summary of the rest is written when the
 * logger closes at shutdown (examples/demo/main.ts closes it last) — through Fastify's child logger.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createDemoApp } from '../../examples/demo/app.js';
import { loadConfig } from '../../src/ops/config.js';
import { closeLogger, createLogger } from '../../src/ops/logging/index.js';
import { capture } from '../logging/capture.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
const N = 200;

it(`writes 10 malicious_csrf lines for ${N} refusals of one client, counts all ${N} in /metrics, and summarises the other ${N - 10} at closeLogger`, async () => {
  const out = capture();
  const logger = createLogger({ format: 'json', stream: out });
  const dataDir = mkdtempSync(join(tmpdir(), 'lc-flood-'));
  const config = loadConfig({
    LC_STATE_KEYS: randomBytes(32).toString('base64'),
    LC_SESSION_SECRET: randomBytes(32).toString('base64'),
    DATABASE_URL: `sqlite:${join(dataDir, 'flood.db')}`,
    METRICS_TOKEN,
  });
  const app = await createDemoApp({ config, framework: { dataDir }, loggerInstance: logger });
  const csrfLines = () => out.records().filter((r) => r['security_event'] === true && r['event'] === 'malicious_csrf');
  try {
    for (let i = 0; i < N; i++) {
      const res = await app.inject({ method: 'POST', url: '/api/livecomponents/action', headers: { 'content-type': 'application/json', origin: 'http://localhost:3000' }, payload: { component_id: 'counter:main', action: 'increment', params: {} } });
      expect(res.statusCode).toBe(403);
    }
    expect(csrfLines()).toHaveLength(10);
    const metrics = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(metrics.body).toContain(`livecomponents_security_events_total{event="malicious_csrf"} ${N}\n`);
  } finally {
    await app.close();
    await closeLogger(logger);
  }
  const lines = csrfLines();
  expect(lines).toHaveLength(11);
  expect(lines[10]).toMatchObject({ source_ip: '127.0.0.1', suppressed: N - 10, suppressed_scope: 'client', request_method: 'POST', request_uri: '/api/livecomponents/action' });
});
