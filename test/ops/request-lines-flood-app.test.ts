/**
 * The reference app under 2,000 CSRF refusals from one address: Fastify's request lines of the
 * refused requests go through the security logger's flood limit (FloodLogController), and
 * LOG_FLOOD_LIMIT sets it (0: every line).
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

async function flood(env: Record<string, string>, n: number): Promise<Record<string, number>> {
  const out = capture();
  const logger = createLogger({ format: 'json', stream: out });
  const dataDir = mkdtempSync(join(tmpdir(), 'lc-lines-'));
  const config = loadConfig({ LC_STATE_KEYS: randomBytes(32).toString('base64'), LC_SESSION_SECRET: randomBytes(32).toString('base64'), DATABASE_URL: `sqlite:${join(dataDir, 'f.db')}`, ...env });
  const app = await createDemoApp({ config, framework: { dataDir }, loggerInstance: logger });
  try {
    for (let i = 0; i < n; i++) {
      const res = await app.inject({ method: 'POST', url: '/api/livecomponents/action', headers: { 'content-type': 'application/json', origin: 'http://localhost:3000' }, payload: { component_id: 'counter:main', action: 'increment', params: {} } });
      expect(res.statusCode).toBe(403);
    }
  } finally {
    await app.close();
    await closeLogger(logger);
  }
  const counts: Record<string, number> = {};
  for (const r of out.records()) {
    const kind = r['suppressed'] !== undefined ? `summary ${String(r['request_lines_suppressed'])}` : r['security_event'] === true ? String(r['event']) : String(r['msg']);
    if (['incoming request', 'request completed', 'malicious_csrf'].includes(kind) || kind.startsWith('summary')) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

it('2,000 refusals: 11 incoming, 10 completed and 10 malicious_csrf lines, one summary counting 3,979 request lines', async () => {
  expect(await flood({}, 2000)).toEqual({ 'incoming request': 11, 'request completed': 10, malicious_csrf: 10, 'summary 3979': 1 });
}, 120_000);

it('LOG_FLOOD_LIMIT=3 writes 3 of each after the first; LOG_FLOOD_LIMIT=0 every line', async () => {
  expect(await flood({ LOG_FLOOD_LIMIT: '3' }, 100)).toEqual({ 'incoming request': 4, 'request completed': 3, malicious_csrf: 3, 'summary 193': 1 });
  expect(await flood({ LOG_FLOOD_LIMIT: '0' }, 100)).toEqual({ 'incoming request': 100, 'request completed': 100, malicious_csrf: 100 });
}, 120_000);
