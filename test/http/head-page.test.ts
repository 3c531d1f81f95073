/**
 * A cookie-less HEAD of a page stores nothing: its page view says so (`unstoredReason: 'head'`), so
 * the reference layout shows no "too many new visits" notice for it, and its answer announces no
 * Content-Length (GET's page, with a token and a cookie, would have another: RFC 9110 §8.6). A GET
 * past the new-session limit gets no page: 429, also in an app that kept Fastify's own error handler.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { livecomponents } from '../../src/http/plugin.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createLiveComponents } from '../../src/runtime/setup.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { counter } from '../../examples/demo/components/counter.js';
import { layout } from '../../examples/demo/layout.js';

let app: FastifyInstance;

beforeAll(async () => {
  app = Fastify();
  const runtime = await createLiveComponents({
    components: [counter],
    store: createMemoryStore(),
    appOrigin: 'http://localhost:3000',
    stateKeys: randomBytes(32).toString('base64'),
    sessionSecret: randomBytes(32).toString('base64'),
    events: memorySecurityEvents(),
    newSessionLimit: { limit: 1, windowSeconds: 60, exemptLoopback: false },
  });
  await app.register(livecomponents, { runtime });
  app.get('/', async (request, reply) => {
    const view = await app.livecomponents.view(request, reply);
    const page = layout(view, { title: 'Counter', path: '/', body: await view.mount('counter:main') });
    // The view's reason, for the HEAD answers that carry no body.
    reply.header('x-test-reason', String(view.unstoredReason));
    return reply.type('text/html; charset=utf-8').send(page);
  });
  await app.ready();
});
afterAll(() => app?.close());

it('a cookie-less HEAD: 200, unstoredReason "head", no Content-Length, no cookie', async () => {
  const head = await app.inject({ method: 'HEAD', url: '/', remoteAddress: '192.0.2.1' });
  expect(head.statusCode).toBe(200);
  expect(head.headers['x-test-reason']).toBe('head');
  expect(head.headers['content-length']).toBeUndefined();
  expect(head.headers['set-cookie']).toBeUndefined();
  expect(head.headers['content-type']).toBe('text/html; charset=utf-8');
});

it('GET: stored (reason null, its Content-Length); past the new-session limit: 429 with Retry-After under Fastify\'s own error handler', async () => {
  const first = await app.inject({ method: 'GET', url: '/', remoteAddress: '192.0.2.2' });
  expect(first.headers['x-test-reason']).toBe('null');
  expect(first.headers['content-length']).toBe(String(Buffer.byteLength(first.body)));
  const second = await app.inject({ method: 'GET', url: '/', remoteAddress: '192.0.2.2' });
  expect(second.statusCode).toBe(429);
  expect(second.headers['retry-after']).toBe('60');
  expect(second.headers['set-cookie']).toBeUndefined();
  expect(second.headers['x-test-reason']).toBeUndefined();
  expect(second.json()).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED', message: 'Too many requests. Please wait and try again.' });
});

it('a HEAD with a session announces its length as GET does', async () => {
  const get = await app.inject({ method: 'GET', url: '/', remoteAddress: '192.0.2.3' });
  const cookie = String(get.headers['set-cookie']).split(';')[0]!;
  const head = await app.inject({ method: 'HEAD', url: '/', remoteAddress: '192.0.2.3', headers: { cookie } });
  expect(head.headers['x-test-reason']).toBe('null');
  expect(head.headers['content-length']).toBe(get.headers['content-length']);
});
