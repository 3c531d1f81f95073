/**
 * Security headers: every page served through `view()` refuses framing by other origins
 * (clickjacking), pins `<base>`, forbids sniffing and shared caching; every action answer — success or
 * error, however early it was refused — is `no-store` and `nosniff`. An app can change the page set.
 */
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStore, livecomponents, serverOptions } from '../../src/index.js';
import { counter } from '../../examples/demo/components/counter.js';
import { DEMO_CONTENT_SECURITY_POLICY } from '../../examples/demo/app.js';
import { demoApp, testRuntime } from '../helpers/demo.js';

const PAGE = {
  'content-security-policy': "base-uri 'self'; frame-ancestors 'self'",
  'x-frame-options': 'SAMEORIGIN',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'strict-origin-when-cross-origin',
  'cache-control': 'no-store',
};
const ACTION = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

type Demo = Awaited<ReturnType<typeof demoApp>>;
let demo: Demo;
beforeAll(async () => {
  demo = await demoApp();
});
afterAll(async () => {
  await demo?.app.close();
});

describe('security headers of the reference app', () => {
  it('on every page with components and the sign-in page', async () => {
    for (const url of ['/', '/orders', '/payment', '/login']) {
      const res = await demo.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      // The reference app's own policy in place of the default one (examples/demo/page-policy.test.ts).
      expect(res.headers, url).toMatchObject({ ...PAGE, 'content-security-policy': DEMO_CONTENT_SECURITY_POLICY });
    }
  });

  it('on every action answer: success, CSRF refusal, validation failure, unknown action, bad JSON, wrong media type, too large', async () => {
    const client = await demo.client('/orders');
    const answers = [
      await client.action('order:main', 'createOrder', { item: 'tea' }),
      await client.action('order:main', 'createOrder', { item: '' }),
      await client.action('order:main', 'nope'),
      await client.action('order:main', 'createOrder', { item: 'tea' }, { headers: { 'x-csrf-token': 'forged' } }),
      await demo.app.inject({ method: 'POST', url: '/api/livecomponents/action', headers: { 'content-type': 'application/json', cookie: client.cookie }, payload: '{oops' }),
      await demo.app.inject({ method: 'POST', url: '/api/livecomponents/action', headers: { 'content-type': 'text/plain', cookie: client.cookie }, payload: 'x' }),
      await demo.app.inject({ method: 'POST', url: '/api/livecomponents/action', headers: { 'content-type': 'application/json' }, payload: `{"pad":"${'x'.repeat(1_048_577)}"}` }),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([200, 400, 404, 403, 400, 415, 413]);
    for (const answer of answers) expect(answer.headers, answer.body.slice(0, 80)).toMatchObject(ACTION);
  });
});

describe('pageHeaders option', () => {
  it('changes and drops page headers; the action headers stay', async () => {
    const runtime = await testRuntime([counter], createMemoryStore(), { appOrigin: 'http://localhost', events: { emit() {} } });
    const app = Fastify(serverOptions());
    await app.register(livecomponents, { runtime, pageHeaders: { 'content-security-policy': "default-src 'self'; frame-ancestors 'none'", 'x-frame-options': 'DENY', 'referrer-policy': false } });
    app.get('/', async (request, reply) => {
      const view = await app.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('counter:main') }));
    });
    try {
      const page = await app.inject({ method: 'GET', url: '/' });
      expect(page.headers).toMatchObject({ 'content-security-policy': "default-src 'self'; frame-ancestors 'none'", 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
      expect(page.headers['referrer-policy']).toBeUndefined();
      const action = await app.inject({ method: 'POST', url: '/api/livecomponents/action', headers: { 'content-type': 'application/json' }, payload: '{}' });
      expect(action.headers).toMatchObject(ACTION);
      await expect(Fastify().register(livecomponents, { runtime, pageHeaders: { 'x-a': 'a\r\nset-cookie: b=c' } }).ready()).rejects.toThrow(TypeError);
    } finally {
      await app.close();
    }
  });

  it('a header the app set for this request (a nonce CSP from an onRequest hook, as @fastify/helmet does) wins; a shared-cacheable cache-control does not', async () => {
    const runtime = await testRuntime([counter], createMemoryStore(), { appOrigin: 'http://localhost', events: { emit() {} } });
    const app = Fastify(serverOptions());
    const strict = "default-src 'self'; script-src 'self' 'nonce-abc'; frame-ancestors 'none'";
    app.addHook('onRequest', async (_request, reply) => {
      reply.header('content-security-policy', strict).header('x-frame-options', 'DENY').header('cache-control', 'public, max-age=300');
    });
    await app.register(livecomponents, { runtime });
    app.get('/', async (request, reply) => {
      const view = await app.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('counter:main') }));
    });
    try {
      const page = await app.inject({ method: 'GET', url: '/' });
      expect(page.statusCode).toBe(200);
      expect(page.headers).toMatchObject({ 'content-security-policy': strict, 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
      await expect(Fastify().register(livecomponents, { runtime, pageHeaders: { 'cache-control': 'public, max-age=300' } }).ready()).rejects.toThrow(TypeError);
    } finally {
      await app.close();
    }
  });

  it('may loosen cache-control for signed-out pages only: a signed-in page stays no-store', async () => {
    const runtime = await testRuntime([counter], createMemoryStore(), {
      appOrigin: 'http://localhost',
      events: { emit() {} },
      resolveUser: (id: string) => Promise.resolve({ id, email: 'ada@example.com', name: 'Ada' }),
    });
    const app = Fastify(serverOptions());
    await app.register(livecomponents, { runtime, pageHeaders: { 'cache-control': 'private, max-age=60' } });
    app.get('/', async (request, reply) => {
      const view = await app.livecomponents.view(request, reply);
      return reply.type('text/html').send(view.document({ title: 't', body: await view.mount('counter:main') }));
    });
    try {
      const anonymous = await app.inject({ method: 'GET', url: '/' });
      expect(anonymous.headers['cache-control']).toBe('private, max-age=60');
      const signedIn = await runtime.sessions.regenerate(null, 'user-1');
      const page = await app.inject({ method: 'GET', url: '/', cookies: { [app.livecomponents.cookie.name]: signedIn.id } });
      expect(page.statusCode).toBe(200);
      expect(page.headers['set-cookie']).toBeUndefined();
      expect(page.headers['cache-control']).toBe('no-store');
    } finally {
      await app.close();
    }
  });
});
