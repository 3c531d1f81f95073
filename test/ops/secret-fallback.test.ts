/**
 * `livecomponents_secret_fallback_used_total{secret}` over HTTP, the runtime wired as an app wires it
 * (`onSecretFallback: metrics.countSecretFallback`): instances sharing a store, one on the old
 * settings and one rotated. Each request let in only by an older secret counts once — a CSRF token
 * of `sessionSecretFallbacks` (action route in both modes, `verifyForm`), state sealed with a key of
 * `stateKeys` other than the first (until its write re-seals it) — and nothing else does: a token or
 * key of the current settings, a forged token, a replayed strict-mode one.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { livecomponents } from '../../src/http/plugin.js';
import { createMetrics, METRIC_NAMES, type Metrics, type SecretFallback } from '../../src/ops/metrics/index.js';
import type { LiveComponentsOptions } from '../../src/runtime/setup.js';
import { defineComponent, type ComponentDefinition } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
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

/** The counter's value for `secret`, `undefined` when the metric or its series is absent. */
async function fallbackCount(metrics: Metrics, secret: SecretFallback): Promise<number | undefined> {
  const metric = metrics.registry.getSingleMetric(METRIC_NAMES.secretFallbackUsed);
  if (metric === undefined) return undefined;
  return (await metric.get()).values.find((v) => v.labels.secret === secret)?.value;
}

/** Instances of one app on one store: each with its own settings and metrics, a counter page on `/`, and a form route (`verifyForm`). */
function cluster(components: readonly ComponentDefinition[] = [tinyCounter]) {
  const store = createMemoryStore({ sweepIntervalMs: 0 });
  stores.push(store);
  return async (settings: Partial<LiveComponentsOptions>) => {
    const metrics = createMetrics({ defaultMetrics: false });
    const runtime = await testRuntime(components, store, { ...settings, onSecretFallback: metrics.countSecretFallback });
    const app = Fastify();
    servers.push(app);
    await app.register(livecomponents, { runtime });
    app.get('/', async (request, reply) => {
      const view = await app.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('counter:main') }));
    });
    app.post('/form', async (request, reply) => {
      const session = await app.livecomponents.verifyForm(request, (request.body as { _csrf_token?: unknown })._csrf_token);
      return reply.code(session === null ? 403 : 200).send();
    });
    await app.ready();
    return { app, metrics };
  };
}

/** `client`'s increment on `app` (of `componentId`) with `token` (default: its latest); a 200 answer's token becomes its latest. */
async function increment(app: FastifyInstance, client: TestClient, token = client.token, componentId = 'counter:main', action = 'inc'): Promise<number> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/livecomponents/action',
    headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': token },
    payload: JSON.stringify({ component_id: componentId, action, params: {} }),
  });
  if (res.statusCode === 200) client.token = (res.json() as { csrf_token: string }).csrf_token;
  return res.statusCode;
}

describe.each(['per-session', 'per-action'] as const)('secret_fallback_used_total{secret="session_secret"}, %s', (rotation) => {
  it('3 actions with tokens of the fallback secret and 2 with the current one count 3; forged and replayed tokens count nothing', async () => {
    const [OLD, NEW, stateKeys] = [b64(), b64(), b64()];
    const instance = cluster();
    const csrf = { rotation };
    const old = await instance({ stateKeys, sessionSecret: OLD, csrf });
    const rotated = await instance({ stateKeys, sessionSecret: NEW, sessionSecretFallbacks: [OLD], csrf });
    expect(await fallbackCount(rotated.metrics, 'session_secret')).toBe(0);

    // Three pages served with the old secret, each acting once on the rotated instance.
    const clients = [await openClient(old.app), await openClient(old.app), await openClient(old.app)];
    const pageTokens = clients.map((c) => c.token);
    for (const client of clients) expect(await increment(rotated.app, client)).toBe(200);
    expect(await fallbackCount(rotated.metrics, 'session_secret')).toBe(3);
    // Their answers' tokens are of the current secret: two more actions count nothing.
    expect([await increment(rotated.app, clients[0] as TestClient), await increment(rotated.app, clients[1] as TestClient)]).toEqual([200, 200]);
    expect(await fallbackCount(rotated.metrics, 'session_secret')).toBe(3);

    // A forged token, and another session's token of the fallback: refused, not counted.
    const [first, second] = clients as [TestClient, TestClient];
    expect(await increment(rotated.app, first, `v1.${'A'.repeat(first.token.length - 3)}`)).toBe(403);
    const theirs = await openClient(old.app);
    expect(await increment(rotated.app, first, theirs.token)).toBe(403);
    // Strict mode: a fallback token used once is spent; its replay is no use of the fallback.
    // Default mode: it still verifies (any token of the session's secret does), and counts again.
    const replay = await increment(rotated.app, second, pageTokens[1]);
    expect(replay).toBe(rotation === 'per-action' ? 403 : 200);
    expect(await fallbackCount(rotated.metrics, 'session_secret')).toBe(rotation === 'per-action' ? 3 : 4);
    // Nothing counted on the instance that signs with the old secret, nor under the other names.
    expect(await fallbackCount(old.metrics, 'session_secret')).toBe(0);
    expect(await fallbackCount(rotated.metrics, 'state_key')).toBe(0);
  });

  it('verifyForm: a form token of the fallback secret counts once; one of the current secret does not', async () => {
    const [OLD, NEW, stateKeys] = [b64(), b64(), b64()];
    const instance = cluster();
    const csrf = { rotation };
    const old = await instance({ stateKeys, sessionSecret: OLD, csrf });
    const rotated = await instance({ stateKeys, sessionSecret: NEW, sessionSecretFallbacks: [OLD], csrf });
    const post = async (client: TestClient, token: string) =>
      (await rotated.app.inject({ method: 'POST', url: '/form', headers: { 'content-type': 'application/json', cookie: client.cookie }, payload: JSON.stringify({ _csrf_token: token }) }))
        .statusCode;
    const client = await openClient(old.app);
    expect(await post(client, client.token)).toBe(200);
    expect(await fallbackCount(rotated.metrics, 'session_secret')).toBe(1);
    const current = await openClient(rotated.app);
    expect(await post(current, current.token)).toBe(200);
    expect(await post(current, 'v1.forged')).toBe(403);
    expect(await fallbackCount(rotated.metrics, 'session_secret')).toBe(1);
  });
});

// Counted only for a request the fallback let in. The default mode counted when the CSRF stage
// verified the token, before the prefetch looked the session up; strict mode counts once the spend
// settles, after it: a token of the fallback whose session is gone (expired, signed out: 403) or
// that names no known component (404) let nothing in.
describe.each(['per-session', 'per-action'] as const)('session_secret fallback counted only for a request it let in, %s', (rotation) => {
  it('a fallback token whose session is gone: 403, not counted', async () => {
    const [OLD, NEW, stateKeys] = [b64(), b64(), b64()];
    const csrf = { rotation };
    const old = await cluster()({ stateKeys, sessionSecret: OLD, csrf });
    // Another store: the page's session does not exist there, as after its expiry or a sign-out.
    const rotated = await cluster()({ stateKeys, sessionSecret: NEW, sessionSecretFallbacks: [OLD], csrf });
    const client = await openClient(old.app);
    expect(await increment(rotated.app, client)).toBe(403);
    expect(await fallbackCount(rotated.metrics, 'session_secret')).toBe(0);
  });

  it('a fallback token naming no known component: 404, not counted; the same token on a known action: counted once', async () => {
    const [OLD, NEW, stateKeys] = [b64(), b64(), b64()];
    const csrf = { rotation };
    const instance = cluster();
    const old = await instance({ stateKeys, sessionSecret: OLD, csrf });
    const rotated = await instance({ stateKeys, sessionSecret: NEW, sessionSecretFallbacks: [OLD], csrf });
    const client = await openClient(old.app);
    expect(await increment(rotated.app, client, client.token, 'nothing:main')).toBe(404);
    expect(await fallbackCount(rotated.metrics, 'session_secret')).toBe(0);
    expect(await increment(rotated.app, client)).toBe(200);
    expect(await fallbackCount(rotated.metrics, 'session_secret')).toBe(1);
  });
});

describe('secret_fallback_used_total{secret="state_key"}', () => {
  it('state sealed with the old key counts once when an action opens it, then never again: the action re-sealed it', async () => {
    const [secret, oldKey, newKey] = [b64(), b64(), b64()];
    const instance = cluster();
    const old = await instance({ sessionSecret: secret, stateKeys: oldKey });
    const rotated = await instance({ sessionSecret: secret, stateKeys: `${newKey},${oldKey}` });
    const client = await openClient(old.app);
    expect(await fallbackCount(rotated.metrics, 'state_key')).toBe(0);
    expect(await increment(rotated.app, client)).toBe(200);
    expect(await fallbackCount(rotated.metrics, 'state_key')).toBe(1);
    expect([await increment(rotated.app, client), await increment(rotated.app, client)]).toEqual([200, 200]);
    expect(await fallbackCount(rotated.metrics, 'state_key')).toBe(1);
    // A page view re-seals too: counted once, and the action after it opens the newest key's blob.
    const viewer = await openClient(old.app);
    expect((await rotated.app.inject({ url: '/', headers: { cookie: viewer.cookie } })).statusCode).toBe(200);
    expect(await fallbackCount(rotated.metrics, 'state_key')).toBe(2);
    expect(await increment(rotated.app, viewer)).toBe(200);
    expect(await fallbackCount(rotated.metrics, 'state_key')).toBe(2);
    // State of the newest key, and state the ring cannot open, count nothing.
    const fresh = await openClient(rotated.app);
    expect(await increment(rotated.app, fresh)).toBe(200);
    const newOnly = await instance({ sessionSecret: secret, stateKeys: newKey });
    const lost = await openClient(old.app);
    expect(await increment(newOnly.app, lost)).toBe(409);
    expect([await fallbackCount(rotated.metrics, 'state_key'), await fallbackCount(newOnly.metrics, 'state_key')]).toEqual([2, 0]);
    expect(await fallbackCount(rotated.metrics, 'session_secret')).toBe(0);
  });

  // The counter counts requests that needed the older key; every such request re-seals the state it
  // opened, so each stored state counts once and the counter stops moving once none is left (the
  // runbook's "wait until it stops moving"). Before, an action that wrote nothing (refused by its
  // authorization, failed) re-sealed nothing, and each one counted again, for as long as the page
  // kept trying: the counter never went flat.
  it.each([
    ['refused by its authorization (401 UNAUTHENTICATED: no user)', 'deny', 401],
    ['that throws (500 INTERNAL_ERROR)', 'fail', 500],
  ])('an action %s re-seals the state it opened with the older key: 3 such actions count 1, and the state opens on an instance without the old key', async (_what, action, status) => {
    const guarded = defineComponent({
      name: 'counter',
      initialState: { n: 0 },
      publicState: ['n'],
      actions: {
        inc: { run: (s) => ({ n: s.n + 1 }) },
        deny: { authorize: () => false, run: (s) => ({ n: s.n + 100 }) },
        fail: {
          run: (): { n: number } => {
            throw new Error('action broke');
          },
        },
      },
      render: (s) => html`<i>${s.n}</i>`,
    });
    const [secret, oldKey, newKey] = [b64(), b64(), b64()];
    const instance = cluster([guarded]);
    const old = await instance({ sessionSecret: secret, stateKeys: oldKey });
    const rotated = await instance({ sessionSecret: secret, stateKeys: `${newKey},${oldKey}` });
    const newOnly = await instance({ sessionSecret: secret, stateKeys: newKey });
    const client = await openClient(old.app);
    expect(await increment(old.app, client)).toBe(200); // n = 1, sealed with the old key
    const refused = [];
    for (let i = 0; i < 3; i++) refused.push(await increment(rotated.app, client, client.token, 'counter:main', action));
    expect(refused).toEqual([status, status, status]);
    expect(await fallbackCount(rotated.metrics, 'state_key')).toBe(1);
    // Sealed with the new key by the first of them, its content unchanged: the instance that lost the
    // old key opens it (not 409 STATE_INVALID), and its action goes on from n = 1.
    const res = await newOnly.app.inject({
      method: 'POST',
      url: '/api/livecomponents/action',
      headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token },
      payload: JSON.stringify({ component_id: 'counter:main', action: 'inc', params: {} }),
    });
    expect([res.statusCode, (res.json() as { state?: unknown }).state]).toEqual([200, { n: 2 }]);
    expect([await fallbackCount(rotated.metrics, 'state_key'), await fallbackCount(newOnly.metrics, 'state_key'), await fallbackCount(old.metrics, 'state_key')]).toEqual([
      1, 0, 0,
    ]);
  });
});
