/**
 * `@fastify/helmet` beside the plugin, registered before or after it (its onRequest hook reaches every
 * route either way). On pages its headers win over ours, each sent once: `setPageHeaders` sets only
 * what is not there yet, so helmet's CSP, `X-Frame-Options` and `Referrer-Policy` (`no-referrer`) are
 * sent, and ours only where helmet is off (`contentSecurityPolicy: false`); `Cache-Control: no-store`
 * stays ours. The action route keeps its no-store and nosniff beside helmet's headers. Nonces:
 * test/http/page-nonce.test.ts and test/browser/csp-nonce.test.ts.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryStore, DEFAULT_PAGE_HEADERS, html, livecomponents } from '../../src/index.js';
import { testRuntime, tinyCounter } from '../helpers/demo.js';
import { appsToClose, ecosystemApp, loadHelmet, openClient } from './app.js';

const apps = appsToClose();
afterEach(apps.closeAll);

const HELMET_CSP = /^default-src 'self';base-uri 'self';.*frame-ancestors 'self';.*script-src 'self';/;

async function start(order: 'before' | 'after', options: Record<string, unknown> = {}) {
  const helmet = await loadHelmet();
  return apps.track(await ecosystemApp({ [order]: (app: FastifyInstance) => app.register(helmet, options) }));
}

describe.each(['before', 'after'] as const)('@fastify/helmet registered %s the plugin', (order) => {
  it("a page: helmet's CSP, framing and referrer headers, once each; our no-store", async () => {
    const app = await start(order);
    const res = await app.inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-security-policy']).toMatch(HELMET_CSP);
    expect([res.headers['x-frame-options'], res.headers['referrer-policy'], res.headers['x-content-type-options'], res.headers['cache-control']]).toEqual([
      'SAMEORIGIN',
      'no-referrer',
      'nosniff',
      'no-store',
    ]);
    // One value each: no header was added twice.
    expect(Object.entries(res.headers).filter(([, value]) => Array.isArray(value))).toEqual([]);
  });

  it('an action: its no-store and nosniff beside helmet headers, PROTOCOL §3 body', async () => {
    const app = await start(order);
    const res = await (await openClient(app)).action('counter:main', 'inc');
    expect([res.statusCode, res.headers['cache-control'], res.headers['x-content-type-options'], res.headers['content-type']]).toEqual([
      200,
      'no-store',
      'nosniff',
      'application/json; charset=utf-8',
    ]);
    expect(res.headers['content-security-policy']).toMatch(HELMET_CSP);
    expect(Object.keys(res.json())).toEqual(['html', 'state', 'csrf_token']);
  });
});

it('helmet with contentSecurityPolicy: false: the page carries our CSP', async () => {
  const app = await start('before', { contentSecurityPolicy: false });
  const res = await app.inject({ url: '/' });
  expect(res.headers['content-security-policy']).toBe(DEFAULT_PAGE_HEADERS['content-security-policy']);
});

it("helmet's CSP wins over one given in pageHeaders", async () => {
  const helmet = await loadHelmet();
  const app = apps.track(Fastify());
  await app.register(helmet);
  await app.register(livecomponents, { runtime: await testRuntime([tinyCounter], createMemoryStore()), pageHeaders: { 'content-security-policy': "default-src 'none'" } });
  app.get('/', async (request, reply) => reply.type('text/html').send((await app.livecomponents.view(request, reply)).document({ title: 't', body: html`` })));
  const res = await app.inject({ url: '/' });
  expect(res.headers['content-security-policy']).toMatch(HELMET_CSP);
});
