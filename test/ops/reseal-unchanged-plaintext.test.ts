/**
 * The re-seal of a refused or failed action (d26f61c) writes back exactly the state it read, sealed
 * with the newest key — never what `migrate`, `authorize` or the action did to the object in the
 * meantime. State is handed to them as a plain object: a `migrate` written in place (`old.entries =
 * old.items; delete old.items; return old`) or an action that changed its argument before it threw
 * left that object changed, and the re-seal stored it (in the OLD version for a migrated one: the
 * next read migrated the migrated shape again, and the data was gone). Before d26f61c a refused or
 * failed action stored nothing (the state stage's "a failure never leaves a partial write").
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { defineComponent, type ComponentDefinition } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { livecomponents } from '../../src/http/plugin.js';
import { createMetrics, METRIC_NAMES, type Metrics } from '../../src/ops/metrics/index.js';
import type { LiveComponentsOptions } from '../../src/runtime/setup.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import type { Store } from '../../src/store/types.js';
import { openClient, testRuntime, type TestClient } from '../helpers/demo.js';

const servers: FastifyInstance[] = [];
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

const b64 = (): string => randomBytes(32).toString('base64');

async function stateKeyFallbacks(metrics: Metrics): Promise<number | undefined> {
  const metric = metrics.registry.getSingleMetric(METRIC_NAMES.secretFallbackUsed);
  return (await metric?.get())?.values.find((v) => v.labels.secret === 'state_key')?.value;
}

/** Instances of one app on one store (`store`, else a new memory store), each with its own components, keys and metrics, a page on `/`. */
function cluster(store: Store = createMemoryStore({ sweepIntervalMs: 0 })) {
  stores.push(store);
  return async (components: readonly ComponentDefinition[], settings: Partial<LiveComponentsOptions>) => {
    const metrics = createMetrics({ defaultMetrics: false });
    const runtime = await testRuntime(components, store, { ...settings, onSecretFallback: metrics.countSecretFallback });
    const app = Fastify();
    servers.push(app);
    await app.register(livecomponents, { runtime });
    app.get('/', async (request, reply) => {
      const view = await app.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('counter:main') }));
    });
    await app.ready();
    return { app, metrics };
  };
}

async function act(app: FastifyInstance, client: TestClient, action: string): Promise<{ status: number; state: unknown }> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/livecomponents/action',
    headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token },
    payload: JSON.stringify({ component_id: 'counter:main', action, params: {} }),
  });
  if (res.statusCode === 200) client.token = (res.json() as { csrf_token: string }).csrf_token;
  return { status: res.statusCode, state: (res.json() as { state?: unknown }).state };
}

const counterV1 = defineComponent({
  name: 'counter',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: { inc: { run: (s) => ({ n: s.n + 1 }) } },
  render: (s) => html`<i>${s.n}</i>`,
});

/** Writes to the object it was given, then refuses or throws: against the contract, and still no partial write. */
const scribbler = defineComponent({
  name: 'counter',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: {
    inc: { run: (s) => ({ n: s.n + 1 }) },
    deny: {
      authorize: (_ctx, s) => {
        (s as { n: number }).n = 999;
        return false;
      },
      run: (s) => ({ n: s.n + 100 }),
    },
    fail: {
      run: (s): { n: number } => {
        (s as { n: number }).n = 999;
        throw new Error('action broke half-way');
      },
    },
  },
  render: (s) => html`<i>${s.n}</i>`,
});

/** Version 2 counts in tens: its migrate works in place on the object it reads. */
const counterV2 = defineComponent({
  name: 'counter',
  version: 2,
  migrate: (old) => {
    const s = old as { n: number };
    s.n *= 10;
    return s;
  },
  initialState: { n: 0 },
  publicState: ['n'],
  actions: {
    inc: { run: (s) => ({ n: s.n + 1 }) },
    deny: { authorize: () => false, run: (s) => ({ n: s.n + 100 }) },
  },
  render: (s) => html`<i>${s.n}</i>`,
});

describe('the re-seal of an action that writes nothing stores the state as it was read', () => {
  it.each([
    ['authorize writes to the state, then refuses (401)', 'deny', 401],
    ['the action writes to the state, then throws (500)', 'fail', 500],
  ])('%s: the state stays n = 1, sealed with the new key', async (_what, action, status) => {
    const [secret, oldKey, newKey] = [b64(), b64(), b64()];
    const instance = cluster();
    const old = await instance([scribbler], { sessionSecret: secret, stateKeys: oldKey });
    const rotated = await instance([scribbler], { sessionSecret: secret, stateKeys: `${newKey},${oldKey}` });
    const newOnly = await instance([scribbler], { sessionSecret: secret, stateKeys: newKey });
    const client = await openClient(old.app);
    expect(await act(old.app, client, 'inc')).toEqual({ status: 200, state: { n: 1 } });
    expect((await act(rotated.app, client, action)).status).toBe(status);
    expect(await stateKeyFallbacks(rotated.metrics)).toBe(1);
    // Re-sealed (opens without the old key), and unchanged: n = 1, then 2.
    expect(await act(newOnly.app, client, 'inc')).toEqual({ status: 200, state: { n: 2 } });
  });

  it('a migrate written in place, then a refused action: the state is re-sealed in its own version, not migrated twice later', async () => {
    const [secret, oldKey, newKey] = [b64(), b64(), b64()];
    const instance = cluster();
    const old = await instance([counterV1], { sessionSecret: secret, stateKeys: oldKey });
    const rotated = await instance([counterV2], { sessionSecret: secret, stateKeys: `${newKey},${oldKey}` });
    const newOnly = await instance([counterV2], { sessionSecret: secret, stateKeys: newKey });
    const client = await openClient(old.app);
    expect(await act(old.app, client, 'inc')).toEqual({ status: 200, state: { n: 1 } }); // version 1, old key
    expect((await act(rotated.app, client, 'deny')).status).toBe(401);
    expect(await stateKeyFallbacks(rotated.metrics)).toBe(1);
    // Still version 1 with n = 1: migrated once now (10), then incremented. Was 101 (n = 10 stored as version 1, migrated again).
    expect(await act(newOnly.app, client, 'inc')).toEqual({ status: 200, state: { n: 11 } });
  });

  it("a state deleted between the action's read and its after-action batch (its session signed out) stays deleted: the re-seal of a refused action makes no key", async () => {
    const [secret, oldKey, newKey] = [b64(), b64(), b64()];
    const inner = createMemoryStore({ sweepIntervalMs: 0 });
    /** Armed: the next batch that writes the instance's state deletes it first, as a sign-out landing just before it. */
    let armed = false;
    let deleted: string | undefined;
    const store: Store = {
      ...inner,
      async batch(ops) {
        const write = armed ? ops.find((op) => op.key.endsWith(':state:counter:main') && op.op !== 'get' && op.op !== 'touch') : undefined;
        if (write !== undefined) {
          armed = false;
          deleted = write.key;
          await inner.delete(write.key);
        }
        return inner.batch(ops);
      },
    };
    const instance = cluster(store);
    const old = await instance([scribbler], { sessionSecret: secret, stateKeys: oldKey });
    const rotated = await instance([scribbler], { sessionSecret: secret, stateKeys: `${newKey},${oldKey}` });
    const client = await openClient(old.app);
    expect(await act(old.app, client, 'inc')).toEqual({ status: 200, state: { n: 1 } });
    armed = true;
    expect((await act(rotated.app, client, 'deny')).status).toBe(401);
    expect(await stateKeyFallbacks(rotated.metrics)).toBe(1);
    expect(deleted).toBeDefined();
    // Was made again by the re-seal (compare-and-replace places its value on a key that went), orphaned until its TTL.
    expect(await inner.get(deleted as string)).toBeNull();
  });
});
