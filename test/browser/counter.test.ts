/**
 * The reference app in a real browser: the runtime served by the plugin, real sessions, CSRF,
 * idempotency and rate limits. Each test gets a fresh browser context (a fresh session).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ATTR, CSRF_META_NAME, HEADERS, ROUTES } from '../../src/core/wire.js';
import { sessionKeyOf } from '../../src/session/index.js';
import { storeKeys } from '../../src/store/keys.js';
import { browserTestsEnabled, humanDoubleClick, launchChromium, listeningDemo, recordEvents, type ListeningDemo, type RecordedEvent, openLive, actionStatus } from './browser.js';

let demo: ListeningDemo;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let events: RecordedEvent[];
/** Action requests the page sent. */
let actionRequests: number;

const open = (path: string): Promise<void> => openLive(page, `${demo.base}${path}`);

/** Runs `act` and waits for the action response it causes. */
const acting = (act: () => Promise<unknown>): Promise<number> => actionStatus(page, act);

const text = (selector: string) => page.locator(selector).textContent();

describe.runIf(browserTestsEnabled('reference app in Chromium'))('reference app in Chromium', () => {
  beforeAll(async () => {
    demo = await listeningDemo();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.app.close();
  });

  beforeEach(async () => {
    actionRequests = 0;
    context = await browser.newContext();
    page = await context.newPage();
    page.on('request', (r) => void (r.url().endsWith(ROUTES.action) && actionRequests++));
    events = await recordEvents(page);
  });
  afterEach(async () => {
    await context?.close();
  });

  it('loads every page of the reference app without a console error, a failed request or a page error', async () => {
    const problems: string[] = [];
    page.on('console', (m) => void (m.type() === 'error' && problems.push(`console: ${m.text()}`)));
    page.on('pageerror', (e) => void problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => void problems.push(`failed: ${r.url()}`));
    page.on('response', (r) => void (r.status() >= 400 && problems.push(`${r.status()}: ${r.url()}`)));
    for (const path of ['/', '/orders', '/payment', '/login', '/forgot-password']) {
      await page.goto(`${demo.base}${path}`, { waitUntil: 'networkidle' });
    }
    expect(problems).toEqual([]);
  });

  it('counts three increments, morphing the same root node, and clears data-lc-loading', async () => {
    await open('/');
    const root = page.locator(`[${ATTR.id}="counter:main"]`);
    expect(await text('[data-count]')).toBe('0');
    await root.evaluate((el) => void ((el as unknown as { marked?: boolean }).marked = true));
    const increment = page.locator(`[${ATTR.action}="increment"]`);
    for (const expected of ['1', '2', '3']) {
      expect(await acting(() => increment.click())).toBe(200);
      await expect.poll(() => text('[data-count]')).toBe(expected);
    }
    expect(await root.evaluate((el) => (el as unknown as { marked?: boolean }).marked)).toBe(true);
    expect(await root.getAttribute(ATTR.loading)).toBeNull();
    expect(actionRequests).toBe(3);

    await acting(() => page.locator(`[${ATTR.action}="decrement"]`).click());
    await expect.poll(() => text('[data-count]')).toBe('2');
    // The count lives in the session: a reload shows it.
    await open('/');
    expect(await text('[data-count]')).toBe('2');
  });

  it('keeps the saved label while real clicks on + and − re-render the counter', async () => {
    await open('/');
    const label = page.getByTestId('label');
    await label.fill('hello');
    await label.press('Enter');
    await expect.poll(() => events.map((e) => `${e.type}:${String(e.detail.action)}`)).toEqual(['lc:success:setLabel']);
    for (const [action, expected] of [['increment', '1'], ['increment', '2'], ['decrement', '1']] as const) {
      // A real click focuses the button: the label field is not focused when the answer is morphed in.
      expect(await acting(() => page.locator(`[${ATTR.action}="${action}"]`).click())).toBe(200);
      await expect.poll(() => text('[data-count]')).toBe(expected);
      expect(await label.inputValue()).toBe('hello');
    }
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Decrement');
    // The label is the instance's state: a new page view shows it too.
    await open('/');
    expect(await label.inputValue()).toBe('hello');
  });

  it('dispatches lc:success, and lc:error with the code for an unknown action and for a bad CSRF token', async () => {
    await open('/');
    await acting(() => page.locator(`[${ATTR.action}="increment"]`).click());
    await expect.poll(() => events.length).toBe(1);
    expect(events[0]).toMatchObject({ type: 'lc:success', target: 'counter:main', detail: { componentId: 'counter:main', action: 'increment', state: { count: 1 } } });

    await page.evaluate((attr) => {
      const bogus = document.createElement('button');
      bogus.setAttribute(attr, 'noSuchAction');
      bogus.textContent = 'bogus';
      document.querySelector('[data-lc-id="counter:main"]')?.append(bogus);
    }, ATTR.action);
    expect(await acting(() => page.getByText('bogus').click())).toBe(404);
    await expect.poll(() => events.length).toBe(2);
    expect(events[1]).toMatchObject({ type: 'lc:error', detail: { componentId: 'counter:main', action: 'noSuchAction', status: 404, code: 'ACTION_NOT_FOUND' } });

    await page.evaluate((name) => document.querySelector(`meta[name="${name}"]`)?.setAttribute('content', 'garbage'), CSRF_META_NAME);
    expect(await acting(() => page.locator(`[${ATTR.action}="increment"]`).click())).toBe(403);
    await expect.poll(() => events.length).toBe(3);
    expect(events[2]).toMatchObject({ type: 'lc:error', detail: { status: 403, code: 'CSRF_TOKEN_INVALID' } });
    expect(await text('[data-count]')).toBe('1');
  });

  it('creates an order from the form fields, by click and by Enter', async () => {
    await open('/orders');
    const item = page.locator('input[name="item"]');
    await item.fill('tea');
    expect(await acting(() => page.locator(`form[${ATTR.action}="createOrder"] [type="submit"]`).click())).toBe(200);
    await expect.poll(() => text('[data-orders]')).toBe('1');
    await item.fill('coffee');
    expect(await acting(() => item.press('Enter'))).toBe(200);
    await expect.poll(() => text('[data-orders]')).toBe('2');
    expect(await page.locator('ul.recent li').allTextContents()).toEqual(['coffee', 'tea']);
    expect(page.url()).toBe(`${demo.base}/orders`);
  });

  it("shows the server's field message next to the field, and clears it when the order goes through", async () => {
    await open('/orders');
    const item = page.locator('input[name="item"]');
    const message = page.locator(`[${ATTR.error}="item"]`);
    expect(await message.isHidden()).toBe(true);
    await item.fill('   '); // passes the browser's `required`; the server trims it to nothing
    expect(await acting(() => item.press('Enter'))).toBe(400);
    await expect.poll(() => message.textContent()).toBe('Enter an item.');
    expect(await message.isVisible()).toBe(true);
    expect(await item.getAttribute('aria-invalid')).toBe('true');
    await item.fill('tea');
    expect(await acting(() => item.press('Enter'))).toBe(200);
    await expect.poll(() => text('[data-orders]')).toBe('1');
    expect(await message.isHidden()).toBe(true);
    expect(await item.getAttribute('aria-invalid')).toBeNull();
  });

  it('retries with the same key when the answer is lost: the order is placed once and the replay is morphed in', async () => {
    await open('/orders');
    const keys: string[] = [];
    await page.route(`**${ROUTES.action}`, async (route) => {
      keys.push(route.request().headers()[HEADERS.idempotencyKey] ?? '');
      if (keys.length > 1) return route.continue();
      await route.fetch(); // the server places the order…
      return route.abort('connectionreset'); // …but the browser never sees the answer
    });
    await page.locator('input[name="item"]').fill('tea');
    await page.locator(`form[${ATTR.action}="createOrder"] [type="submit"]`).click();
    await expect.poll(() => events.length, { timeout: 5000 }).toBe(1);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
    expect(events[0]).toMatchObject({ type: 'lc:success', detail: { state: { orders: 1 }, idempotency: { key: keys[0], cached: true } } });
    expect(await text('[data-orders]')).toBe('1');
    await open('/orders');
    expect(await text('[data-orders]')).toBe('1');
  });

  it('pays once for a double click (fast or human-paced), and once for two rapid clicks', async () => {
    await open('/payment');
    expect(await text('[data-balance]')).toBe('1000');
    const amount = page.locator('input[name="amount"]');
    const pay = page.locator(`form[${ATTR.action}="processPayment"] [type="submit"]`);

    await amount.fill('25');
    await pay.dblclick();
    await expect.poll(() => text('[data-balance]')).toBe('975');
    await page.waitForTimeout(500);
    expect(await text('[data-balance]')).toBe('975');
    expect(actionRequests).toBe(1);

    await amount.fill('25');
    await page.evaluate((attr) => {
      const button = document.querySelector(`form[${attr}="processPayment"] [type="submit"]`) as HTMLButtonElement;
      button.click();
      button.click();
    }, ATTR.action);
    await expect.poll(() => text('[data-balance]')).toBe('950');
    await page.waitForTimeout(500);
    expect(await text('[data-balance]')).toBe('950');
    expect(actionRequests).toBe(2);

    // A human double click, slow enough for the first payment to be done before the second click.
    await amount.fill('25');
    await humanDoubleClick(page, pay);
    await expect.poll(() => text('[data-balance]')).toBe('925');
    await page.waitForTimeout(500);
    expect(await text('[data-balance]')).toBe('925');
    expect(actionRequests).toBe(3);
    expect(events.map((e) => e.type)).toEqual(['lc:success', 'lc:success', 'lc:success']);
  });

  it('reloads a component whose stored state was tampered with, and the next action works on the fresh instance', async () => {
    await open('/');
    const increment = page.locator(`[${ATTR.action}="increment"]`);
    for (const expected of ['1', '2']) {
      await acting(() => increment.click());
      await expect.poll(() => text('[data-count]')).toBe(expected);
    }
    const cookie = (await context.cookies()).find((c) => c.name === 'lc_session');
    const { store } = demo.app.livecomponents.runtime;
    const key = storeKeys.componentState(sessionKeyOf(cookie!.value), 'counter:main');
    const sealed = Buffer.from((await store.get(key))!, 'base64url');
    sealed[sealed.length - 1]! ^= 0x01;
    await store.set(key, sealed.toString('base64url'), 60_000);

    expect(await acting(() => increment.click())).toBe(409);
    await expect.poll(() => events.length).toBe(3);
    expect(events[2]).toMatchObject({ type: 'lc:error', target: 'counter:main', detail: { code: 'STATE_INVALID', reloaded: true } });
    // The page mounted the instance afresh: the count starts over, and counting goes on from there.
    expect(await text('[data-count]')).toBe('0');
    expect(await acting(() => increment.click())).toBe(200);
    await expect.poll(() => text('[data-count]')).toBe('1');
    expect(actionRequests).toBe(4);
  });

  it('refuses to be framed by another origin (clickjacking a payment), and may be framed by its own', async () => {
    const framer = (src: string) => `<!doctype html><title>frame</title><iframe id="victim" src="${src}" width="600" height="400"></iframe>`;
    // The other origin is a real server on another loopback port: a page from outside loopback would
    // be refused by Chromium's private-network rules whatever the app's headers say.
    const attacker = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(framer(`${demo.base}/payment`)));
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    await page.route(`${demo.base}/framed-here`, (route) => route.fulfill({ contentType: 'text/html', body: framer(`${demo.base}/payment`) }));
    const paymentFrame = () => page.frames().find((f) => f !== page.mainFrame());
    try {
      await page.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`);
      await expect.poll(() => paymentFrame()?.url()).toBe('chrome-error://chromewebdata/');
      expect(await paymentFrame()?.locator('[data-balance]').count()).toBe(0);

      await page.goto(`${demo.base}/framed-here`);
      await expect.poll(() => paymentFrame()?.url()).toBe(`${demo.base}/payment`);
      await expect.poll(() => paymentFrame()?.locator('[data-balance]').textContent()).toBe('1000');
    } finally {
      attacker.close();
    }
  });

  it('after the session ends elsewhere, a click reloads the component into a new session, and the next click counts there', async () => {
    await open('/');
    const increment = page.locator(`[${ATTR.action}="increment"]`);
    await acting(() => increment.click());
    await expect.poll(() => text('[data-count]')).toBe('1');
    const before = (await context.cookies()).find((c) => c.name === 'lc_session')!.value;
    const { sessions } = demo.app.livecomponents.runtime;
    await sessions.destroy(sessions.fromCookie(before)!);

    expect(await acting(() => increment.click())).toBe(403);
    await expect.poll(() => events.length).toBe(2);
    expect(events[1]).toMatchObject({ type: 'lc:error', detail: { code: 'CSRF_TOKEN_INVALID', reloaded: true } });
    const after = (await context.cookies()).find((c) => c.name === 'lc_session')!.value;
    expect(after).not.toBe(before);
    expect(await text('[data-count]')).toBe('0');
    expect(await acting(() => increment.click())).toBe(200);
    await expect.poll(() => text('[data-count]')).toBe('1');
  });
});
