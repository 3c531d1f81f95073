/**
 * Two page views of one request without a session (a layout helper opening a view of its own beside
 * the route's, as page.ts's `mountedIdsOf` allows): one new session, one step of the client's
 * `newSessionLimit` budget, one cookie. Each view used to store a session of its own and take a step:
 * the second cookie replaced the first, so a page whose meta token came from the first view answered
 * every action 403 `CSRF_TOKEN_INVALID`, and the client's budget went half as far.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore, html, livecomponents, type PageView } from '../../src/index.js';
import { testRuntime, tinyCounter } from '../helpers/demo.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** `/`: a layout view (meta token, document) and a route view (the component), opened one after the other or together. */
async function start(together: boolean, limit = 10) {
  const store = createMemoryStore({ sweepIntervalMs: 0 });
  const runtime = await testRuntime([tinyCounter], store, { newSessionLimit: { limit, windowSeconds: 3600, exemptLoopback: false } });
  const server = Fastify();
  app = server;
  await server.register(livecomponents, { runtime });
  const sessions: string[][] = [];
  server.get('/', async (request, reply) => {
    let views: PageView[];
    if (together) views = await Promise.all([server.livecomponents.view(request, reply), server.livecomponents.view(request, reply)]);
    else views = [await server.livecomponents.view(request, reply), await server.livecomponents.view(request, reply)];
    const [layout, route] = views as [PageView, PageView];
    sessions.push([layout.session.id, route.session.id]);
    const body = await route.mount('counter:main');
    return reply.type('text/html').send(layout.document({ title: 't', body: html`<main>${body}</main>` }));
  });
  await server.ready();
  return { server, store, runtime, sessions };
}

const ACTION = JSON.stringify({ component_id: 'counter:main', action: 'inc', params: {} });

describe('two page views of one request without a session', () => {
  for (const together of [false, true]) {
    it(`${together ? 'opened together' : 'one after the other'}: one session, one budget step, one cookie; the page's actions work`, async () => {
      const { server, store, sessions } = await start(together);
      const steps = vi.spyOn(store, 'rateLimit');
      const sets = vi.spyOn(store, 'set');
      const batches = vi.spyOn(store, 'batch');
      const page = await server.inject({ url: '/', remoteAddress: '192.0.2.30' });
      expect(page.statusCode).toBe(200);
      // The step and the session's write it guards are one batch; nothing else steps or writes a session.
      const batched = batches.mock.calls.map(([ops]) => ops.map((op) => `${op.op}${op.key.endsWith(':session') ? ' session' : ''}`).join(','));
      expect(batched.filter((ops) => ops.includes('rateLimit') || ops.includes('session'))).toEqual(['rateLimit,setIfAllowed session']);
      expect(steps).not.toHaveBeenCalled();
      expect(sets.mock.calls.filter(([key]) => key.endsWith(':session'))).toHaveLength(0);
      const setCookie = page.headers['set-cookie'];
      const lines = Array.isArray(setCookie) ? setCookie : [String(setCookie)];
      expect(lines).toHaveLength(1);
      const cookie = String(lines[0]).split(';')[0] as string;
      expect(sessions).toEqual([[cookie.slice('lc_session='.length), cookie.slice('lc_session='.length)]]);
      const token = /<meta name="csrf-token" content="([^"]+)"/.exec(page.body)?.[1] ?? '';
      const action = await server.inject({
        method: 'POST',
        url: '/api/livecomponents/action',
        remoteAddress: '192.0.2.30',
        headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': token },
        payload: ACTION,
      });
      expect([action.statusCode, action.json<{ state?: unknown }>().state]).toEqual([200, { n: 1 }]);
    });
  }

  it('the budget counts visits, not views: a limit of 3 admits 3 such pages, then 429 once per page (one event)', async () => {
    const { server, runtime } = await start(false, 3);
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await server.inject({ url: '/', remoteAddress: '192.0.2.31' })).statusCode);
    expect(codes).toEqual([200, 200, 200, 429]);
    const events = (runtime.events as unknown as { events: { event: string }[] }).events;
    expect(events.filter((e) => e.event === 'excess_rate_limit_exceeded')).toHaveLength(1);
  });
});
