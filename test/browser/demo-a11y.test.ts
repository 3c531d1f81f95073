/**
 * The reference app's forms in Chromium, as a keyboard user meets them: Enter again after a success
 * places nothing twice (data-lc-reset), a failed payment keeps the amount typed, and a VALIDATION_FAILED
 * says what is wrong both beside the field and in the page's status line (app.js).
 * The markup itself is checked without a browser in examples/demo/a11y.test.ts.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ATTR, ROUTES } from '../../src/core/wire.js';
import { actionStatus, browserTestsEnabled, demoInChromium, openLive, settled as settledIn } from './browser.js';

const PASSWORD = 'correct horse battery staple';
const NAME_RULE = 'The name must be 1 to 80 characters, without control characters.';

let base: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Status codes of the action requests the page sent. */
let actions: number[];

const open = (path: string): Promise<void> => openLive(page, `${base}${path}`);

/** Runs `act` and waits for the action answer it causes; returns its status. */
const acting = (act: () => Promise<unknown>): Promise<number> => actionStatus(page, act);

/** Waits until the component `id` is no longer busy. */
const settled = (id: string): Promise<void> => settledIn(page, id);

describe.runIf(browserTestsEnabled('reference app forms from the keyboard'))('reference app forms from the keyboard', () => {
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ base, browser, stop } = await demoInChromium());
  });
  afterAll(() => stop?.());

  beforeEach(async () => {
    actions = [];
    context = await browser.newContext();
    page = await context.newPage();
    page.on('response', (r) => void (r.url().endsWith(ROUTES.action) && actions.push(r.status())));
  });
  afterEach(async () => {
    await context?.close();
  });

  it('/orders: after Enter places an order the field is empty, so Enter again places no second one', async () => {
    await open('/orders');
    const item = page.locator('input[name="item"]');
    await item.fill('Tea');
    expect(await acting(() => item.press('Enter'))).toBe(200);
    await settled('order:main');
    await expect.poll(() => page.locator('[data-orders]').textContent()).toBe('1');

    // The focus is still in the field: Enter again, as a user checking the order went through would.
    await item.press('Enter');
    await page.waitForTimeout(500);
    expect(actions).toEqual([200]);
    expect(await item.inputValue()).toBe('');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('item');
    expect(await page.locator('[data-orders]').textContent()).toBe('1');
    expect(await page.locator('ul.recent li').allTextContents()).toEqual(['Tea']);
  });

  it('/payment: Enter again after a payment pays nothing; a refused amount stays typed, with its message', async () => {
    await open('/payment');
    const amount = page.locator('input[name="amount"]');
    await amount.fill('10');
    expect(await acting(() => amount.press('Enter'))).toBe(200);
    await settled('payment:main');
    await expect.poll(() => page.locator('[data-balance]').textContent()).toBe('990');

    await amount.press('Enter');
    await page.waitForTimeout(500);
    expect(actions).toEqual([200]);
    expect(await amount.inputValue()).toBe('');
    expect(await page.locator('[data-balance]').textContent()).toBe('990');

    // More than the balance: refused, and the amount is left for the user to correct.
    await amount.fill('5000');
    expect(await acting(() => amount.press('Enter'))).toBe(400);
    await settled('payment:main');
    expect(await amount.inputValue()).toBe('5000');
    const slot = page.locator('[data-lc-error="amount"]');
    await expect.poll(() => slot.isVisible()).toBe(true);
    expect(await slot.textContent()).toBe('The amount exceeds the balance.');
    await expect.poll(() => page.locator('[role="status"][data-flash]').textContent()).toContain('The amount exceeds the balance.');
    expect(await page.locator('[data-balance]').textContent()).toBe('990');
  });

  it('/profile: a refused display name is explained beside the field and in the status line', async () => {
    const registered = await fetch(`${base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', password: PASSWORD, name: 'Ada' }),
    });
    expect(registered.status).toBe(201);
    await page.goto(`${base}/login`);
    await page.locator('input[name="email"]').fill('ada@example.com');
    await page.locator('input[name="password"]').fill(PASSWORD);
    await Promise.all([page.waitForURL(`${base}/profile`), page.getByRole('button', { name: 'Sign in' }).click()]);
    await page.waitForFunction(() => window.LiveComponents !== undefined);

    const name = page.locator(`[${ATTR.id}="profile:main"] input[name="name"]`);
    await name.fill('   ');
    expect(await acting(() => name.press('Enter'))).toBe(400);
    await settled('profile:main');
    const slot = page.locator(`[${ATTR.id}="profile:main"] [data-lc-error="name"]`);
    await expect.poll(() => slot.isVisible()).toBe(true);
    expect(await slot.textContent()).toBe(NAME_RULE);
    expect(await name.getAttribute('aria-invalid')).toBe('true');
    const status = page.locator('[role="status"][data-flash]');
    await expect.poll(() => status.textContent()).toContain(NAME_RULE);
    expect(await status.textContent()).toContain('[VALIDATION_FAILED]');
    expect(await page.locator('[data-name]').textContent()).toBe('Ada');
  });
});
