/**
 * Signing in through the reference app's `/login` page in Chromium, editing the display name in
 * `profile:main`, signing out, and the profile action answering 401 afterwards; and a password
 * reset through `/forgot-password`, the mailed link and `/reset-password`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { freePort } from '../helpers/ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoApp } from '../../examples/demo/app.js';
import { capturedMailTransport } from '../../src/auth/index.js';
import { FORGOT_PASSWORD_ANSWER } from '../../src/auth/routes.js';
import { ATTR, ROUTES } from '../../src/core/wire.js';
import { loadConfig } from '../../src/ops/config.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { browserTestsEnabled, launchChromium } from '../browser/browser.js';


const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new password';

/** The reference app on `port` with a captured mail transport and every log line kept (like test/helpers/demo.ts). */
async function startDemo(port: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'lc-test-'));
  const config = loadConfig({
    LC_STATE_KEYS: randomBytes(32).toString('base64'),
    LC_SESSION_SECRET: randomBytes(32).toString('base64'),
    DATABASE_URL: `sqlite:${join(dataDir, 'test.db')}`,
    HOST: '127.0.0.1',
    PORT: String(port),
  });
  const logs: string[] = [];
  const mail = capturedMailTransport();
  const app: FastifyInstance = await createDemoApp({
    config,
    loggerInstance: pino({ level: 'trace' }, { write: (line: string) => void logs.push(line) }),
    framework: { events: memorySecurityEvents(), dataDir },
    auth: { mail, password: { memoryCost: 1024, timeCost: 1, parallelism: 1 } },
  });
  await app.listen({ port, host: '127.0.0.1' });
  return { app, logs, mail };
}

/**
 * The reference app (see `startDemo`) on a free loopback port with Ada registered, and a Chromium;
 * `stop` closes both. Each suite starts its own: their sign-ins share one login budget per app.
 */
async function adaInChromium() {
  const port = await freePort();
  const demo = await startDemo(port);
  const base = `http://127.0.0.1:${port}`;
  let browser: Browser;
  try {
    await register(base, 'ada@example.com', 'Ada');
    browser = await launchChromium();
  } catch (error) {
    await demo.app.close(); // nothing else would close it: the suite gets no `stop`
    throw error;
  }
  return {
    ...demo,
    base,
    browser,
    async stop(): Promise<void> {
      await browser.close();
      await demo.app.close();
    },
  };
}

type AdaInChromium = Awaited<ReturnType<typeof adaInChromium>>;

async function register(base: string, email: string, name: string): Promise<void> {
  const registered = await fetch(`${base}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD, name }),
  });
  expect(registered.status).toBe(201);
}

describe.runIf(browserTestsEnabled('sign-in and profile in Chromium'))('sign-in and profile in Chromium', () => {
  let demo: AdaInChromium;
  beforeAll(async () => void (demo = await adaInChromium()));
  afterAll(() => demo?.stop());

  it('signs in at /login, renames in profile:main, signs out, and the action then answers 401', async () => {
    const context = await demo.browser.newContext();
    const page = await context.newPage();
    const actions: number[] = [];
    page.on('response', (r) => void (r.url().endsWith(ROUTES.action) && actions.push(r.status())));

    await page.goto(`${demo.base}/login`);
    await page.locator('input[name="email"]').fill('Ada@Example.com');
    await page.locator('input[name="password"]').fill(PASSWORD);
    await Promise.all([page.waitForURL(`${demo.base}/profile`), page.getByRole('button', { name: 'Sign in' }).click()]);
    await page.waitForFunction(() => window.LiveComponents !== undefined);
    expect(await page.locator('[data-email]').textContent()).toBe('ada@example.com');
    expect(await page.locator('[data-name]').textContent()).toBe('Ada');
    // The session cookie is HttpOnly: scripts do not see it.
    expect(await page.evaluate(() => document.cookie)).toBe('');
    const cookies = await context.cookies();
    expect(cookies.map((c) => c.name)).toEqual(['lc_session', 'lc_device_token']);
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    // The device cookie of this sign-in (docs/auth.md, Limits): the owner's browser keeps a budget of its own.
    expect(cookies[1]).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });

    const input = page.locator(`[${ATTR.id}="profile:main"] input[name="name"]`);
    await input.fill('Ada Lovelace');
    await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(ROUTES.action)),
      page.locator(`form[${ATTR.action}="rename"] [type="submit"]`).click(),
    ]);
    await expect.poll(() => page.locator('[data-name]').textContent()).toBe('Ada Lovelace');
    await page.reload();
    expect(await page.locator('[data-name]').textContent()).toBe('Ada Lovelace');

    await Promise.all([page.waitForURL(`${demo.base}/login?signed_out`), page.getByTestId('sign-out').click()]);
    expect(await page.locator('[data-login-notice]').textContent()).toBe('You are signed out.');
    await page.goto(`${demo.base}/profile`);
    await page.waitForFunction(() => window.LiveComponents !== undefined);
    expect(await page.locator('[data-signed-out]').count()).toBe(1);
    const outcome = await page.evaluate(() => window.LiveComponents?.call('profile:main', 'rename', { name: 'Mallory' }));
    expect(outcome).toMatchObject({ type: 'error', detail: { status: 401, code: 'UNAUTHENTICATED' } });
    expect(actions).toEqual([200, 401]);

    const login = await fetch(`${demo.base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', password: PASSWORD }),
    });
    const { access_token: access } = (await login.json()) as { access_token: string };
    const me = await fetch(`${demo.base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${access}` } });
    expect(await me.json()).toMatchObject({ name: 'Ada Lovelace' });
    await context.close();
  });

  it('a non-ASCII local part (accepted by the API) signs in at /login and asks for a link at /forgot-password', async () => {
    await register(demo.base, 'jos\u00e9@example.com', 'Jos\u00e9');
    const context = await demo.browser.newContext();
    const page = await context.newPage();
    await page.goto(`${demo.base}/login`);
    await page.locator('input[name="email"]').fill('Jos\u00e9@Example.com');
    await page.locator('input[name="password"]').fill(PASSWORD);
    await Promise.all([page.waitForURL(`${demo.base}/profile`), page.getByRole('button', { name: 'Sign in' }).click()]);
    expect(await page.locator('[data-email]').textContent()).toBe('jos\u00e9@example.com');

    await page.goto(`${demo.base}/forgot-password`);
    await page.getByRole('textbox', { name: 'Email' }).fill('jos\u00e9@example.com');
    const [asked] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${demo.base}/api/v1/auth/forgot-password`),
      page.getByRole('button', { name: 'Send the link' }).click(),
    ]);
    expect(asked.status()).toBe(202);
    await demo.app.livecomponentsAuth.service.idle();
    expect(demo.mail.messages.splice(0).map((m) => m.to)).toEqual(['jos\u00e9@example.com']);
    await context.close();
  });

  it('asks for a link at /forgot-password, sets a new password at the mailed link, and signs in with it', async () => {
    await register(demo.base, 'grace@example.com', 'Grace');
    const context = await demo.browser.newContext();
    const page = await context.newPage();
    const auth = (path: string) => (r: { url(): string }) => r.url() === `${demo.base}/api/v1/auth/${path}`;

    await page.goto(`${demo.base}/login`);
    expect(await page.locator('nav a[href="/login"]').textContent()).toBe('Sign in');
    await Promise.all([page.waitForURL(`${demo.base}/forgot-password`), page.getByRole('link', { name: 'Forgot your password?' }).click()]);
    await page.locator('input[name="email"]').fill('Grace@Example.com');
    const [asked] = await Promise.all([page.waitForResponse(auth('forgot-password')), page.getByRole('button', { name: 'Send the link' }).click()]);
    expect(asked.status()).toBe(202);
    const status = page.getByRole('status').and(page.locator('[data-auth-status]'));
    await status.waitFor({ state: 'visible' });
    expect(await status.textContent()).toBe(FORGOT_PASSWORD_ANSWER.message);
    expect(await page.locator('[data-auth-error]').textContent()).toBe('');

    // The mail goes out in the background, after the answer.
    await demo.app.livecomponentsAuth.service.idle();
    expect(demo.mail.messages.map((m) => [m.to, m.subject])).toEqual([['grace@example.com', 'Reset your password']]);
    const link = new RegExp(`^${demo.base}/reset-password#token=([A-Za-z0-9_-]{43})$`, 'm').exec(demo.mail.messages[0]?.text ?? '');
    expect(link).not.toBeNull();
    const [url, token] = link as unknown as [string, string];

    await page.goto(url);
    // The script (run before the load event) took the token and dropped it from the address bar.
    expect(page.url()).toBe(`${demo.base}/reset-password`);
    expect(await page.content()).not.toContain(token);
    await page.locator('input[name="password"]').fill(NEW_PASSWORD);
    const [reset] = await Promise.all([page.waitForResponse(auth('reset-password')), page.getByRole('button', { name: 'Set the new password' }).click()]);
    expect(reset.status()).toBe(204);
    expect(reset.request().postDataJSON()).toEqual({ token, password: NEW_PASSWORD });
    await status.waitFor({ state: 'visible' });
    expect(await status.textContent()).toBe('Your password is changed, and every sign-in of your account has ended. Sign in with the new password');
    expect(await page.locator('form[data-auth-form]').isHidden()).toBe(true);

    await Promise.all([page.waitForURL(`${demo.base}/login`), status.getByRole('link', { name: 'Sign in with the new password' }).click()]);
    await page.locator('input[name="email"]').fill('grace@example.com');
    await page.locator('input[name="password"]').fill(NEW_PASSWORD);
    await Promise.all([page.waitForURL(`${demo.base}/profile`), page.getByRole('button', { name: 'Sign in' }).click()]);
    expect(await page.locator('[data-email]').textContent()).toBe('grace@example.com');
    expect(await page.locator('[data-name]').textContent()).toBe('Grace');
    expect(await page.locator('nav a[href="/login"]').textContent()).toBe('grace@example.com');

    // The link works once: opened again, the API's refusal shows in the alert line.
    await page.goto(url);
    expect(page.url()).toBe(`${demo.base}/reset-password`);
    await page.locator('input[name="password"]').fill('yet another password');
    const [again] = await Promise.all([page.waitForResponse(auth('reset-password')), page.getByRole('button', { name: 'Set the new password' }).click()]);
    expect(again.status()).toBe(400);
    const alert = page.getByRole('alert').and(page.locator('[data-auth-error]'));
    await expect
      .poll(() => alert.textContent())
      .toBe('This password reset link is invalid, expired or already used. Ask for a new one. [RESET_TOKEN_INVALID]');
    expect(await status.isHidden()).toBe(true);

    // Opened without its fragment, the page says so and its button stays disabled.
    await page.goto(`${demo.base}/reset-password`);
    expect(await alert.textContent()).toBe(
      'This page opens from the link in the password reset mail, and this address has no token. Ask for a new link.',
    );
    expect(await page.getByRole('button', { name: 'Set the new password' }).isDisabled()).toBe(true);
    // A mailed link opened in this same tab changes only the fragment (no reload by itself): the page
    // loads again and takes that token, so the form is usable and the address clean.
    await page.goto(url);
    await expect.poll(() => page.getByRole('button', { name: 'Set the new password' }).isEnabled()).toBe(true);
    expect(page.url()).toBe(`${demo.base}/reset-password`);
    expect(await alert.textContent()).toBe('');

    // The old password is gone; the server saw the page requests but never the token.
    const old = await fetch(`${demo.base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'grace@example.com', password: PASSWORD }),
    });
    expect(old.status).toBe(401);
    expect(demo.logs.some((line) => line.includes('"url":"/reset-password"'))).toBe(true);
    expect(demo.logs.filter((line) => line.includes(token))).toEqual([]);
    await context.close();
  });
});

describe.runIf(browserTestsEnabled('sign-out from two tabs in Chromium'))('sign-out from two tabs in Chromium', () => {
  // An app of its own: the sign-ins here would go past the login budget (5 a minute) shared above.
  let demo: AdaInChromium;
  beforeAll(async () => void (demo = await adaInChromium()));
  afterAll(() => demo?.stop());

  async function signIn(page: Page): Promise<void> {
    await page.goto(`${demo.base}/login`);
    await page.locator('input[name="email"]').fill('ada@example.com');
    await page.locator('input[name="password"]').fill(PASSWORD);
    await Promise.all([page.waitForURL(`${demo.base}/profile`), page.getByRole('button', { name: 'Sign in' }).click()]);
  }

  it('tab B signs out: "Sign out" in tab A says "You are signed out.", no token error; B signs in again: A is told to press Sign out again, and a reload posts nothing', async () => {
    const context = await demo.browser.newContext();
    const tabA = await context.newPage();
    await signIn(tabA);
    const tabB = await context.newPage();
    await tabB.goto(`${demo.base}/profile`);

    await Promise.all([tabB.waitForURL(`${demo.base}/login?signed_out`), tabB.getByTestId('sign-out').click()]);
    await Promise.all([tabA.waitForURL(`${demo.base}/login?signed_out`), tabA.getByTestId('sign-out').click()]);
    expect(await tabA.locator('[data-login-notice]').textContent()).toBe('You are signed out.');
    expect(await tabA.locator('[data-login-error]').count()).toBe(0);

    // Tab A back at a signed-in page; tab B signs out and in again.
    await signIn(tabA);
    await tabB.goto(`${demo.base}/profile`);
    await Promise.all([tabB.waitForURL(`${demo.base}/login?signed_out`), tabB.getByTestId('sign-out').click()]);
    await signIn(tabB);
    await Promise.all([tabA.waitForURL(`${demo.base}/login?sign_out_refused`), tabA.getByTestId('sign-out').click()]);
    expect(await tabA.title()).toBe('Account · LiveComponents');
    expect(await tabA.locator('[data-login-error]').textContent()).toBe(
      'You are still signed in: your session changed since that page was loaded, in another tab perhaps. Press Sign out again.',
    );
    expect(await tabA.locator('[data-email]').first().textContent()).toBe('ada@example.com');
    // Post/Redirect/Get: a reload asks for the page, it does not post the stale token again.
    const posts: string[] = [];
    tabA.on('request', (r) => void (r.method() === 'POST' && posts.push(r.url())));
    await tabA.reload();
    expect(posts).toEqual([]);
    await Promise.all([tabA.waitForURL(`${demo.base}/login?signed_out`), tabA.getByTestId('sign-out').click()]);
    expect(await tabA.locator('[data-login-notice]').textContent()).toBe('You are signed out.');
    await context.close();
  });
});
