/**
 * `app.livecomponents.verifyForm` and `switchUser`: an app with its own user store signs users in
 * and out of a components session (docs/auth.md, "Signing users in with your own user store"). The
 * app below is that page's example: a bare Fastify app, the plugin, one component whose action
 * needs a signed-in user, and its own `/login` and `/logout` routes.
 */
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/core/clock.js';
import { defineComponent, type User } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { livecomponents } from '../../src/http/plugin.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { createLiveComponents } from '../../src/runtime/setup.js';
import type { Session } from '../../src/index.js';

const APP = 'http://127.0.0.1:3000';
const ADMIN = 'https://admin.example.com';
const TTL_MS = 3_600_000;
const ACTION = '/api/livecomponents/action';

/** The app's own user store. */
const USERS: ReadonlyMap<string, { user: User; password: string }> = new Map([
  ['ada@example.com', { user: { id: 'u1', email: 'ada@example.com', name: 'Ada' }, password: 'correct horse' }],
]);

const secret = defineComponent({
  name: 'secret',
  initialState: { seen: 0 },
  publicState: ['seen'],
  actions: {
    reveal: { authorize: (ctx) => ctx.user !== null, run: (state) => ({ seen: state.seen + 1 }) },
  },
  render: (state) => html`<p>${state.seen}</p>`,
});

interface Form {
  _csrf_token?: string;
  email?: string;
  password?: string;
}

async function buildApp(rotation: 'per-session' | 'per-action' = 'per-session') {
  const clock = manualClock();
  const events = memorySecurityEvents();
  const runtime = await createLiveComponents({
    components: [secret],
    appOrigin: APP,
    allowedOrigins: ['HTTPS://Admin.Example.com:443/'],
    stateKeys: Buffer.alloc(32, 7).toString('base64'),
    sessionSecret: 'a session secret of at least 32 bytes',
    csrf: { rotation },
    clock,
    events,
    sessionTtlMs: TTL_MS,
    newSessionLimit: false,
    resolveUser: async (id) => [...USERS.values()].find((u) => u.user.id === id)?.user ?? null,
  });
  const app: FastifyInstance = Fastify();
  await app.register(livecomponents, { runtime });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  /** The sessions `switchUser` returned, newest last. */
  const switched: Session[] = [];

  app.get('/', async (request, reply) => {
    const view = await app.livecomponents.view(request, reply);
    const body = html`${await view.mount('secret:main')}<form method="post" action="/login"><input type="hidden" name="_csrf_token" value="${await view.formToken()}"></form>`;
    return reply.type('text/html').send(view.document({ title: 'Secret', body }));
  });
  app.post('/login', async (request, reply) => {
    const form = request.body as Form;
    const session = await app.livecomponents.verifyForm(request, form._csrf_token);
    if (session === null) return reply.code(403).send('This form expired: reload the page and try again.');
    const found = USERS.get(form.email ?? '');
    if (found === undefined || found.password !== form.password) return reply.code(401).send('Wrong email or password.');
    switched.push(await app.livecomponents.switchUser(reply, session, found.user.id));
    return reply.code(303).header('location', '/').send();
  });
  app.post('/logout', async (request, reply) => {
    const session = await app.livecomponents.verifyForm(request, (request.body as Form)._csrf_token);
    if (session === null) return reply.code(403).send('This form expired: reload the page and try again.');
    if (session.userId !== null) switched.push(await app.livecomponents.switchUser(reply, session, null));
    return reply.code(303).header('location', '/').send();
  });
  return { app, runtime, clock, events, switched };
}

const cookieOf = (res: LightMyRequestResponse) => /(lc_session=[^;]*)/.exec(String(res.headers['set-cookie'] ?? ''))?.[1];
const metaToken = (body: string) => /<meta name="csrf-token" content="([^"]+)"/.exec(body)?.[1] ?? '';
const formToken = (body: string) => /name="_csrf_token" value="([^"]+)"/.exec(body)?.[1] ?? '';

describe('verifyForm and switchUser', () => {
  let t: Awaited<ReturnType<typeof buildApp>>;
  beforeEach(async () => {
    t = await buildApp();
  });
  afterEach(() => t.app.close());

  /** A page view: the browser's cookie and the page's two tokens. */
  async function page(cookie?: string) {
    const res = await t.app.inject({ method: 'GET', url: '/', headers: cookie === undefined ? {} : { cookie } });
    expect(res.statusCode).toBe(200);
    return { cookie: cookieOf(res) ?? cookie ?? '', meta: metaToken(res.body), form: formToken(res.body) };
  }

  const post = (url: string, cookie: string, fields: Record<string, string>, headers: Record<string, string> = { origin: APP }) =>
    t.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...headers },
      payload: new URLSearchParams(fields).toString(),
    });

  const reveal = (p: { cookie: string; meta: string }) =>
    t.app.inject({
      method: 'POST',
      url: ACTION,
      headers: { 'content-type': 'application/json', cookie: p.cookie, 'x-csrf-token': p.meta, origin: APP },
      payload: JSON.stringify({ component_id: 'secret:main', action: 'reveal', params: {} }),
    });

  const login = (cookie: string, token: string, headers?: Record<string, string>) =>
    post('/login', cookie, { _csrf_token: token, email: 'ada@example.com', password: 'correct horse' }, headers);

  const eventNames = () => t.events.events.map((e) => e.event);

  it('signs in: 303, a new cookie, the old session gone, and the authorized action answers 200 (401 before)', async () => {
    const before = await page();
    expect((await reveal(before)).statusCode).toBe(401);
    const oldId = before.cookie.slice('lc_session='.length);

    const res = await login(before.cookie, before.form);
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/');
    const cookie = cookieOf(res);
    expect(cookie).toBeDefined();
    expect(cookie).not.toBe(before.cookie);
    expect(t.switched).toHaveLength(1);
    expect(t.switched[0]?.userId).toBe('u1');
    expect(cookie).toBe(`lc_session=${t.switched[0]?.id}`);
    expect(await t.runtime.sessions.load(oldId)).toBeNull();

    const after = await page(cookie);
    expect(after.cookie).toBe(cookie);
    expect((await reveal(after)).statusCode).toBe(200);
    // The old cookie's session and its tokens are gone: its action is refused.
    expect((await reveal(before)).statusCode).toBe(403);
    expect(eventNames().filter((e) => e === 'malicious_csrf')).toEqual([]);
  });

  it('signs out with switchUser(reply, session, null): a new anonymous session, and the action answers 401 again', async () => {
    const before = await page();
    const signedIn = await page(cookieOf(await login(before.cookie, before.form)));
    expect((await reveal(signedIn)).statusCode).toBe(200);

    const res = await post('/logout', signedIn.cookie, { _csrf_token: signedIn.form });
    expect(res.statusCode).toBe(303);
    const cookie = cookieOf(res);
    expect(cookie).toBeDefined();
    expect(cookie).not.toBe(signedIn.cookie);
    expect(t.switched.map((s) => s.userId)).toEqual(['u1', null]);
    expect(await t.runtime.sessions.load(signedIn.cookie.slice('lc_session='.length))).toBeNull();

    const after = await page(cookie);
    expect((await reveal(after)).statusCode).toBe(401);
    expect(eventNames()).toEqual([]);
  });

  it('a foreign Origin: null (403), no switch, exactly one malicious_csrf', async () => {
    const p = await page();
    t.events.events.length = 0;
    const res = await login(p.cookie, p.form, { origin: 'https://evil.example.com' });
    expect(res.statusCode).toBe(403);
    expect(cookieOf(res)).toBeUndefined();
    expect(t.switched).toEqual([]);
    expect(eventNames()).toEqual(['malicious_csrf']);
    expect(t.events.events[0]?.level).toBe('WARN');
  });

  it('Sec-Fetch-Site: cross-site without Origin: null, exactly one malicious_csrf', async () => {
    const p = await page();
    t.events.events.length = 0;
    expect((await login(p.cookie, p.form, { 'sec-fetch-site': 'cross-site' })).statusCode).toBe(403);
    expect(eventNames()).toEqual(['malicious_csrf']);
  });

  it('a wrong token, another session\'s token or none: null, one malicious_csrf each', async () => {
    const p = await page();
    const other = await page();
    t.events.events.length = 0;
    for (const token of [`${p.form.slice(0, -2)}xx`, other.form, '']) {
      expect((await login(p.cookie, token)).statusCode).toBe(403);
    }
    expect((await post('/login', p.cookie, { email: 'ada@example.com', password: 'correct horse' })).statusCode).toBe(403);
    expect(eventNames()).toEqual(['malicious_csrf', 'malicious_csrf', 'malicious_csrf', 'malicious_csrf']);
    expect(t.switched).toEqual([]);
  });

  it('no session cookie: null, one malicious_csrf', async () => {
    const p = await page();
    t.events.events.length = 0;
    expect((await login('', p.form)).statusCode).toBe(403);
    expect(eventNames()).toEqual(['malicious_csrf']);
  });

  it('an expired session (an old tab): null, exactly one session_use_after_expire and no malicious_csrf', async () => {
    const p = await page();
    t.events.events.length = 0;
    t.clock.advance(TTL_MS + 1);
    const res = await login(p.cookie, p.form);
    expect(res.statusCode).toBe(403);
    expect(cookieOf(res)).toBeUndefined();
    expect(eventNames()).toEqual(['session_use_after_expire']);
    expect(t.events.events[0]?.level).toBe('INFO');
  });

  it('trusts what the action route trusts: runtime.trustedOrigins, normalised, and a post from an allowed origin', async () => {
    expect([...t.runtime.trustedOrigins]).toEqual([APP, ADMIN]);
    const p = await page();
    t.events.events.length = 0;
    expect((await login(p.cookie, p.form, { origin: ADMIN })).statusCode).toBe(303);
    expect(t.events.events).toEqual([]);
  });
});

describe('verifyForm in strict CSRF mode (per-action)', () => {
  it("accepts the page's form token once, after the page's actions; a replay is malicious_csrf", async () => {
    const t = await buildApp('per-action');
    try {
      const res = await t.app.inject({ method: 'GET', url: '/' });
      const cookie = cookieOf(res) ?? '';
      const form = formToken(res.body);
      expect(form).not.toBe(metaToken(res.body));
      // The page's action spends the meta tag's token, not the form's.
      const action = await t.app.inject({
        method: 'POST',
        url: ACTION,
        headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': metaToken(res.body), origin: APP },
        payload: JSON.stringify({ component_id: 'secret:main', action: 'reveal', params: {} }),
      });
      expect(action.statusCode).toBe(401);
      t.events.events.length = 0;
      const fields = new URLSearchParams({ _csrf_token: form, email: 'ada@example.com', password: 'wrong' }).toString();
      const headers = { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: APP };
      // Verified (the password is then refused), and spent: the same token again is refused.
      expect((await t.app.inject({ method: 'POST', url: '/login', headers, payload: fields })).statusCode).toBe(401);
      expect((await t.app.inject({ method: 'POST', url: '/login', headers, payload: fields })).statusCode).toBe(403);
      expect(t.events.events.map((e) => e.event)).toEqual(['malicious_csrf']);
    } finally {
      await t.app.close();
    }
  });
});
