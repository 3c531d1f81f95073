/**
 * `livecomponents_secret_fallback_used_total{secret="session_secret"}` counts requests let in only by
 * a fallback secret — in the default CSRF mode as in strict mode. A token of the fallback whose
 * session is gone (expired, signed out: the prefetch refuses it, 403) or that names no known
 * component (404) let nothing in. The default mode counted both when the CSRF stage verified the
 * token, before the session was looked up; strict mode counts once the spend settles, after it.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { livecomponents } from '../../src/http/plugin.js';
import { createMetrics, METRIC_NAMES, type Metrics } from '../../src/ops/metrics/index.js';
import type { LiveComponentsOptions } from '../../src/runtime/setup.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import type { Store } from '../../src/store/types.js';
import { openClient, testRuntime, tinyCounter, type TestClient } from '../helpers/demo.js';

const servers: FastifyInstance[] = [];
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

const b64 = (): string => randomBytes(32).toString('base64');

async function sessionSecretCount(metrics: Metrics): Promise<number | undefined> {
  const metric = metrics.registry.getSingleMetric(METRIC_NAMES.secretFallbackUsed);
  return (await metric?.get())?.values.find((v) => v.labels.secret === 'session_secret')?.value;
}

function memory(): Store {
  const store = createMemoryStore({ sweepIntervalMs: 0 });
  stores.push(store);
  return store;
}

/** An instance with a counter page on `/`, counting its fallbacks as the reference app does. */
async function instance(store: Store, settings: Partial<LiveComponentsOptions>) {
  const metrics = createMetrics({ defaultMetrics: false });
  const runtime = await testRuntime([tinyCounter], store, { ...settings, onSecretFallback: metrics.countSecretFallback });
  const app = Fastify();
  servers.push(app);
  await app.register(livecomponents, { runtime });
  app.get('/', async (request, reply) => {
    const view = await app.livecomponents.view(request, reply);
    return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('counter:main') }));
  });
  await app.ready();
  return { app, metrics };
}

const act = async (app: FastifyInstance, client: TestClient, componentId = 'counter:main') =>
  (
    await app.inject({
      method: 'POST',
      url: '/api/livecomponents/action',
      headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token },
      payload: JSON.stringify({ component_id: componentId, action: 'inc', params: {} }),
    })
  ).statusCode;

describe.each(['per-session', 'per-action'] as const)('session_secret fallback counted only for a request it let in, %s', (rotation) => {
  it('a fallback token whose session is gone: 403, not counted', async () => {
    const [OLD, NEW, stateKeys] = [b64(), b64(), b64()];
    const csrf = { rotation };
    const old = await instance(memory(), { stateKeys, sessionSecret: OLD, csrf });
    // Another store: the page's session does not exist there, as after its expiry or a sign-out.
    const rotated = await instance(memory(), { stateKeys, sessionSecret: NEW, sessionSecretFallbacks: [OLD], csrf });
    const client = await openClient(old.app);
    expect(await act(rotated.app, client)).toBe(403);
    expect(await sessionSecretCount(rotated.metrics)).toBe(0);
  });

  it('a fallback token naming no known component: 404, not counted; the same token on a known action: counted once', async () => {
    const [OLD, NEW, stateKeys] = [b64(), b64(), b64()];
    const csrf = { rotation };
    const store = memory();
    const old = await instance(store, { stateKeys, sessionSecret: OLD, csrf });
    const rotated = await instance(store, { stateKeys, sessionSecret: NEW, sessionSecretFallbacks: [OLD], csrf });
    const client = await openClient(old.app);
    expect(await act(rotated.app, client, 'nothing:main')).toBe(404);
    expect(await sessionSecretCount(rotated.metrics)).toBe(0);
    expect(await act(rotated.app, client)).toBe(200);
    expect(await sessionSecretCount(rotated.metrics)).toBe(1);
  });
});
