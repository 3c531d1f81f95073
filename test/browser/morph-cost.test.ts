/**
 * What a morph costs on a long list whose rows have no ids, in Chromium against a scripted server.
 * idiomorph looked, for each new row, through every later old row for one sharing an id with it —
 * a match that cannot come when the row holds no id: re-rendering 8,000 rows took 5–6 s per action.
 * The bundle edits that loop (scripts/bundle-client.mjs, IDIOMORPH_EDITS). Counted, not timed (the
 * machines are shared and noisy): the DOM's `nextSibling` reads one morph makes, which grew with the
 * square of the rows (~n²/2) and now grow with the rows.
 */
import type { Browser, BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTR, CSRF_META_NAME, ROUTES } from '../../src/core/wire.js';
import { browserTestsEnabled, freshClientBundle, launchChromium } from './browser.js';

const ORIGIN = 'http://lc.test';
const ID = 'list:one';
const ROWS = 2_000;

/** The list after `n` actions: row `n` reads "changed", and from the second action a row is put on top. */
const list = (n: number): string => {
  const rows = Array.from({ length: ROWS }, (_, i) => `<li><span>row ${i}</span> ${i === n ? 'changed' : ''}</li>`);
  if (n >= 2) rows.unshift('<li><span>new</span></li>');
  return `<div ${ATTR.id}="${ID}"><ul>${rows.join('')}</ul></div>`;
};

const pageOf = (body: string): string => `<!doctype html><html><head><meta charset="utf-8">
<meta name="${CSRF_META_NAME}" content="token-0">
<script type="module" src="${ROUTES.clientScript}"></script></head><body>${body}</body></html>`;

let bundle: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let answered = 0;

async function serve(route: Route): Promise<void> {
  const url = new URL(route.request().url());
  if (url.pathname === ROUTES.clientScript) return route.fulfill({ contentType: 'text/javascript', body: bundle });
  if (url.pathname === ROUTES.action) {
    answered++;
    return route.fulfill({ contentType: 'application/json', body: JSON.stringify({ html: list(answered), state: {}, csrf_token: `token-${answered}` }) });
  }
  if (url.pathname === '/') return route.fulfill({ contentType: 'text/html', body: pageOf(list(0)) });
  return route.fulfill({ status: 404, body: 'not here' });
}

/** `nextSibling` reads during one action's round trip and morph, and the rows shown after it. */
async function readsOfOneAction(): Promise<{ reads: number; rows: number }> {
  return page.evaluate(async (id) => {
    const counter = window as unknown as { siblingReads: number };
    counter.siblingReads = 0;
    const outcome = await window.LiveComponents!.call(id, 'refresh', {});
    if (outcome.type !== 'ok') throw new Error(`action: ${outcome.type}`);
    return { reads: counter.siblingReads, rows: document.querySelectorAll('li').length };
  }, ID);
}

describe.runIf(browserTestsEnabled('morph cost'))('morph cost on a list without ids', () => {
  beforeAll(async () => {
    bundle = await freshClientBundle();
    browser = await launchChromium();
    context = await browser.newContext();
    await context.route(`${ORIGIN}/**`, serve);
    // Counts every read of Node#nextSibling (idiomorph walks siblings with it).
    await context.addInitScript(() => {
      const counter = window as unknown as { siblingReads: number };
      counter.siblingReads = 0;
      const original = Object.getOwnPropertyDescriptor(Node.prototype, 'nextSibling')!;
      Object.defineProperty(Node.prototype, 'nextSibling', {
        ...original,
        get(this: Node) {
          counter.siblingReads++;
          return original.get!.call(this);
        },
      });
    });
    page = await context.newPage();
    await page.goto(`${ORIGIN}/`);
    await page.waitForFunction(() => window.LiveComponents !== undefined);
  }, 60_000);
  afterAll(async () => {
    await context?.close();
    await browser?.close();
  });

  it(`changing one row of ${ROWS} and inserting one on top each read siblings a bounded number of times per row (was ~n²/2)`, async () => {
    const changed = await readsOfOneAction();
    expect(changed.rows).toBe(ROWS);
    expect(await page.locator('li').nth(1).textContent()).toBe('row 1 changed');
    const inserted = await readsOfOneAction();
    expect(inserted.rows).toBe(ROWS + 1);
    expect(await page.locator('li').first().textContent()).toBe('new');
    expect(await page.locator('li').nth(3).textContent()).toBe('row 2 changed');
    // Each row is walked a few times (matching, morphing its children, removing the old); the
    // quadratic search read ~2,000,000 times for 2,000 rows.
    expect(changed.reads).toBeLessThan(20 * ROWS);
    expect(inserted.reads).toBeLessThan(20 * ROWS);
  }, 60_000);
});
