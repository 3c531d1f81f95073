/**
 * The model-based random probe (test/helpers/model-probe.ts) over real HTTP against two reference-app
 * processes (`examples/demo/main.ts`, as test/scale/instances.ts starts them) sharing one Redis and
 * one SQLite file of accounts, each request of a session sent to either. The simulated clients'
 * addresses travel in `X-Forwarded-For`, which the apps believe from loopback only (`TRUST_PROXY`).
 * `MODEL_SEED` / `MODEL_OPS` replay a failure as in model-probe.test.ts.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_AVAILABLE, startRedis, type RedisServer } from '../redis/server.js';
import { startInstances } from '../scale/instances.js';
import { runModelProbe, type ProbeTarget } from '../helpers/model-probe.js';

const OPS = Number(process.env.MODEL_OPS ?? 300);
const SEED = Number(process.env.MODEL_SEED ?? 505);
/** The origin both instances take as theirs (the sign-in form's `Origin` must be it on either). */
const APP_URL = 'http://127.0.0.1:3000';

/** `request` sent with fetch: the answer in the shape the probe reads of an `inject` one. */
async function overHttp(base: string, request: InjectOptions): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) if (typeof value === 'string') headers[name] = value;
  if (request.remoteAddress !== undefined) headers['x-forwarded-for'] = request.remoteAddress;
  const res = await fetch(`${base}${request.url as string}`, {
    method: request.method as string,
    headers,
    body: typeof request.payload === 'string' ? request.payload : undefined,
    redirect: 'manual',
  });
  const body = await res.text();
  const answerHeaders: Record<string, string | string[]> = {};
  res.headers.forEach((value, name) => {
    answerHeaders[name] = value;
  });
  const cookies = res.headers.getSetCookie();
  if (cookies.length > 0) answerHeaders['set-cookie'] = cookies;
  else delete answerHeaders['set-cookie'];
  return { statusCode: res.status, headers: answerHeaders, body, json: () => JSON.parse(body) as unknown } as unknown as LightMyRequestResponse;
}

describe.skipIf(!REDIS_AVAILABLE)('model probe of two reference-app processes sharing one Redis', () => {
  let redis: RedisServer | undefined;
  let cluster: Awaited<ReturnType<typeof startInstances>> | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    cluster = await startInstances(2, {
      REDIS_URL: redis.url,
      DATABASE_URL: `sqlite:${join(mkdtempSync(join(tmpdir(), 'lc-model-processes-')), 'shared.db')}`,
      TRUST_PROXY: '127.0.0.1',
      APP_URL,
    });
  }, 90_000);
  afterAll(async () => {
    await cluster?.stop();
    await redis?.stop();
  });

  it('agrees with the model on every answer', async () => {
    const urls = (cluster as Awaited<ReturnType<typeof startInstances>>).instances.map((i) => i.url);
    const target: ProbeTarget = { instances: urls.length, origin: APP_URL, send: (i, request) => overHttp(urls[i] as string, request) };
    const stats = await runModelProbe(target, { seed: SEED, ops: OPS });
    if (process.env.MODEL_VERBOSE !== undefined) console.log(`seed ${SEED}: ${JSON.stringify(stats)}`);
    expect(stats.ops).toBe(OPS);
    expect(stats.ran).toBeGreaterThan(0);
    expect(stats.replays).toBeGreaterThan(0);
    expect(stats.byStatus['429'] ?? 0).toBeGreaterThan(0);
  }, 120_000);
});
