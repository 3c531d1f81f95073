/**
 * An app's own hook refusing an action by throwing a 4xx (an auth hook's 401, a rate limiter's 429)
 * goes to the action route's error handler, which since aec67ea answers a foreign source (cross-site,
 * an untrusted Origin) as the CSRF stage does: 403 `CSRF_TOKEN_INVALID` and one `malicious_csrf`.
 * Decided right (PROTOCOL §3: CSRF first; before aec67ea such a request was refused in the route's
 * onRequest before any preHandler ran): a foreign source learns nothing of the app's hook, and the
 * app's own pages still get its 401. A hook that sends its answer itself keeps it.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/core/wire.js';
import { livecomponents } from '../../src/http/plugin.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { testRuntime, tinyCounter } from '../helpers/demo.js';

const BODY = JSON.stringify({ component_id: 'counter:main', action: 'inc', params: {} });

describe('an app hook’s 4xx on the action route, from a foreign source', () => {
  let server: FastifyInstance;
  const events = memorySecurityEvents();

  beforeAll(async () => {
    server = Fastify();
    const runtime = await testRuntime([tinyCounter], createMemoryStore(), { events });
    server.addHook('preHandler', async (request, reply) => {
      if (request.headers['x-hook'] === 'throw') throw Object.assign(new Error('no user'), { statusCode: 401 });
      if (request.headers['x-hook'] === 'send') return reply.code(401).send({ error: 'no user', code: 'UNAUTHENTICATED' });
    });
    await server.register(livecomponents, { runtime });
    await server.ready();
  });
  afterAll(async () => {
    await server.close();
  });

  const post = (headers: Record<string, string>) =>
    server.inject({ method: 'POST', url: ROUTES.action, headers: { 'content-type': 'application/json', ...headers }, payload: BODY });

  it('thrown, from a foreign source: the CSRF refusal, one malicious_csrf; from the app’s origin: the hook’s 401, no event', async () => {
    const foreignSources: Record<string, string>[] = [{ 'sec-fetch-site': 'cross-site' }, { origin: 'https://evil.example' }];
    for (const foreign of foreignSources) {
      events.events.length = 0;
      const res = await post({ 'x-hook': 'throw', ...foreign });
      expect([res.statusCode, (res.json() as { code: string }).code]).toEqual([403, 'CSRF_TOKEN_INVALID']);
      expect(events.events.map((e) => e.event)).toEqual(['malicious_csrf']);
    }
    events.events.length = 0;
    const own = await post({ 'x-hook': 'throw', origin: 'http://localhost:3000' });
    expect([own.statusCode, (own.json() as { code: string }).code]).toEqual([401, 'UNAUTHENTICATED']);
    expect(events.events).toEqual([]);
  });

  it('sent by the hook itself: its own answer, whatever the source (no error handler, no event)', async () => {
    events.events.length = 0;
    const res = await post({ 'x-hook': 'send', 'sec-fetch-site': 'cross-site' });
    expect(res.statusCode).toBe(401);
    expect(events.events).toEqual([]);
  });
});
