/**
 * The reference app as assistive technology meets it in Chromium, read from the browser's own
 * accessibility tree (CDP `Accessibility.getPartialAXTree`): a field's name is its label and its
 * refusal is its description, not both at once; the password recovery forms keep the focus where
 * the user is, and their status line stays in the page.
 * The markup itself is checked without a browser in examples/demo/a11y.test.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { capturedMailTransport } from '../../src/auth/index.js';
import { ATTR } from '../../src/core/wire.js';
import { actionStatus, browserTestsEnabled, demoInChromium, openLive, settled as settledIn } from './browser.js';

const PASSWORD = 'correct horse battery staple';

let app: FastifyInstance;
let mail: ReturnType<typeof capturedMailTransport>;
let base: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;

interface AXValue {
  value?: unknown;
}
interface AXNode {
  role?: AXValue;
  name?: AXValue;
  description?: AXValue;
  ignored?: boolean;
}

/** The role, name and description Chromium computes for the element `selector` matches. */
async function accessible(selector: string): Promise<{ role: string; name: string; description: string }> {
  const cdp = await context.newCDPSession(page);
  try {
    const { root } = await cdp.send('DOM.getDocument', { depth: 0 });
    const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector });
    if (nodeId === 0) throw new Error(`no element matches ${selector}`);
    const { nodes } = (await cdp.send('Accessibility.getPartialAXTree', { nodeId, fetchRelatives: false })) as { nodes: AXNode[] };
    const node = nodes[0];
    if (node === undefined || node.ignored === true) throw new Error(`${selector} is not in the accessibility tree`);
    const text = (v: AXValue | undefined): string => (typeof v?.value === 'string' ? v.value : '');
    return { role: text(node.role), name: text(node.name), description: text(node.description) };
  } finally {
    await cdp.detach();
  }
}

/** The element that has the focus, described for a failure message: `body`, or its tag and a telling attribute. */
const focused = (): Promise<string> =>
  page.evaluate(() => {
    const el = document.activeElement;
    if (el === null || el === document.body) return 'body';
    const hint = ['data-auth-status', 'name', 'type'].find((a) => el.hasAttribute(a));
    return hint === undefined ? el.tagName.toLowerCase() : `${el.tagName.toLowerCase()}[${hint}${hint === 'data-auth-status' ? '' : `=${el.getAttribute(hint)}`}]`;
  });

/** Waits until the component `id` is no longer busy. */
const settled = (id: string): Promise<void> => settledIn(page, id);

describe.runIf(browserTestsEnabled('reference app in the accessibility tree'))('reference app in the accessibility tree', () => {
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    mail = capturedMailTransport();
    ({ app, base, browser, stop } = await demoInChromium({ mail }));
  });
  afterAll(() => stop?.());

  beforeEach(async () => {
    context = await browser.newContext();
    page = await context.newPage();
  });
  afterEach(async () => {
    await context?.close();
  });

  it('a refused field is named by its label alone and described by its message (/payment, /orders)', async () => {
    const cases = [
      { path: '/payment', id: 'payment:main', field: 'amount', value: '5000', label: 'Amount', message: 'The amount exceeds the balance.' },
      { path: '/orders', id: 'order:main', field: 'item', value: '   ', label: 'Item', message: 'Enter an item.' },
    ];
    for (const { path, id, field, value, label, message } of cases) {
      await openLive(page, `${base}${path}`);
      const selector = `[${ATTR.id}="${id}"] input[name="${field}"]`;
      expect(await accessible(selector), path).toMatchObject({ name: label, description: '' });
      const input = page.locator(selector);
      await input.fill(value);
      expect(await actionStatus(page, () => input.press('Enter')), path).toBe(400);
      await settled(id);
      await expect.poll(() => page.locator(`[data-lc-error="${field}"]`).textContent()).toBe(message);
      expect(await input.getAttribute('aria-invalid'), path).toBe('true');
      expect(await accessible(selector), path).toMatchObject({ name: label, description: message });
    }
  });

  it('/forgot-password keeps the focus on the button that sent the form, and the answer in the status line', async () => {
    await page.goto(`${base}/forgot-password`);
    const button = page.getByRole('button', { name: 'Send the link' });
    await expect.poll(() => button.isEnabled()).toBe(true);
    await page.locator('input[name="email"]').fill('nobody@example.com');
    const [answer] = await Promise.all([page.waitForResponse(`${base}/api/v1/auth/forgot-password`), button.click()]);
    expect(answer.status()).toBe(202);
    const status = page.locator('[data-auth-status]');
    await expect.poll(() => status.textContent()).not.toBe('');
    expect(await focused()).toBe('button[type=submit]');
    expect(await accessible('[data-auth-status]')).toMatchObject({ role: 'status' });
  });

  it('/reset-password: a refusal leaves the (empty) status line in the page; success moves the focus to it', async () => {
    // A token nobody issued: the API refuses it.
    await page.goto(`${base}/reset-password#token=${'A'.repeat(43)}`);
    const button = page.getByRole('button', { name: 'Set the new password' });
    await expect.poll(() => button.isEnabled()).toBe(true);
    const status = page.locator('[data-auth-status]');
    const statusHidden = () => status.evaluate((el) => (el as HTMLElement).hidden);
    expect(await statusHidden()).toBe(false);
    await page.locator('input[name="password"]').fill('a brand new password');
    const [refused] = await Promise.all([page.waitForResponse(`${base}/api/v1/auth/reset-password`), button.click()]);
    expect(refused.status()).toBe(400);
    await expect.poll(() => page.locator('[data-auth-error]').textContent()).toContain('[RESET_TOKEN_INVALID]');
    expect([await statusHidden(), await status.textContent()]).toEqual([false, '']);
    expect(await accessible('[data-auth-status]')).toMatchObject({ role: 'status' });
    expect(await focused()).toBe('button[type=submit]');
    // The hint is read with the field.
    expect(await accessible('input[name="password"]')).toMatchObject({ name: 'New password', description: expect.stringContaining('8 to 128 characters.') });

    const registered = await fetch(`${base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', password: PASSWORD, name: 'Ada' }),
    });
    expect(registered.status).toBe(201);
    const asked = await fetch(`${base}/api/v1/auth/forgot-password`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com' }),
    });
    expect(asked.status).toBe(202);
    await app.livecomponentsAuth.service.idle();
    const link = /\/reset-password#token=[A-Za-z0-9_-]{43}/.exec(mail.messages.at(-1)?.text ?? '')?.[0];
    expect(link).toBeDefined();

    await page.goto(`${base}${link!}`);
    await expect.poll(() => button.isEnabled()).toBe(true);
    await page.locator('input[name="password"]').fill('a brand new password');
    const [reset] = await Promise.all([page.waitForResponse(`${base}/api/v1/auth/reset-password`), button.click()]);
    expect(reset.status()).toBe(204);
    await expect.poll(() => status.textContent()).toContain('Your password is changed');
    // The form, done, is hidden: the focus it held is on the answer, not dropped to the page's start.
    expect(await page.locator('form[data-auth-form]').isHidden()).toBe(true);
    expect(await focused()).toBe('p[data-auth-status]');
  });
});
