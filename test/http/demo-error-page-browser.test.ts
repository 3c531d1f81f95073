/**
 * The reference app's error page (examples/demo/error-page.ts) in Chromium, under the app's strict
 * policy: a visitor past `NEW_SESSION_LIMIT` opening a page, and one opening a path that does not
 * exist, read a page saying so (the wait, for the 429) — not PROTOCOL §3's JSON as text — styled by
 * the app's stylesheet, with no policy violation and no cookie. The answers' headers:
 * examples/demo/error-page.test.ts.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsEnabled, launchChromium } from '../browser/browser.js';
import { demoApp } from '../helpers/demo.js';
import { freePort } from '../helpers/ports.js';

declare global {
  interface Window {
    __cspViolation?: (line: string) => void;
  }
}

describe.runIf(browserTestsEnabled('the reference app’s error page'))('the reference app’s error page in Chromium', () => {
  let app: FastifyInstance;
  let base: string;
  let browser: Browser;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    const port = await freePort();
    // Loopback (the browser's address here) is exempt from the limit unless told otherwise.
    ({ app } = await demoApp({ HOST: '127.0.0.1', PORT: String(port), MAX_EVENT_LOOP_DELAY_MS: '0' }, { newSessionLimit: { limit: 1, windowSeconds: 60, exemptLoopback: false } }));
    await app.listen({ port, host: '127.0.0.1' });
    base = `http://127.0.0.1:${port}`;
    browser = await launchChromium();
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  /** A fresh visitor (no cookie) whose policy violations, by event and console line, are recorded. */
  async function visitor(): Promise<{ page: Page; violations: string[] }> {
    context = await browser.newContext();
    const page = await context.newPage();
    const violations: string[] = [];
    await page.exposeFunction('__cspViolation', (line: string) => void violations.push(line));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => window.__cspViolation?.(`${e.effectiveDirective} ${e.blockedURI}`), true);
    });
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) violations.push(message.text());
    });
    return { page, violations };
  }

  const mainWidth = (page: Page) => page.evaluate(() => getComputedStyle(document.querySelector('main') as Element).maxWidth);

  it('past NEW_SESSION_LIMIT: the 429 page says how long to wait, styled, no violation, no cookie', async () => {
    const first = await visitor();
    expect((await first.page.goto(`${base}/`))?.status()).toBe(200);
    await context?.close();
    const { page, violations } = await visitor();
    const response = await page.goto(`${base}/orders`);
    const wait = Number(response?.headers()['retry-after']);
    expect([response?.status(), response?.headers()['content-type'], Number.isInteger(wait) && wait > 0]).toEqual([429, 'text/html; charset=utf-8', true]);
    expect(await page.locator('h1').textContent()).toBe('Too many requests');
    expect(await page.locator('[data-retry-after]').textContent()).toBe(`Try again in ${wait} seconds.`);
    // The stylesheet applied (app.css: main { max-width: 44rem }), not blocked.
    expect(await mainWidth(page)).toBe('704px');
    expect(violations).toEqual([]);
    expect(await context?.cookies()).toEqual([]);
  });

  it('a path that does not exist: the 404 page, styled, no violation', async () => {
    const { page, violations } = await visitor();
    const response = await page.goto(`${base}/nope`);
    expect([response?.status(), await page.locator('h1').textContent()]).toEqual([404, 'Page not found']);
    expect(await mainWidth(page)).toBe('704px');
    expect(violations).toEqual([]);
  });
});
