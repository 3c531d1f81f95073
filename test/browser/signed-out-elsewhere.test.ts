/**
 * The reference app's /profile in Chromium after every sign-in of the account ended elsewhere (a
 * logout-all through the API, as a password reset does): the next action answers 401
 * `UNAUTHENTICATED`, and the runtime reloads the component, which then shows the signed-out view —
 * not the stale "Signed in as …" form until a manual reload. The page runs the runtime bundled from
 * the sources now (not dist/, which another build may be rewriting).
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTR, ROUTES } from '../../src/core/wire.js';
import { browserTestsEnabled, demoInChromium, freshClientBundle, openLive, recordEvents } from './browser.js';

const EMAIL = 'ada@example.com';
const PASSWORD = 'correct horse battery staple';

describe.runIf(browserTestsEnabled('signed out elsewhere in Chromium'))('signed out elsewhere in Chromium', () => {
  let demo: Awaited<ReturnType<typeof demoInChromium>>;
  let bundle: string;

  beforeAll(async () => {
    [demo, bundle] = await Promise.all([demoInChromium(), freshClientBundle()]);
    const registered = await fetch(`${demo.base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: EMAIL, password: PASSWORD, name: 'Ada' }),
    });
    expect(registered.status).toBe(201);
  });
  afterAll(async () => {
    await demo?.stop();
  });

  /** Ends every sign-in of the account, from outside the browser: an API sign-in, then logout-all. */
  async function signOutEverywhere(): Promise<void> {
    const login = await fetch(`${demo.base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
    });
    const { access_token: access } = (await login.json()) as { access_token: string };
    const all = await fetch(`${demo.base}/api/v1/auth/logout-all`, { method: 'POST', headers: { authorization: `Bearer ${access}` } });
    expect(all.status).toBe(204);
  }

  it('an action on /profile answers 401 UNAUTHENTICATED: the component is reloaded signed out, the nav and the status line say so', async () => {
    const browser: Browser = demo.browser;
    const context = await browser.newContext();
    await context.route(`${demo.base}${ROUTES.clientScript}*`, (route) => route.fulfill({ contentType: 'text/javascript', body: bundle }));
    const page = await context.newPage();
    const events = await recordEvents(page);
    await page.goto(`${demo.base}/login`);
    await page.locator('input[name="email"]').fill(EMAIL);
    await page.locator('input[name="password"]').fill(PASSWORD);
    await Promise.all([page.waitForURL(`${demo.base}/profile`), page.getByRole('button', { name: 'Sign in' }).click()]);
    await page.waitForFunction(() => window.LiveComponents !== undefined);
    expect(await page.locator('[data-email]').textContent()).toBe(EMAIL);

    await signOutEverywhere();
    const profile = page.locator(`[${ATTR.id}="profile:main"]`);
    await profile.locator('input[name="name"]').fill('Mallory');
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(ROUTES.action)),
      profile.getByRole('button', { name: 'Save' }).click(),
    ]);
    expect(answer.status()).toBe(401);
    await expect.poll(() => events.length).toBe(1);
    expect(events[0]).toMatchObject({ type: 'lc:error', target: 'profile:main', detail: { status: 401, code: 'UNAUTHENTICATED', reloaded: true } });

    // The component as a page view now renders it: signed out, with the way back in; no stale form.
    expect(await profile.locator('[data-signed-out]').textContent()).toBe('You are signed out. Sign in to see and edit your profile.');
    expect(await profile.locator('[data-email]').count()).toBe(0);
    expect(await profile.locator('form').count()).toBe(0);
    expect(await profile.getAttribute('aria-busy')).toBeNull();
    expect(await page.locator('[data-flash]').textContent()).toBe('This part of the page has been refreshed; check it before continuing. [UNAUTHENTICATED]');
    // The page's own script: the nav no longer names the account.
    expect(await page.locator('nav a[href="/login"]').textContent()).toBe('Sign in');
    expect(await page.locator('[data-nav-account]').count()).toBe(0);

    // What a reload shows, and the name was not changed.
    await page.reload();
    expect(await profile.locator('[data-signed-out]').count()).toBe(1);
    const signIn = await fetch(`${demo.base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
    });
    const { access_token: access } = (await signIn.json()) as { access_token: string };
    const me = await fetch(`${demo.base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${access}` } });
    expect(await me.json()).toMatchObject({ name: 'Ada' });
    await context.close();
  });

  it('the status line offers a sign-in link when the component could not be reloaded (reloaded: false)', async () => {
    const context = await demo.browser.newContext();
    await context.route(`${demo.base}${ROUTES.clientScript}*`, (route) => route.fulfill({ contentType: 'text/javascript', body: bundle }));
    const page = await context.newPage();
    await openLive(page, `${demo.base}/`);
    // As the page script gets it when the page fetched again no longer holds the component (a redirect to /login, say).
    await page.evaluate(() =>
      document.dispatchEvent(
        new CustomEvent('lc:error', {
          detail: { componentId: 'profile:main', action: 'rename', status: 401, code: 'UNAUTHENTICATED', error: 'You must be signed in to do this.', reloaded: false },
        }),
      ),
    );
    const flash = page.locator('[data-flash]');
    expect(await flash.textContent()).toBe('You must be signed in to do this. [UNAUTHENTICATED] Sign in');
    expect(await flash.getByRole('link', { name: 'Sign in' }).getAttribute('href')).toBe('/login');
    await context.close();
  });
});
