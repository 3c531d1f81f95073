/**
 * `switchUser` then `view()` in one request (src/http/forms.ts, plugin.ts): a route that signs a user
 * in (or out) and renders the page at once, rather than redirecting. The view read the request's old
 * cookie, whose session `switchUser` had just ended, found none, and stored a new anonymous session
 * whose `Set-Cookie` replaced the switched one: the page showed nobody signed in, and so did every
 * request after (the browser held the anonymous cookie) — and the view spent a step of
 * `newSessionLimit`. Now the view is the switched session's: its user, its one cookie, no session more.
 */
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { html } from '../../src/core/html.js';
import { livecomponents } from '../../src/http/plugin.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import type { Store } from '../../src/store/types.js';
import { testRuntime, tinyCounter } from '../helpers/demo.js';

const APP = 'http://localhost:3000';
const FORM = 'application/x-www-form-urlencoded';
const ADA = { id: 'u1', email: 'ada@example.com', name: 'Ada' };

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** An app whose `/login` and `/logout` answer with the page itself, rendered after `switchUser`. */
async function start() {
  const store: Store = createMemoryStore({ sweepIntervalMs: 0 });
  const runtime = await testRuntime([tinyCounter], store, {
    resolveUser: async (id) => (id === ADA.id ? ADA : null),
    newSessionLimit: { limit: 2, windowSeconds: 3600, exemptLoopback: false },
  });
  const server = Fastify();
  app = server;
  await server.register(livecomponents, { runtime });
  server.addContentTypeParser(FORM, { parseAs: 'string' }, (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))));
  /** The page: who is signed in, its session, the counter and the form token. */
  const page = async (request: Parameters<typeof server.livecomponents.view>[0], reply: Parameters<typeof server.livecomponents.view>[1]) => {
    const view = await server.livecomponents.view(request, reply);
    const body = html`<p data-user="${view.user?.id ?? 'nobody'}" data-session="${view.session.id}"></p>${await view.mount('counter:main')}<input name="_csrf_token" value="${await view.formToken()}">`;
    return reply.type('text/html').send(view.document({ title: 't', body }));
  };
  server.get('/', page);
  for (const [url, userId] of [['/login', ADA.id], ['/logout', null]] as const) {
    server.post(url, async (request, reply) => {
      const session = await server.livecomponents.verifyForm(request, (request.body as { _csrf_token?: string })._csrf_token);
      if (session === null) return reply.code(403).send('refused');
      switched.push((await server.livecomponents.switchUser(reply, session, userId)).id);
      return page(request, reply);
    });
  }
  const switched: string[] = [];
  await server.ready();
  return { server, store, switched };
}

const IP = '192.0.2.60';
const sessionCookies = (res: LightMyRequestResponse): string[] => {
  const lines = res.headers['set-cookie'];
  return (Array.isArray(lines) ? lines : lines === undefined ? [] : [lines]).map((line) => line.split(';')[0] ?? '').filter((c) => c.startsWith('lc_session='));
};
const shown = (res: LightMyRequestResponse) => ({
  user: /data-user="([^"]*)"/.exec(res.body)?.[1],
  session: /data-session="([^"]*)"/.exec(res.body)?.[1],
  token: /name="_csrf_token" value="([^"]*)"/.exec(res.body)?.[1] ?? '',
});

describe('switchUser then view() in one request', () => {
  it('sign-in: the page is the signed-in session’s, its one cookie the switched session, no other session stored; the next request is signed in', async () => {
    const { server, store, switched } = await start();
    const first = await server.inject({ url: '/', remoteAddress: IP });
    const cookie = sessionCookies(first)[0] ?? '';
    const sessionSets = vi.spyOn(store, 'set');
    const limitSteps = vi.spyOn(store, 'rateLimit');
    const signedIn = await server.inject({
      method: 'POST',
      url: '/login',
      remoteAddress: IP,
      headers: { cookie, 'content-type': FORM, origin: APP },
      payload: new URLSearchParams({ _csrf_token: shown(first).token }).toString(),
    });
    expect(signedIn.statusCode).toBe(200);
    expect(switched).toHaveLength(1);
    expect(sessionCookies(signedIn)).toEqual([`lc_session=${switched[0]}`]);
    expect([shown(signedIn).user, shown(signedIn).session]).toEqual([ADA.id, switched[0]]);
    // The regenerated session is the one stored; no new-session step taken.
    expect(sessionSets.mock.calls.filter(([key]) => key.endsWith(':session'))).toHaveLength(1);
    expect(limitSteps).not.toHaveBeenCalled();
    const next = await server.inject({ url: '/', remoteAddress: IP, headers: { cookie: sessionCookies(signedIn)[0] ?? '' } });
    expect([next.statusCode, shown(next).user, shown(next).session, sessionCookies(next)]).toEqual([200, ADA.id, switched[0], []]);
  });

  it('sign-out: the page is the new anonymous session’s, its one cookie; signed in no more, and no third session', async () => {
    const { server, store, switched } = await start();
    const first = await server.inject({ url: '/', remoteAddress: IP });
    const post = (url: string, cookie: string, token: string) =>
      server.inject({ method: 'POST', url, remoteAddress: IP, headers: { cookie, 'content-type': FORM, origin: APP }, payload: new URLSearchParams({ _csrf_token: token }).toString() });
    const signedIn = await post('/login', sessionCookies(first)[0] ?? '', shown(first).token);
    const sessionSets = vi.spyOn(store, 'set');
    const signedOut = await post('/logout', sessionCookies(signedIn)[0] ?? '', shown(signedIn).token);
    expect(signedOut.statusCode).toBe(200);
    expect(switched).toHaveLength(2);
    expect(sessionCookies(signedOut)).toEqual([`lc_session=${switched[1]}`]);
    expect([shown(signedOut).user, shown(signedOut).session]).toEqual(['nobody', switched[1]]);
    expect(sessionSets.mock.calls.filter(([key]) => key.endsWith(':session'))).toHaveLength(1);
  });
});
