/**
 * The reference app in Chromium, for what happens around an action rather than in it: Enter held
 * down, an answer lost when the retry is refused by the rate limit, every answer lost, Back after an action, and a
 * browser without JavaScript. Each test gets its own app (the payment's rate limit is per client IP,
 * here always 127.0.0.1) and a fresh browser context.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ATTR, HEADERS, ROUTES } from '../../src/core/wire.js';
import { browserTestsEnabled, launchChromium, listeningDemo, recordEvents, type ListeningDemo, type RecordedEvent, openLive } from './browser.js';

let demo: ListeningDemo;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let events: RecordedEvent[];
/** Idempotency keys of the action requests the page sent, in order. */
let actionKeys: string[];

const PAY_FORM = `form[${ATTR.action}="processPayment"]`;
const balance = () => page.locator('[data-balance]').textContent();
const paymentsMade = () => page.getByText(/Payments made:/).textContent();

/** Enter, as a keyboard sends it while held: one keydown, the repeat delay (500 ms), then `repeats` auto-repeats ~30 a second, then keyup. */
async function holdEnter(repeats: number): Promise<void> {
  const cdp = await context.newCDPSession(page);
  const enter = { key: 'Enter', code: 'Enter', windowsVirtualKeyCode: 13, nativeVirtualKeyCode: 13, text: '\r', unmodifiedText: '\r' };
  await cdp.send('Input.dispatchKeyEvent', { type: 'keyDown', ...enter });
  await page.waitForTimeout(500);
  for (let i = 0; i < repeats; i++) {
    await cdp.send('Input.dispatchKeyEvent', { type: 'keyDown', autoRepeat: true, ...enter });
    await page.waitForTimeout(33);
  }
  await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', ...enter });
  await page.waitForTimeout(1000);
}

const open = (path: string): Promise<void> => openLive(page, `${demo.base}${path}`);

/** Pays `amount` by a click on Pay, and waits for the runtime's event about it (the `n`th of the page). */
async function pay(amount: string, n: number): Promise<void> {
  await page.fill('input[name="amount"]', amount);
  await page.click(`${PAY_FORM} button[type="submit"]`);
  await expect.poll(() => events.length, { timeout: 10_000 }).toBe(n);
}

describe.runIf(browserTestsEnabled('page handling in Chromium'))('page handling in Chromium', () => {
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    demo = await listeningDemo();
  });
  afterEach(async () => {
    await context?.close();
    await demo?.app.close();
  });

  async function newPage(options: { javaScriptEnabled?: boolean } = {}): Promise<void> {
    context = await browser.newContext(options);
    page = await context.newPage();
    actionKeys = [];
    page.on('request', (r) => void (r.url().endsWith(ROUTES.action) && actionKeys.push(r.headers()[HEADERS.idempotencyKey] ?? '')));
    if (options.javaScriptEnabled !== false) events = await recordEvents(page);
  }

  it('pays once while Enter is held down in the payment form (keyboard auto-repeat: keydown with repeat, ~30 a second)', async () => {
    await newPage();
    await open('/payment');
    await page.fill('input[name="amount"]', '10');
    await page.focus('input[name="amount"]');
    await holdEnter(15);
    expect(actionKeys).toHaveLength(1);
    expect(events.map((e) => e.type)).toEqual(['lc:success']);
    // Enter in a text area of such a form still repeats (a new line each): only submits are held back.
    await page.locator(PAY_FORM).evaluate((form) => form.append(Object.assign(document.createElement('textarea'), { name: 'memo' })));
    await page.focus(`${PAY_FORM} textarea`);
    await holdEnter(2);
    expect(await page.locator(`${PAY_FORM} textarea`).inputValue()).toBe('\n\n\n');
    // The server ran the payment once.
    await open('/payment');
    expect([await balance(), await paymentsMade()]).toEqual(['990', 'Payments made: 1']);
  });

  it('counts once while Enter is held down on an action button (a held key clicks a focused button on every repeat)', async () => {
    await newPage();
    await open('/');
    await page.focus('button[data-lc-action="increment"]');
    await holdEnter(10);
    expect(actionKeys).toHaveLength(1);
    expect(await page.locator('output[data-count]').textContent()).toBe('1');
  });

  it("an answer lost, then the retry refused by the rate limit: the component shows the server's state and says the payment may have gone through", async () => {
    await newPage();
    await open('/payment');
    for (let i = 1; i <= 4; i++) await pay('10', i);
    expect(await balance()).toBe('960');
    // The fifth payment, the last one the limit (5 per 5 minutes) allows, runs; its answer is lost.
    const statuses: number[] = [];
    await page.route(`**${ROUTES.action}`, async (route) => {
      const answer = await route.fetch();
      statuses.push(answer.status());
      if (statuses.length === 1) return route.abort('connectionreset');
      return route.fulfill({ response: answer });
    });
    await pay('10', 5);
    // The retry (same key) comes after the limit, which the server checks before replaying a key.
    expect(statuses).toEqual([200, 429]);
    expect(new Set(actionKeys.slice(4)).size).toBe(1);
    const last = events[4];
    expect(last).toMatchObject({ type: 'lc:error', detail: { status: 429, code: 'RATE_LIMIT_EXCEEDED', outcomeUnknown: true, limit: 5 } });
    expect(typeof last?.detail.retry_after).toBe('number');
    expect(last?.detail.reloaded).toBeUndefined();
    // The component was reloaded from its page: the balance after the fifth payment.
    expect(await balance()).toBe('950');
    expect(await page.locator('[data-flash]').textContent()).toContain('may have been carried out');
    await page.unroute(`**${ROUTES.action}`);
    // The server ran it once.
    await open('/payment');
    expect([await balance(), await paymentsMade()]).toEqual(['950', 'Payments made: 5']);
  });

  it("every attempt's answer lost after the server ran the payment: NETWORK_ERROR with outcomeUnknown, and the component shows the server's balance", async () => {
    await newPage();
    await open('/payment');
    // Each attempt reaches the server (the first runs the payment, the retries replay it); each answer is lost.
    const statuses: number[] = [];
    await page.route(`**${ROUTES.action}`, async (route) => {
      statuses.push((await route.fetch()).status());
      return route.abort('connectionreset');
    });
    await pay('10', 1);
    expect(statuses).toEqual([200, 200, 200]);
    expect(new Set(actionKeys).size).toBe(1);
    const [lost] = events;
    expect(lost).toMatchObject({ type: 'lc:error', detail: { status: 0, code: 'NETWORK_ERROR', outcomeUnknown: true } });
    expect(lost?.detail.error).toContain('may have been carried out');
    expect(lost?.detail.reloaded).toBeUndefined();
    // Reloaded from its page (the page GETs went through): the balance after the payment, not the 1000 shown before.
    expect(await balance()).toBe('990');
    expect(await page.locator('[data-flash]').textContent()).toContain('may have been carried out');
    await page.unroute(`**${ROUTES.action}`);
    // Offline, the reload fails too: harmless — the same error, the markup kept, the component free again.
    await context.setOffline(true);
    await pay('10', 2);
    expect(events[1]).toMatchObject({ type: 'lc:error', detail: { status: 0, code: 'NETWORK_ERROR', outcomeUnknown: true } });
    expect(await balance()).toBe('990');
    expect(await page.locator(`[${ATTR.loading}]`).count()).toBe(0);
    await context.setOffline(false);
    await pay('10', 3);
    expect(events[2]?.type).toBe('lc:success');
    // The server ran the lost payment once (the offline one never left the browser).
    await open('/payment');
    expect([await balance(), await paymentsMade()]).toEqual(['980', 'Payments made: 2']);
  });

  it("Back after an action shows the page as the server renders it now, not the one the browser kept", async () => {
    await newPage();
    await open('/payment');
    await pay('10', 1);
    expect(await balance()).toBe('990');
    await page.click('nav a[href="/orders"]');
    await page.waitForURL('**/orders');
    const fetched: string[] = [];
    page.on('response', (r) => void (r.request().resourceType() === 'document' && fetched.push(new URL(r.url()).pathname)));
    await page.goBack();
    await page.waitForFunction(() => window.LiveComponents !== undefined);
    expect(await balance()).toBe('990');
    // Asked the server (no-store): the page came over the network, not from the HTTP cache.
    expect(fetched).toEqual(['/payment']);
    const transferSize = await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).transferSize);
    expect(transferSize).toBeGreaterThan(0);
  });

  it('without JavaScript: every page says it needs it, and a data-lc-action form posts (nothing in the address) and changes nothing', async () => {
    await newPage({ javaScriptEnabled: false });
    for (const path of ['/', '/orders', '/payment']) {
      await page.goto(`${demo.base}${path}`);
      const notice = page.locator('p[data-lc-noscript]');
      expect(await notice.count(), path).toBe(1);
      expect(await notice.textContent(), path).toContain('needs JavaScript');
    }
    await page.goto(`${demo.base}/payment`);
    await page.fill('input[name="amount"]', '5');
    const [navigation] = await Promise.all([page.waitForResponse((r) => r.request().resourceType() === 'document'), page.click(`${PAY_FORM} button[type="submit"]`)]);
    expect(navigation.request().method()).toBe('POST');
    expect(page.url()).toBe(`${demo.base}/payment`);
    // No route posts to a page: the app's not-found handler refuses it, `Allow: GET, HEAD`, with the
    // error page a browser is shown (examples/demo/error-page.ts), not JSON.
    expect([navigation.status(), navigation.headers().allow, await page.locator('[data-error-code]').getAttribute('data-error-code')]).toEqual([405, 'GET, HEAD', 'METHOD_NOT_ALLOWED']);
    await page.goto(`${demo.base}/payment`);
    expect(await balance()).toBe('1000');
  });
});
