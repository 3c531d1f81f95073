/**
 * A page under a nonce-based Content-Security-Policy (`script-src 'nonce-…' 'strict-dynamic'`, a
 * fresh nonce per request, as `@fastify/helmet` with `enableCSPNonces: true` sends it) in Chromium:
 * the runtime's script tag carries the reply's nonce (`reply.cspNonce.script`), so the runtime loads,
 * its buttons work, and Chromium reports no violation. Without the nonce it refused client.js.
 */
import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineComponent, html } from '../../src/index.js';
import { ATTR } from '../../src/core/wire.js';
import { actionStatus, browserTestsEnabled, launchChromium, serveComponents, type ServedApp } from './browser.js';

const counter = defineComponent({
  name: 'counter',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: { inc: { run: (s) => ({ n: s.n + 1 }) } },
  render: (s) => html`<output data-n>${s.n}</output><button type="button" ${ATTR.action}="inc" data-testid="inc">+1</button>`,
});

/** The counter's page under a nonce policy, set as @fastify/helmet with enableCSPNonces does it. */
function startApp(): Promise<ServedApp> {
  return serveComponents({
    components: [counter],
    page: { title: 'csp', body: (view) => view.mount('counter:main') },
    setup: (app) => {
      // What @fastify/helmet does with enableCSPNonces: a nonce per request on the reply, and in its policy.
      app.decorateReply('cspNonce', null);
      app.addHook('onRequest', async (_request, reply) => {
        const script = randomBytes(16).toString('base64');
        (reply as unknown as { cspNonce: { script: string; style: string } }).cspNonce = { script, style: randomBytes(16).toString('base64') };
        reply.header('content-security-policy', `default-src 'self'; script-src 'nonce-${script}' 'strict-dynamic'; object-src 'none'; base-uri 'none'`);
      });
    },
  });
}

describe.runIf(browserTestsEnabled('CSP nonces in Chromium'))('CSP nonces in Chromium', () => {
  let server: ServedApp;
  let browser: Browser;
  beforeAll(async () => {
    server = await startApp();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("loads the runtime under script-src 'nonce-…' 'strict-dynamic'; its action runs; no violation", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const violations: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
      });
      await page.goto(`${server.base}/`);
      // Module scripts run before the load event `goto` waited for: the runtime has started, or never will.
      expect(await page.evaluate(() => window.LiveComponents !== undefined)).toBe(true);
      expect(await actionStatus(page, () => page.getByTestId('inc').click())).toBe(200);
      await page.waitForFunction(() => document.querySelector('[data-n]')?.textContent === '1');
      expect(violations).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});
