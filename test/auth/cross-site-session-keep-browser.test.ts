/**
 * No other site can sign a user of the reference app out by making the browser replace its session
 * cookie (f47c4af: the sign-in page's view, rendered for a cookie-less cross-site POST, set a new
 * `lc_session` over the browser's). In Chromium, a signed-in user opens pages of another site
 * (`http://localhost:…` against the app on `http://127.0.0.1:…`: another site) that post forms to every
 * POST route of the app (top level, in a new window, into a frame) and embed its pages in frames. A
 * top-level cross-site POST carries no `SameSite=Lax` cookie but its answer's `Set-Cookie` is stored:
 * every such answer must set none. A framed page's answer does set one (no cookie came with it), and
 * Chromium does not store a `SameSite=Lax` cookie from a cross-site frame: pinned here too. After
 * each, the session cookie is the one the sign-in set and still signed in. On the source before
 * f47c4af the `/login` cases fail (the 403 page's Set-Cookie replaced the session).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsEnabled, demoInChromium } from '../browser/browser.js';

const PASSWORD = 'correct horse battery staple';
const MANY = { limit: 10_000, windowSeconds: 60 };

/** An auto-submitted form of another site: `target` `_self` (top level), `_blank` or a frame. */
const autoPost = (action: string, target: string, enctype = 'application/x-www-form-urlencoded') =>
  `${target === 'frame' ? '<iframe name="frame"></iframe>' : ''}<form method="post" target="${target}" enctype="${enctype}" action="${action}">
<input name="email" value="mallory@example.com"><input name="password" value="x"></form><script>document.forms[0].submit()</script>`;

/** Each case: the other site's page for the app at `app`, and the path of the app's last answer it causes. */
const CASES: Record<string, { page: (app: string) => string; last: string }> = {
  'POST /login, top level': { page: (a) => autoPost(`${a}/login`, '_self'), last: '/login?sign_in_refused' },
  'POST /login, a new window': { page: (a) => autoPost(`${a}/login`, '_blank'), last: '/login?sign_in_refused' },
  'POST /login, into a frame': { page: (a) => autoPost(`${a}/login`, 'frame'), last: '/login?sign_in_refused' },
  'POST /login, text/plain': { page: (a) => autoPost(`${a}/login`, '_self', 'text/plain'), last: '/login?sign_in_refused' },
  'POST /logout, top level': { page: (a) => autoPost(`${a}/logout`, '_self'), last: '/login?sign_out_refused' },
  'POST / (a page: 405)': { page: (a) => autoPost(`${a}/`, '_self'), last: '/' },
  'POST /profile (405)': { page: (a) => autoPost(`${a}/profile`, '_self'), last: '/profile' },
  'POST to no route (404)': { page: (a) => autoPost(`${a}/nothing`, '_self'), last: '/nothing' },
  'POST the action route': { page: (a) => autoPost(`${a}/api/livecomponents/action`, '_self', 'text/plain'), last: '/api/livecomponents/action' },
  'POST /api/v1/auth/login': { page: (a) => autoPost(`${a}/api/v1/auth/login`, '_self', 'text/plain'), last: '/api/v1/auth/login' },
  'POST /api/v1/auth/refresh-token': { page: (a) => autoPost(`${a}/api/v1/auth/refresh-token`, '_self'), last: '/api/v1/auth/refresh-token' },
  'POST /api/v1/auth/logout': { page: (a) => autoPost(`${a}/api/v1/auth/logout`, '_self'), last: '/api/v1/auth/logout' },
  '/login in a frame (its answer sets a cookie: not stored)': { page: (a) => `<iframe src="${a}/login"></iframe>`, last: '/login' },
  '/ in a frame': { page: (a) => `<iframe src="${a}/"></iframe>`, last: '/' },
};

describe.runIf(browserTestsEnabled('cross-site pages cannot replace the session in Chromium'))('cross-site pages cannot replace the session in Chromium', () => {
  let demo: Awaited<ReturnType<typeof demoInChromium>>;
  let other: Server;
  let otherBase = '';
  let context: BrowserContext;
  const pages = new Map<string, string>();

  beforeAll(async () => {
    demo = await demoInChromium({ limits: { login: MANY, register: MANY } } as never);
    other = createServer((req, res) => void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><body>${pages.get(req.url ?? '') ?? ''}</body>`));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', () => resolve()));
    otherBase = `http://localhost:${(other.address() as AddressInfo).port}`;
    const registered = await fetch(`${demo.base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', password: PASSWORD, name: 'Ada' }),
    });
    expect(registered.status).toBe(201);
    context = await demo.browser.newContext();
    const page = await context.newPage();
    await page.goto(`${demo.base}/login`);
    await page.locator('input[name="email"]').fill('ada@example.com');
    await page.locator('input[name="password"]').fill(PASSWORD);
    await Promise.all([page.waitForURL(`${demo.base}/profile`), page.getByRole('button', { name: 'Sign in' }).click()]);
  });
  afterAll(async () => {
    other?.close();
    await demo?.stop();
  });

  const sessionCookie = async () => (await context.cookies(demo.base)).find((c) => c.name === 'lc_session')?.value;

  for (const [name, { page: make, last }] of Object.entries(CASES)) {
    it(`${name}: the browser keeps its session, still signed in`, async () => {
      const before = await sessionCookie();
      expect(before).toBeDefined();
      const path = `/${encodeURIComponent(name)}`;
      pages.set(path, make(demo.base));
      const page = await context.newPage();
      const answered = context.waitForEvent('response', (r) => r.url() === `${demo.base}${last}`);
      await page.goto(`${otherBase}${path}`, { waitUntil: 'commit' });
      // Its headers are in (a framed page's body never comes: the app's frame-ancestors refuses it), and
      // with them the Set-Cookie Chromium stored or refused.
      await (await answered).allHeaders();
      expect(await sessionCookie()).toBe(before);
      const login = await fetch(`${demo.base}/login`, { headers: { cookie: `lc_session=${before}` } });
      expect(await login.text()).toContain('data-email');
      await page.close();
    });
  }
});
