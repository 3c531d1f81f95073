/**
 * `TRUST_PROXY=true` believes every `X-Forwarded-For` entry: behind a proxy that appends to the
 * header, any client names its own address and buys a fresh rate-limit budget per request. Only
 * `livecomponents doctor` said so; the reference app now warns once at start-up, through its logger,
 * in the doctor's words (`startupCautions`, config-rules.ts). A hop count, a CIDR or no proxy: nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseEnv } from '../../src/ops/config.js';
import { closeLogger, createLogger } from '../../src/ops/logging/index.js';
import { capture } from '../../test/logging/capture.js';
import { createDemoApp } from './app.js';

const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256)).toString('base64');
const SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 53 + 7) % 256)).toString('base64');
const WARN = 40;
const TRUST_ALL_LINE =
  'configuration: TRUST_PROXY=true believes every X-Forwarded-For entry, so behind a proxy that appends to the header a client picks its own address, a new one per request: rate limits, new-session limits and log flood limits then count per spoofed address; set TRUST_PROXY to the number of proxies in front (e.g. 1) or to the proxy addresses or CIDR (e.g. 10.0.0.0/8) (doctor: warning trust-proxy)';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The `warn` records of the reference app's start-up (built, ready, closed) under `env`. */
async function startupWarnLines(env: Record<string, string>): Promise<{ check?: unknown; msg?: unknown }[]> {
  const dir = mkdtempSync(join(tmpdir(), 'lc-demo-trust-'));
  dirs.push(dir);
  const { config, issues } = parseEnv({ NODE_ENV: 'development', HOST: '127.0.0.1', LC_STATE_KEYS: KEY, LC_SESSION_SECRET: SECRET, DATABASE_URL: `sqlite:${join(dir, 'app.db')}`, ...env });
  expect(issues).toEqual([]);
  const out = capture();
  const logger = createLogger({ format: 'json', level: 'info', stream: out });
  const app = await createDemoApp({ config, loggerInstance: logger, framework: { dataDir: join(dir, 'data') } });
  await app.ready();
  await app.close();
  await closeLogger(logger);
  return out.records().filter((r) => r.level === WARN).map((r) => ({ check: r.check, msg: r.msg }));
}

describe('the reference app at start-up', () => {
  it.each([
    ['TRUST_PROXY=true', { TRUST_PROXY: 'true' }],
    ['TRUST_PROXY=true behind a declared proxy', { TRUST_PROXY: 'true', BEHIND_PROXY: 'true' }],
  ])('%s: exactly one warning, the doctor’s words', async (_name, env) => {
    expect(await startupWarnLines(env)).toEqual([{ check: 'trust-proxy', msg: TRUST_ALL_LINE }]);
  });

  it.each([
    ['unset', {}],
    ['false', { TRUST_PROXY: 'false' }],
    ['a CIDR list', { TRUST_PROXY: '10.0.0.0/8,192.168.0.0/16' }],
    ['a hop count behind a declared proxy', { TRUST_PROXY: '1', BEHIND_PROXY: 'true' }],
  ])('TRUST_PROXY %s: no warning', async (_name, env) => {
    expect(await startupWarnLines(env)).toEqual([]);
  });
});
