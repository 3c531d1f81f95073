/**
 * A page behind `@fastify/helmet` (its defaults) and `@fastify/compress` in Chromium: the runtime loads
 * under helmet's policy, the page, client.js and the action's JSON come compressed (br), and the action
 * runs. A same-origin HTML form post carries `Origin: null` under helmet's default
 * `Referrer-Policy: no-referrer` (Fetch: a non-CORS POST's origin follows the referrer policy), with
 * `Sec-Fetch-Site: same-origin`: `verifyForm` takes that as a same-origin post and verifies its token;
 * with `strict-origin-when-cross-origin` (ours) the form carries the app's origin. The same form, with
 * its valid token, posted from a sandboxed frame of the app's own page (an opaque origin: also
 * `Origin: null`) comes with `Sec-Fetch-Site: cross-site`, and is refused before the token. Over
 * plain HTTP to a host name (not localhost) no `Sec-Fetch-Site` comes at all: refused, as before 265838a.
 */
import compress from '@fastify/compress';
import formbody from '@fastify/formbody';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineComponent, html } from '../../src/index.js';
import { ATTR } from '../../src/core/wire.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { actionStatus, browserTestsEnabled, CHROMIUM_ARGS, CHROMIUM_PATH, launchChromium, serveComponents } from '../browser/browser.js';
import { loadHelmet } from './app.js';

const counter = defineComponent({
  name: 'counter',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: { inc: { run: (s) => ({ n: s.n + 1 }) } },
  render: (s) => html`<output data-n>${s.n}</output><button type="button" ${ATTR.action}="inc" data-testid="inc">+1</button>`,
});

/** What the page, the form post and the console showed. */
async function visit(browser: Browser, helmetOptions: Record<string, unknown>) {
  const helmet = await loadHelmet();
  const server = await serveComponents({
    components: [counter],
    page: {
      title: 'eco',
      body: async (view) =>
        html`${await view.mount('counter:main')}<form method="post" action="/form"><input type="hidden" name="_csrf_token" value="${await view.formToken()}"><button data-testid="send">Send</button></form>`,
    },
    setup: (app) => {
      void app.register(helmet, helmetOptions);
      void app.register(compress, { threshold: 0 });
      void app.register(formbody);
      app.post('/form', async (request, reply) => {
        const session = await app.livecomponents.verifyForm(request, (request.body as { _csrf_token?: unknown })._csrf_token);
        return reply.type('text/plain').send(`${session === null ? 'refused' : 'verified'}, Origin ${String(request.headers.origin)}`);
      });
    },
  });
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    const encodings = new Map<string, string | undefined>();
    page.on('response', (response) => encodings.set(new URL(response.url()).pathname, response.headers()['content-encoding']));
    await page.goto(`${server.base}/`);
    const status = await actionStatus(page, () => page.getByTestId('inc').click());
    await page.waitForFunction(() => document.querySelector('[data-n]')?.textContent === '1');
    await Promise.all([page.waitForURL(`${server.base}/form`), page.getByTestId('send').click()]);
    const form = (await page.textContent('body'))?.replace(server.base, 'APP');
    return { status, form, violations, encodings: ['/', '/livecomponents/client.js', '/api/livecomponents/action'].map((path) => encodings.get(path)) };
  } finally {
    await context.close();
    await server.close();
  }
}

/**
 * Under helmet's defaults, the app's page's form sent from `where`: `sandboxed`, the page in a
 * `sandbox="allow-forms allow-scripts"` frame (no allow-same-origin) of the app's own page; `plain-http`,
 * the page itself at `http://app.example.test:<port>` (a browser mapping that name to 127.0.0.1).
 */
async function sendForm(browser: Browser, where: 'sandboxed' | 'plain-http') {
  const helmet = await loadHelmet();
  const events = memorySecurityEvents();
  const sites: unknown[] = [];
  const server = await serveComponents({
    components: [counter],
    runtimeOptions: { events },
    page: {
      title: 'eco',
      body: async (view) =>
        html`<form method="post" action="/form"><input type="hidden" name="_csrf_token" value="${await view.formToken()}"><button data-testid="send">Send</button></form>`,
    },
    setup: (app) => {
      // Over plain HTTP helmet's default CSP (upgrade-insecure-requests) would send the post to https.
      void app.register(helmet, where === 'sandboxed' ? {} : { contentSecurityPolicy: false });
      void app.register(formbody);
      app.get('/framed', async (_request, reply) => reply.type('text/html').send('<!doctype html><iframe sandbox="allow-forms allow-scripts" src="/"></iframe>'));
      app.post('/form', async (request, reply) => {
        sites.push(request.headers['sec-fetch-site']);
        const session = await app.livecomponents.verifyForm(request, (request.body as { _csrf_token?: unknown })._csrf_token);
        return reply.type('text/plain').send(`${session === null ? 'refused' : 'verified'}, Origin ${String(request.headers.origin)}`);
      });
    },
  });
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const base = where === 'sandboxed' ? server.base : server.base.replace('127.0.0.1', 'app.example.test');
    await page.goto(where === 'sandboxed' ? `${base}/framed` : `${base}/`);
    const frame = where === 'sandboxed' ? page.frames().find((f) => f !== page.mainFrame()) : page.mainFrame();
    if (frame === undefined) throw new Error('no frame');
    await frame.waitForSelector('[data-testid="send"]');
    await Promise.all([frame.waitForURL(`${base}/form`), frame.getByTestId('send').click()]);
    return { form: await frame.textContent('body'), sites, events: events.events.map((e) => [e.event, e.description]) };
  } finally {
    await context.close();
    await server.close();
  }
}

describe.runIf(browserTestsEnabled('@fastify/helmet and @fastify/compress in Chromium'))('@fastify/helmet and @fastify/compress in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("helmet's defaults: the runtime loads and its action runs, all compressed; the form post comes with Origin: null, same-origin, and verifies", async () => {
    expect(await visit(browser, {})).toEqual({ status: 200, form: 'verified, Origin null', violations: [], encodings: ['br', 'br', 'br'] });
  }, 60_000);

  it("helmet with referrerPolicy strict-origin-when-cross-origin: the form post carries the app's origin and verifies", async () => {
    const seen = await visit(browser, { referrerPolicy: { policy: 'strict-origin-when-cross-origin' } });
    expect(seen).toEqual({ status: 200, form: 'verified, Origin APP', violations: [], encodings: ['br', 'br', 'br'] });
  }, 60_000);

  it("helmet's defaults: the form, valid token and all, posted from a sandboxed frame of the app's own page is Origin: null, cross-site, refused", async () => {
    expect(await sendForm(browser, 'sandboxed')).toEqual({
      form: 'refused, Origin null',
      sites: ['cross-site'],
      events: [['malicious_csrf', 'Form post refused: Sec-Fetch-Site is cross-site']],
    });
  }, 60_000);

  // Browsers send Sec-Fetch-* to secure origins only (HTTPS, localhost, 127.0.0.1): over plain HTTP
  // to any other name the same-origin post is Origin: null alone, and refused. (Helmet's default CSP,
  // upgrade-insecure-requests, would not let the post go over HTTP at all: its CSP is off here.)
  it("helmet's no-referrer over plain HTTP to a host name: no Sec-Fetch-Site, the same-origin form post is refused as Origin null", async () => {
    const mapped = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP app.example.test 127.0.0.1'] });
    try {
      expect(await sendForm(mapped, 'plain-http')).toEqual({
        form: 'refused, Origin null',
        sites: [undefined],
        events: [['malicious_csrf', expect.stringMatching(/^Form post refused: Origin header is not a trusted origin \(trusted: http:\/\/127\.0\.0\.1:\d+\): open the app at one of these, or set appOrigin\/allowedOrigins$/)]],
      });
    } finally {
      await mapped.close();
    }
  }, 60_000);
});
