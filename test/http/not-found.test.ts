/**
 * The app's not-found handler: 405 with `Allow` for a path other methods have, else 404 — and on the
 * action route's path, the headers security-headers.ts promises on every answer of that route.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROUTES } from '../../src/core/wire.js';
import { notFoundHandler } from '../../src/http/not-found.js';

let app: FastifyInstance;

beforeAll(async () => {
  app = Fastify();
  app.post(ROUTES.action, async () => ({ ok: true }));
  app.get('/page', async () => 'page');
  app.setNotFoundHandler(notFoundHandler(app));
  await app.ready();
});
afterAll(() => app?.close());

it('GET on the action route: 405, Allow: POST, with Cache-Control: no-store and X-Content-Type-Options: nosniff', async () => {
  const res = await app.inject({ method: 'GET', url: `${ROUTES.action}?x=1` });
  expect(res.statusCode).toBe(405);
  expect(res.json()).toMatchObject({ code: 'METHOD_NOT_ALLOWED' });
  expect(res.headers['allow']).toBe('POST');
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
});

it("another path's 405 and a 404 carry no such headers (the page's own headers are its view's)", async () => {
  const wrong = await app.inject({ method: 'DELETE', url: '/page' });
  expect([wrong.statusCode, wrong.headers['allow'], wrong.headers['cache-control']]).toEqual([405, 'GET, HEAD', undefined]);
  const missing = await app.inject({ method: 'GET', url: '/nowhere' });
  expect([missing.statusCode, missing.headers['cache-control']]).toEqual([404, undefined]);
});
