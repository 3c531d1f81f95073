/**
 * A 403 for a session that no longer exists (expired, signed out elsewhere: `session_use_after_expire`)
 * hands out no CSRF token, in both CSRF modes: a token is bound to the session it was made for, and
 * that one is gone — the page must reload (the browser runtime reloads the component on
 * `CSRF_TOKEN_INVALID`, and takes the page's new token). Before, the default mode answered it with a
 * fresh token of the dead session (strict mode did not), which no request could ever use. A refused
 * action of a live session still carries its usable token.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { defineComponent } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { livecomponents } from '../../src/http/plugin.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
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

const counter = defineComponent({
  name: 'counter',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: { inc: { run: (s) => ({ n: s.n + 1 }) }, deny: { authorize: () => false, run: (s) => s } },
  render: (s) => html`<i>${s.n}</i>`,
});

async function instance(store: Store, settings: Partial<LiveComponentsOptions>) {
  const events = memorySecurityEvents();
  const runtime = await testRuntime([counter], store, { ...settings, events });
  const app = Fastify();
  servers.push(app);
  await app.register(livecomponents, { runtime });
  app.get('/', async (request, reply) => {
    const view = await app.livecomponents.view(request, reply);
    return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('counter:main') }));
  });
  await app.ready();
  return { app, events };
}

const newStore = (): Store => {
  const store = createMemoryStore({ sweepIntervalMs: 0 });
  stores.push(store);
  return store;
};

async function act(app: FastifyInstance, client: TestClient, action = 'inc') {
  const res = await app.inject({
    method: 'POST',
    url: '/api/livecomponents/action',
    headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token },
    payload: JSON.stringify({ component_id: 'counter:main', action, params: {} }),
  });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

describe.each(['per-session', 'per-action'] as const)('a session that is gone, %s', (rotation) => {
  it('its 403 CSRF_TOKEN_INVALID carries no csrf_token (error, code, request_id only); one session_use_after_expire, no malicious_csrf', async () => {
    const settings = { sessionSecret: randomBytes(32).toString('base64'), stateKeys: randomBytes(32).toString('base64'), csrf: { rotation } };
    const pageSide = await instance(newStore(), settings);
    // Another store: the page's session does not exist there, as after its expiry or a sign-out.
    const gone = await instance(newStore(), settings);
    const client = await openClient(pageSide.app);
    const answers = [await act(gone.app, client), await act(gone.app, client)];
    for (const answer of answers) {
      expect(answer.status).toBe(403);
      expect(Object.keys(answer.body).sort()).toEqual(['code', 'error', 'request_id']);
      expect(answer.body.code).toBe('CSRF_TOKEN_INVALID');
    }
    expect(gone.events.events.map((e) => e.event)).toEqual(['session_use_after_expire', 'session_use_after_expire']);
  });

  it('a live session refused by the action\'s authorization still gets a csrf_token that works', async () => {
    const settings = { sessionSecret: randomBytes(32).toString('base64'), stateKeys: randomBytes(32).toString('base64'), csrf: { rotation } };
    const { app } = await instance(newStore(), settings);
    const client = await openClient(app);
    const refused = await act(app, client, 'deny');
    expect(refused.status).toBe(401);
    expect(typeof refused.body.csrf_token).toBe('string');
    client.token = refused.body.csrf_token as string;
    const next = await act(app, client);
    expect([next.status, next.body.state]).toEqual([200, { n: 1 }]);
  });
});
