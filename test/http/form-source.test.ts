/**
 * `refuseForeignForms` (src/http/form-source.ts) on a form route of an app of its own, as a user of
 * `app.livecomponents.verifyForm` writes one: a foreign source gets the route's answer and one
 * `malicious_csrf` (verifyForm's description) before the parser and the handler; the app's own
 * origin goes on to both; without an answer, PROTOCOL §3's JSON 403. The reference app's routes:
 * test/auth/form-foreign-source.test.ts.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refuseForeignForms } from '../../src/http/form-source.js';
import { livecomponents } from '../../src/http/plugin.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { testRuntime, tinyCounter } from '../helpers/demo.js';

const EVIL = 'https://evil.example';
const FORM = 'application/x-www-form-urlencoded';
const REFUSED_TOKEN = 'Invalid security token. Please refresh the page.';
const CROSS_SITE_EVENT = 'Form post refused: Sec-Fetch-Site is cross-site';
const ORIGIN_EVENT = 'Form post refused: Origin header is not a trusted origin (trusted: http://localhost:3000): open the app at one of these, or set appOrigin/allowedOrigins';

describe('refuseForeignForms on an app’s own form route (verifyForm users)', () => {
  let server: FastifyInstance;
  const events = memorySecurityEvents();
  let handled = 0;

  beforeAll(async () => {
    server = Fastify();
    const runtime = await testRuntime([tinyCounter], createMemoryStore(), { events });
    await server.register(livecomponents, { runtime });
    await server.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 100 }, (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))));
      const refused = (reply: FastifyReply) => reply.code(403).type('text/html').send('<p>Refused</p>');
      scope.post('/contact', { onRequest: refuseForeignForms(runtime, (_request, reply) => refused(reply)) }, async (request, reply) => {
        handled += 1;
        const session = await server.livecomponents.verifyForm(request, (request.body as { _csrf_token?: unknown })._csrf_token);
        if (session === null) return refused(reply);
        return reply.send('ok');
      });
      scope.post('/default', { onRequest: refuseForeignForms(runtime) }, async () => 'not reached');
      scope.post('/throws', { onRequest: refuseForeignForms(runtime, () => { throw new Error('answer failed'); }) }, async () => 'not reached');
      scope.post('/rejects', { onRequest: refuseForeignForms(runtime, async () => { throw new Error('answer failed'); }) }, async () => 'not reached');
      // Forgot `.send()`: the reply is returned, never sent.
      scope.post('/unsent', { onRequest: refuseForeignForms(runtime, (_request, reply) => reply.code(303).header('location', '/')) }, async () => 'not reached');
      // One route for the form and its post, as many apps write it: the hook is on both methods.
      scope.route({ method: ['GET', 'POST'], url: '/page', onRequest: refuseForeignForms(runtime, (_request, reply) => refused(reply)), handler: async (request) => (request.method === 'GET' ? 'the form' : 'posted') });
    });
    await server.ready();
  });
  afterAll(async () => {
    await server.close();
  });

  const post = (url: string, headers: Record<string, string>, payload: string, type = FORM) =>
    server.inject({ method: 'POST', url, headers: { 'content-type': type, ...headers }, payload });

  it('a foreign post is refused with the route’s answer and one malicious_csrf, before the parser (an oversize body is not 413) and the handler', async () => {
    events.events.length = 0;
    const res = await post('/contact', { origin: EVIL }, `a=${'x'.repeat(500)}`);
    expect([res.statusCode, res.body, res.headers.connection, handled]).toEqual([403, '<p>Refused</p>', 'close', 0]);
    expect(events.events.map((e) => [e.event, e.description])).toEqual([['malicious_csrf', ORIGIN_EVENT]]);
  });

  it('a post from the app’s origin reaches the parser (413 over its limit) and the handler (verifyForm refuses a missing token, one event)', async () => {
    events.events.length = 0;
    expect((await post('/contact', { origin: 'http://localhost:3000' }, `a=${'x'.repeat(500)}`)).statusCode).toBe(413);
    expect(events.events).toEqual([]);
    const res = await post('/contact', { origin: 'http://localhost:3000' }, 'a=1');
    expect([res.statusCode, res.body, handled]).toEqual([403, '<p>Refused</p>', 1]);
    expect(events.events.map((e) => e.description)).toEqual(['Form post refused: no session']);
  });

  it('without an answer: PROTOCOL §3’s JSON 403 CSRF_TOKEN_INVALID', async () => {
    events.events.length = 0;
    const res = await post('/default', { 'sec-fetch-site': 'cross-site' }, 'hello', 'text/plain');
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'CSRF_TOKEN_INVALID', error: REFUSED_TOKEN });
    expect(res.headers.connection).toBe('close');
    expect(events.events.map((e) => [e.event, e.description])).toEqual([['malicious_csrf', CROSS_SITE_EVENT]]);
  });

  it('an answer that throws or rejects before answering: the error handler’s 500, never the parser or the handler (refused all the same, one event)', async () => {
    for (const url of ['/throws', '/rejects']) {
      events.events.length = 0;
      const res = await post(url, { origin: EVIL }, `a=${'x'.repeat(500)}`);
      expect([url, res.statusCode, res.body.includes('not reached'), res.headers.connection]).toEqual([url, 500, false, 'close']);
      expect(events.events.map((e) => e.event)).toEqual(['malicious_csrf']);
    }
  });

  it('an answer that resolves without sending: the error handler’s 500, not a connection left hanging until a timeout (one event)', async () => {
    events.events.length = 0;
    const res = await post('/unsent', { origin: EVIL }, 'a=1');
    expect([res.statusCode, res.body.includes('not reached'), res.headers.connection]).toEqual([500, false, 'close']);
    expect(events.events.map((e) => e.event)).toEqual(['malicious_csrf']);
  });

  it('a GET or HEAD of a route the hook is on goes on whatever its source: a link from another site is no form post (no refusal, no event); its POST is refused', async () => {
    events.events.length = 0;
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await server.inject({ method, url: '/page', headers: { origin: EVIL, 'sec-fetch-site': 'cross-site' } });
      expect([method, res.statusCode]).toEqual([method, 200]);
    }
    expect((await server.inject({ method: 'GET', url: '/page', headers: { 'sec-fetch-site': 'cross-site' } })).body).toBe('the form');
    expect(events.events).toEqual([]);
    const posted = await post('/page', { 'sec-fetch-site': 'cross-site' }, 'a=1');
    expect([posted.statusCode, posted.body]).toEqual([403, '<p>Refused</p>']);
    expect(events.events.map((e) => [e.event, e.description])).toEqual([['malicious_csrf', CROSS_SITE_EVENT]]);
  });
});
