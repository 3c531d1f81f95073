/**
 * The browser runtime against the real plugin in strict CSRF mode (`csrf: { rotation: 'per-action' }`,
 * single-use tokens) and, for comparison, in the default per-session mode. One page holds two
 * instances of a component whose action takes a moment and counts its runs on the server, and an
 * HTML form with the page view's form token.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defineComponent, html } from '../../src/index.js';
import { ATTR, BODY, CSRF_META_NAME, CSRF_SINGLE_USE_ATTR, HEADERS, ROUTES } from '../../src/core/wire.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { browserTestsEnabled, launchChromium, openLive, recordEvents, serveComponents, type RecordedEvent } from './browser.js';

/** What the server saw: runs per instance, and the most actions running at once. */
interface Runs {
  byId: Record<string, number>;
  running: number;
  maxRunning: number;
}

/**
 * An app whose page `/` holds `tally:a` and `tally:b`; `add` takes 250 ms and counts its runs in
 * `runs`. In per-session mode it waits (up to 5 s) until a second action runs beside it: two clicks
 * in a row did not always overlap 250 ms on a loaded machine; actions sent one at a time still end,
 * 5 s later, with `maxRunning` 1.
 */
async function startApp(rotation: 'per-session' | 'per-action') {
  const runs: Runs = { byId: {}, running: 0, maxRunning: 0 };
  let secondStarted = (): void => {};
  const beside = rotation === 'per-session' ? new Promise<void>((resolve) => (secondStarted = resolve)) : Promise.resolve();
  const tally = defineComponent({
    name: 'tally',
    initialState: { n: 0 },
    publicState: ['n'],
    actions: {
      add: {
        run: async (state, _params, ctx) => {
          runs.byId[ctx.componentId] = (runs.byId[ctx.componentId] ?? 0) + 1;
          runs.maxRunning = Math.max(runs.maxRunning, ++runs.running);
          if (runs.running === 2) secondStarted();
          await Promise.race([beside, new Promise((resolve) => setTimeout(resolve, 5_000))]);
          await new Promise((resolve) => setTimeout(resolve, 250));
          runs.running--;
          return { n: state.n + 1 };
        },
      },
    },
    render: (state, ctx) => html`<output data-n>${state.n}</output><button type="button" ${ATTR.action}="add" data-testid="${ctx.componentId}">add</button>`,
  });
  const events = memorySecurityEvents();
  const server = await serveComponents({
    components: [tally],
    runtimeOptions: { csrf: { rotation }, events },
    page: {
      title: 'tallies',
      body: async (view) => {
        const form = html`<form method="post" action="/form"><input type="hidden" name="${BODY.csrfToken}" value="${await view.formToken()}"><button data-testid="submit">submit</button></form>`;
        return html`${await view.mount('tally:a')}${await view.mount('tally:b')}${form}`;
      },
    },
    setup: (app, runtime) => {
      // A plain HTML form, checked the way an app's own form handler does it.
      app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, text, done) => {
        done(null, Object.fromEntries(new URLSearchParams(text as string)));
      });
      app.post('/form', async (request, reply) => {
        const session = await runtime.sessions.load(app.livecomponents.cookie.read(request));
        const token = (request.body as Record<string, string | undefined>)[BODY.csrfToken];
        const ok = session !== null && (await runtime.csrf.verify(session, token));
        return reply.code(ok ? 200 : 403).type('text/html; charset=utf-8').send(`<p data-testid="form-answer">${ok ? 'accepted' : 'refused'}</p>`);
      });
    },
  });
  return { ...server, runs, events };
}

type App = Awaited<ReturnType<typeof startApp>>;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let events: RecordedEvent[];

async function open(app: App): Promise<void> {
  context = await browser.newContext();
  page = await context.newPage();
  events = await recordEvents(page);
  await openLive(page, `${app.base}/`);
}

const count = (id: string) => page.locator(`[${ATTR.id}="${id}"] [data-n]`).textContent();
const singleUseMark = () => page.locator(`meta[name="${CSRF_META_NAME}"]`).getAttribute(CSRF_SINGLE_USE_ATTR);

describe.runIf(browserTestsEnabled('strict CSRF mode in Chromium'))('strict CSRF mode in Chromium', () => {
  let strict: App;
  let lax: App;
  beforeAll(async () => {
    [strict, lax] = await Promise.all([startApp('per-action'), startApp('per-session')]);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await Promise.all([strict?.close(), lax?.close()]);
  });
  beforeEach(() => {
    for (const app of [strict, lax]) {
      app.runs.byId = {};
      app.runs.maxRunning = 0;
      app.events.events.length = 0;
    }
  });
  afterEach(async () => {
    await context?.close();
  });

  it('clicks on two components at once both succeed: the actions go one at a time, each with an unused token', async () => {
    await open(strict);
    expect(await singleUseMark()).toBe('');
    const tokens: string[] = [];
    page.on('request', (r) => void (r.url().endsWith(ROUTES.action) && tokens.push(r.headers()[HEADERS.csrfToken] ?? '')));
    await page.getByTestId('tally:a').click();
    await page.getByTestId('tally:b').click();
    await expect.poll(() => events.length, { timeout: 5000 }).toBe(2);
    expect(events.map((e) => `${e.type}@${e.target}`)).toEqual(['lc:success@tally:a', 'lc:success@tally:b']);
    expect([await count('tally:a'), await count('tally:b')]).toEqual(['1', '1']);
    expect(strict.runs.byId).toEqual({ 'tally:a': 1, 'tally:b': 1 });
    expect(strict.runs.maxRunning).toBe(1);
    expect(new Set(tokens).size).toBe(2);
    expect(strict.events.events.map((e) => e.event)).not.toContain('malicious_csrf');
  });

  it('an answer lost after the action ran: the retry, with a fresh token from the page, gets the cached result; the action ran once', async () => {
    await open(strict);
    const attempts: Array<{ token: string; key: string }> = [];
    await page.route(`**${ROUTES.action}`, async (route) => {
      const headers = route.request().headers();
      attempts.push({ token: headers[HEADERS.csrfToken] ?? '', key: headers[HEADERS.idempotencyKey] ?? '' });
      if (attempts.length > 1) return route.continue();
      await route.fetch(); // the server runs the action and uses the token up…
      return route.abort('connectionreset'); // …but the browser never sees the answer
    });
    await page.getByTestId('tally:a').click();
    await expect.poll(() => events.length, { timeout: 5000 }).toBe(1);
    expect(events[0]).toMatchObject({ type: 'lc:success', target: 'tally:a', detail: { state: { n: 1 }, idempotency: { cached: true } } });
    expect(strict.runs.byId).toEqual({ 'tally:a': 1 });
    expect(attempts).toHaveLength(2);
    expect(attempts[1]?.key).toBe(attempts[0]?.key);
    expect(attempts[1]?.token).not.toBe(attempts[0]?.token);
    expect(await count('tally:a')).toBe('1');
    expect(strict.events.events.map((e) => e.event)).not.toContain('malicious_csrf');
    // The token the replay brought works for the next click.
    await page.getByTestId('tally:a').click();
    await expect.poll(() => count('tally:a')).toBe('2');
  });

  it('a token spent by an attempt whose answer was lost as the network dropped: back online, the next action takes a fresh one from the page first', async () => {
    await open(strict);
    const tokens: string[] = [];
    page.on('request', (r) => void (r.url().endsWith(ROUTES.action) && tokens.push(r.headers()[HEADERS.csrfToken] ?? '')));
    let first = true;
    await page.route(`**${ROUTES.action}`, async (route) => {
      if (!first) return route.continue();
      first = false;
      await route.fetch(); // the server runs the action and uses the token up…
      await context.setOffline(true); // …then the network drops: no answer, no page for a fresh token
      return route.abort('internetdisconnected');
    });
    await page.getByTestId('tally:a').click();
    await expect.poll(() => events.length, { timeout: 5000 }).toBe(1);
    expect(events[0]).toMatchObject({ type: 'lc:error', target: 'tally:a', detail: { code: 'NETWORK_ERROR', outcomeUnknown: true } });
    await context.setOffline(false);
    await page.getByTestId('tally:a').click();
    await expect.poll(() => events.length, { timeout: 5000 }).toBe(2);
    expect(events[1]).toMatchObject({ type: 'lc:success', target: 'tally:a', detail: { state: { n: 2 } } });
    expect(strict.runs.byId).toEqual({ 'tally:a': 2 });
    // The first attempt and its two retries offline carried the token; the next action a fresh one.
    expect(tokens).toHaveLength(4);
    expect(new Set(tokens.slice(0, 3)).size).toBe(1);
    expect(tokens[3]).not.toBe(tokens[0]);
    expect(strict.events.events.map((e) => e.event)).not.toContain('malicious_csrf');
  });

  it('a page fetch for a token that stalls is given up: the action ends (its retry refused, outcome unknown), and the one waiting behind it goes out', async () => {
    await open(strict);
    let pageFetches = 0;
    // The runtime's page fetches (not navigations): the first never gets an answer.
    await page.route(`${strict.base}/`, (route) => (route.request().resourceType() === 'fetch' && ++pageFetches === 1 ? undefined : route.continue()));
    let first = true;
    await page.route(`**${ROUTES.action}`, async (route) => {
      if (!first) return route.continue();
      first = false;
      await route.fetch(); // the action runs, its token used up…
      return route.abort('connectionreset'); // …and its answer is lost: the retry needs a fresh token
    });
    await page.getByTestId('tally:a').click();
    await page.getByTestId('tally:b').click();
    await expect.poll(() => events.length, { timeout: 25_000 }).toBe(2);
    const byTarget = Object.fromEntries(events.map((e) => [e.target, e]));
    // Without a fresh token the retry went with the spent one, refused before the replay could tell.
    expect(byTarget['tally:a']).toMatchObject({ type: 'lc:error', detail: { status: 403, code: 'CSRF_TOKEN_INVALID', outcomeUnknown: true } });
    expect(byTarget['tally:b']).toMatchObject({ type: 'lc:success', detail: { state: { n: 1 } } });
    expect(strict.runs.byId).toEqual({ 'tally:a': 1, 'tally:b': 1 });
    // The stalled fetch, the token fetch of tally:b (its page's token spent), tally:a's reload.
    expect(pageFetches).toBe(3);
    expect(await page.locator(`[${ATTR.id}]`).evaluateAll((roots) => roots.map((el) => el.getAttribute('aria-busy')))).toEqual([null, null]);
  }, 40_000);

  it("an HTML form of the page still posts after actions: it carries the page view's form token, which actions never spend", async () => {
    await open(strict);
    await page.getByTestId('tally:a').click();
    await page.getByTestId('tally:b').click();
    await expect.poll(() => events.length, { timeout: 5000 }).toBe(2);
    await page.getByTestId('submit').click();
    await expect.poll(() => page.getByTestId('form-answer').textContent().catch(() => null), { timeout: 5000 }).toBe('accepted');
    expect(strict.events.events.map((e) => e.event)).not.toContain('malicious_csrf');
  });

  it('per-session mode: actions of two components are in flight at the same time', async () => {
    await open(lax);
    expect(await singleUseMark()).toBeNull();
    await page.getByTestId('tally:a').click();
    await page.getByTestId('tally:b').click();
    await expect.poll(() => events.length, { timeout: 5000 }).toBe(2);
    expect(events.map((e) => e.type)).toEqual(['lc:success', 'lc:success']);
    expect(lax.runs.byId).toEqual({ 'tally:a': 1, 'tally:b': 1 });
    expect(lax.runs.maxRunning).toBe(2);
  });
});
