/**
 * `registerApiCors` answers as `@fastify/cors` did with this module's delegator (the auth suite in
 * test/auth/cors.test.ts covers the app): the edges pinned here are strict preflights, `Vary`
 * merging, `config: { cors: false }` routes and paths outside the prefix.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, expect, it } from 'vitest';
import type { SecurityEvent } from '../ops/security-events.js';
import { registerApiCors } from './cors.js';

const ALLOWED = 'https://front.example.com';
let app: FastifyInstance;
let events: SecurityEvent[];

async function build(): Promise<FastifyInstance> {
  events = [];
  app = Fastify({ genReqId: (req) => String(req.headers['x-request-id'] ?? 'generated') });
  // Registered before CORS: its Vary is there when the CORS hook adds Origin.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.url === '/api/varied') reply.header('vary', 'Accept-Encoding');
    done();
  });
  await registerApiCors(app, { origins: new Set([ALLOWED]), events: { emit: (e) => void events.push(e) } });
  app.get('/api/thing', async () => ({ ok: true }));
  app.get('/api/off', { config: { cors: false } as never }, async () => 'off');
  app.get('/page', async () => 'page');
  app.get('/api/varied', async () => 'v');
  await app.ready();
  return app;
}

afterEach(async () => {
  await app.close();
});

it('echoes an allowed origin with credentials and the exposed headers, in one Vary: Origin', async () => {
  await build();
  const res = await app.inject({ method: 'GET', url: '/api/thing', headers: { origin: ALLOWED } });
  expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
  expect(res.headers['access-control-allow-credentials']).toBe('true');
  expect(res.headers['access-control-expose-headers']).toBe(
    'x-request-id, retry-after, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, ratelimit-policy, ratelimit, idempotent-replayed',
  );
  expect(res.headers.vary).toBe('Origin');
  const merged = await app.inject({ method: 'GET', url: '/api/varied', headers: { origin: ALLOWED } });
  expect(merged.headers.vary).toBe('Accept-Encoding, Origin');
});

it('answers a preflight with 204 and Content-Length 0, a preflight without a method with 400', async () => {
  await build();
  const ok = await app.inject({ method: 'OPTIONS', url: '/api/anything', headers: { origin: ALLOWED, 'access-control-request-method': 'POST' } });
  expect([ok.statusCode, ok.headers['content-length'], ok.body]).toEqual([204, '0', '']);
  expect(ok.headers['access-control-max-age']).toBe('600');
  const strict = await app.inject({ method: 'OPTIONS', url: '/api/anything', headers: { origin: ALLOWED, 'x-request-id': 'pf-1' } });
  // PROTOCOL's error shape, not the plugin's text/plain "Invalid Preflight Request".
  expect(strict.statusCode).toBe(400);
  expect(strict.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(strict.json()).toEqual({ error: 'A CORS preflight needs an Access-Control-Request-Method header.', code: 'INVALID_REQUEST', request_id: 'pf-1' });
  expect(strict.headers['access-control-max-age']).toBeUndefined();
  const refused = await app.inject({ method: 'OPTIONS', url: '/api/anything', headers: { origin: 'https://evil.test', 'access-control-request-method': 'POST' } });
  expect([refused.statusCode, refused.headers['access-control-allow-origin']]).toEqual([404, undefined]);
  expect(events.map((e) => e.event)).toEqual(['malicious_cors']);
});

it('adds only Vary: Origin outside the prefix, and nothing on a route with cors: false (which still logs)', async () => {
  await build();
  const page = await app.inject({ method: 'GET', url: '/page', headers: { origin: 'https://evil.test' } });
  expect([page.headers.vary, page.headers['access-control-allow-origin']]).toEqual(['Origin', undefined]);
  const off = await app.inject({ method: 'GET', url: '/api/off', headers: { origin: ALLOWED } });
  expect([off.headers.vary, off.headers['access-control-allow-origin']]).toEqual([undefined, undefined]);
  await app.inject({ method: 'GET', url: '/api/off', headers: { origin: 'https://evil.test' } });
  expect(events.map((e) => e.event)).toEqual(['malicious_cors']);
});
