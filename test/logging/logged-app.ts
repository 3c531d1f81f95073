/**
 * The reference app logging as in production (createLogger, JSON, every level) into memory, driven
 * through `inject`. Every response is searched for secrets the server handed out (session cookies,
 * CSRF tokens, access tokens), so a test can later check that none of them reached a log line.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { createDemoApp } from '../../examples/demo/app.js';
import { loadConfig, type AppConfig } from '../../src/ops/config.js';
import { closeLogger, createLogger } from '../../src/ops/logging/index.js';
import type { Logger } from 'pino';
import { capture, type Capture } from './capture.js';

export interface LoggedApp {
  app: FastifyInstance;
  config: AppConfig;
  logger: Logger;
  out: Capture;
  /** Every secret seen so far: issued by the server, configured, or registered by a flow. */
  secrets: Set<string>;
  /** How many requests were injected. */
  requests(): number;
  /** `app.inject` that records the secrets in the response. */
  request(options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** A route that logs the whole request at trace level, as careless debugging code would. */
export const CARELESS_ROUTE = '/debug/echo';

export async function loggedApp(): Promise<LoggedApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'lc-log-e2e-'));
  const config = loadConfig({
    LC_STATE_KEYS: `${randomBytes(32).toString('base64')},${randomBytes(32).toString('base64')}`,
    LC_SESSION_SECRET: randomBytes(32).toString('base64'),
    DATABASE_URL: `sqlite:${join(dataDir, 'test.db')}`,
  });
  const out = capture();
  const logger = createLogger({ format: 'json', level: 'trace', stream: out });
  const app = await createDemoApp({ config, loggerInstance: logger, framework: { dataDir } });
  app.post(CARELESS_ROUTE, async (request) => {
    request.log.trace({ headers: request.headers, body: request.body, cookies: request.cookies }, 'echo');
    return { ok: true };
  });
  await app.ready();

  const secrets = new Set<string>([...(config.LC_STATE_KEYS ?? '').split(','), config.LC_SESSION_SECRET ?? '']);
  let count = 0;
  return {
    app,
    config,
    logger,
    out,
    secrets,
    requests: () => count,
    async request(options) {
      count++;
      const res = await app.inject(options);
      for (const s of issuedSecrets(res)) secrets.add(s);
      return res;
    },
    async close() {
      await app.close();
      await closeLogger(logger);
    },
  };
}

/** Cookie values, and the CSRF/access tokens in a page or a JSON body. */
function issuedSecrets(res: LightMyRequestResponse): string[] {
  const found: string[] = [];
  const setCookie = res.headers['set-cookie'];
  for (const c of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
    const value = /^[^=]+=([^;]*)/.exec(c)?.[1];
    if (value) found.push(value);
  }
  const meta = /<meta name="csrf-token" content="([^"]+)"/.exec(res.body)?.[1];
  if (meta) found.push(meta);
  if (String(res.headers['content-type']).startsWith('application/json')) {
    const body = res.json() as Record<string, unknown>;
    for (const key of ['csrf_token', 'access_token', 'refresh_token', 'token']) {
      if (typeof body[key] === 'string') found.push(body[key]);
    }
  }
  return found;
}
