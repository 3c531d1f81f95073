/** Test helpers: the reference app with throwaway keys, driven through Fastify `inject`. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { createDemoApp, type DemoAppOptions } from '../../examples/demo/app.js';
import { defineComponent, type ComponentDefinition } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { livecomponents } from '../../src/http/plugin.js';
import { loadConfig } from '../../src/ops/config.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createLiveComponents, type LiveComponentsOptions } from '../../src/runtime/setup.js';
import type { Store } from '../../src/store/types.js';

/** The smallest component with an action (`counter`, state `{ n }`, action `inc`), for tests of the plugin around it. */
export const tinyCounter = defineComponent({
  name: 'counter',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: { inc: { run: (s) => ({ n: s.n + 1 }) } },
  render: (s) => html`<i>${s.n}</i>`,
});

export interface TestClient {
  cookie: string;
  token: string;
  /** POSTs an action with this client's cookie and latest CSRF token. */
  action(
    componentId: string,
    action: string,
    params?: unknown,
    extra?: { headers?: Record<string, string>; body?: Record<string, unknown> },
  ): Promise<LightMyRequestResponse>;
}

/** The reference app on a SQLite file of its own, with fresh keys; `auth`: the auth module's options (cheap password hashing, say). */
export async function demoApp(env: Record<string, string> = {}, framework: Partial<LiveComponentsOptions> = {}, auth?: DemoAppOptions['auth']) {
  const events = memorySecurityEvents();
  const dataDir = mkdtempSync(join(tmpdir(), 'lc-test-'));
  const config = loadConfig({
    LC_STATE_KEYS: randomBytes(32).toString('base64'),
    LC_SESSION_SECRET: randomBytes(32).toString('base64'),
    // The embedded default (a SQLite file), in a folder of this test's own.
    DATABASE_URL: `sqlite:${join(dataDir, 'test.db')}`,
    ...env,
  });
  const app = await createDemoApp({
    config,
    framework: { events, dataDir, ...framework },
    ...(auth === undefined ? {} : { auth }),
  });
  await app.ready();
  return { app, events, config, client: (path = '/', ip?: string) => openClient(app, path, ip) };
}

/** A runtime with throwaway keys, as an app of the README builds it (origin http://localhost:3000). */
export function testRuntime(components: readonly ComponentDefinition[], store: Store, extra: Partial<LiveComponentsOptions> = {}): ReturnType<typeof createLiveComponents> {
  return createLiveComponents({
    components,
    store,
    appOrigin: 'http://localhost:3000',
    stateKeys: randomBytes(32).toString('base64'),
    sessionSecret: randomBytes(32).toString('base64'),
    events: memorySecurityEvents(),
    ...extra,
  });
}

/** A bare Fastify app with the plugin and one component on `store`, mounted as `<name>:main` on `/`. */
export async function oneComponentApp(component: ComponentDefinition, store: Store): Promise<FastifyInstance> {
  const server = Fastify();
  const runtime = await testRuntime([component], store);
  await server.register(livecomponents, { runtime });
  server.get('/', async (request, reply) => {
    const view = await server.livecomponents.view(request, reply);
    return reply.type('text/html').send(view.document({ title: 't', body: await view.mount(`${component.name}:main`) }));
  });
  await server.ready();
  return server;
}

export async function openClient(app: FastifyInstance, path = '/', remoteAddress?: string): Promise<TestClient> {
  const page = await app.inject({ method: 'GET', url: path, remoteAddress });
  if (page.statusCode !== 200) throw new Error(`GET ${path} answered ${page.statusCode}`);
  const setCookie = page.headers['set-cookie'];
  const cookie = (Array.isArray(setCookie) ? setCookie : [setCookie ?? ''])
    .map((c) => c.split(';')[0])
    .join('; ');
  const token = /<meta name="csrf-token" content="([^"]+)"/.exec(page.body)?.[1];
  if (!token) throw new Error('no csrf token in the page');
  const client: TestClient = {
    cookie,
    token,
    async action(componentId, action, params = {}, extra = {}) {
      const res = await app.inject({
        method: 'POST',
        url: '/api/livecomponents/action',
        remoteAddress,
        headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token, ...extra.headers },
        payload: JSON.stringify({ component_id: componentId, action, params, ...extra.body }),
      });
      const fresh = res.statusCode === 200 ? (res.json() as { csrf_token?: string }).csrf_token : undefined;
      if (fresh) client.token = fresh;
      return res;
    },
  };
  return client;
}

/**
 * The whole environment of a reference-app process a test spawns: a development app on a free
 * loopback port, JSON logs, a fresh SQLite file under `dataDir`, fresh keys, and nothing from the
 * developer's shell (REDIS_URL, METRICS_PORT…) beyond PATH and HOME.
 */
export function spawnedAppEnv(dataDir: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    PORT: '0',
    HOST: '127.0.0.1',
    NODE_ENV: 'development',
    LOG_FORMAT: 'json',
    DATABASE_URL: `sqlite:${join(dataDir, 'app.db')}`,
    LC_STATE_KEYS: randomBytes(32).toString('base64'),
    LC_SESSION_SECRET: randomBytes(32).toString('base64'),
    ...env,
  };
}
