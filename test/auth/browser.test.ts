/**
 * Signing in through the reference app's `/login` page in Chromium, editing the display name in
 * `profile:main`, signing out, and the profile action answering 401 afterwards.
 */
import { createServer } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTR, ROUTES } from '../../src/core/wire.js';
import { browserTestsEnabled, launchChromium } from '../browser/browser.js';
import { demoApp } from '../helpers/demo.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const PASSWORD = 'correct horse battery staple';

describe.runIf(browserTestsEnabled('sign-in and profile in Chromium'))('sign-in and profile in Chromium', () => {
  let demo: Awaited<ReturnType<typeof demoApp>>;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    const port = await freePort();
    demo = await demoApp({ HOST: '127.0.0.1', PORT: String(port) });
    await demo.app.listen({ port, host: '127.0.0.1' });
    base = `http://127.0.0.1:${port}`;
    browser = await launchChromium();
    const registered = await fetch(`${base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', password: PASSWORD, name: 'Ada' }),
    });
    expect(registered.status).toBe(201);
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.app.close();
  });

  it('signs in at /login, renames in profile:main, signs out, and the action then answers 401', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const actions: number[] = [];
    page.on('response', (r) => void (r.url().endsWith(ROUTES.action) && actions.push(r.status())));

    await page.goto(`${base}/login`);
    await page.locator('input[name="email"]').fill('Ada@Example.com');
    await page.locator('input[name="password"]').fill(PASSWORD);
    await Promise.all([page.waitForURL(`${base}/profile`), page.getByRole('button', { name: 'Sign in' }).click()]);
    await page.waitForFunction(() => window.LiveComponents !== undefined);
    expect(await page.locator('[data-email]').textContent()).toBe('ada@example.com');
    expect(await page.locator('[data-name]').textContent()).toBe('Ada');
    // The session cookie is HttpOnly: scripts do not see it.
    expect(await page.evaluate(() => document.cookie)).toBe('');
    const cookies = await context.cookies();
    expect(cookies.map((c) => c.name)).toEqual(['lc_session']);
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });

    const input = page.locator(`[${ATTR.id}="profile:main"] input[name="name"]`);
    await input.fill('Ada Lovelace');
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(ROUTES.action)),
      page.locator(`form[${ATTR.action}="rename"] [type="submit"]`).click(),
    ]);
    await expect.poll(() => page.locator('[data-name]').textContent()).toBe('Ada Lovelace');
    await page.reload();
    expect(await page.locator('[data-name]').textContent()).toBe('Ada Lovelace');

    await Promise.all([page.waitForURL(`${base}/login?signed_out`), page.getByTestId('sign-out').click()]);
    expect(await page.locator('[data-login-error]').textContent()).toBe('You are signed out.');
    await page.goto(`${base}/profile`);
    await page.waitForFunction(() => window.LiveComponents !== undefined);
    expect(await page.locator('[data-signed-out]').count()).toBe(1);
    const outcome = await page.evaluate(() => window.LiveComponents?.call('profile:main', 'rename', { name: 'Mallory' }));
    expect(outcome).toMatchObject({ type: 'error', detail: { status: 401, code: 'UNAUTHENTICATED' } });
    expect(actions).toEqual([200, 401]);

    const login = await fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', password: PASSWORD }),
    });
    const { access_token: access } = (await login.json()) as { access_token: string };
    const me = await fetch(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${access}` } });
    expect(await me.json()).toMatchObject({ name: 'Ada Lovelace' });
    await context.close();
  });
});
