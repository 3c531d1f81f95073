/**
 * The browser runtime against a scripted server: a page and action answers served by Playwright
 * routes (origin http://lc.test, not a secure context), so every answer — slow, failed, refused —
 * is under the test's control.
 */
import type { BrowserContext, Page, Route } from 'playwright-core';
import { beforeEach, describe, expect, it } from 'vitest';
import { ATTR, CSRF_META_NAME, CSRF_SINGLE_USE_ATTR, HEADERS, ROUTES } from '../../src/core/wire.js';
import { browserTestsEnabled, humanDoubleClick, openLive, recordEvents, scriptedBrowser, SCRIPTED_ORIGIN as ORIGIN, type RecordedEvent } from './browser.js';

/** The component as the fake server renders it, `n` being its state. */
function render(n: number, extra = ''): string {
  return `<div ${ATTR.id}="demo:one">
  <output data-n>${n}</output>
  <button type="button" ${ATTR.action}="bump" ${ATTR.params}='{"by":2}'>bump</button>
  <a href="/elsewhere" ${ATTR.action}="bump" data-testid="link">link</a>
  <button type="button" ${ATTR.action}="bump" disabled data-testid="disabled">disabled</button>
  <input name="note" data-testid="note" value="server">
  <input name="other" data-testid="other" value="server">
  <input name="server_marked" value="x" aria-invalid="true">
  <form ${ATTR.action}="save" ${ATTR.params}='{"source":"form","over":"form"}'>
    <input name="_csrf_token" type="hidden" value="must-not-be-sent">
    <input name="title" value="Hello">
    <span ${ATTR.error}="title" data-testid="title-error" hidden></span>
    <span ${ATTR.error}="_" data-testid="form-error" hidden></span>
    <input name="qty" type="number" value="3">
    <input name="empty_qty" type="number" value="">
    <input name="level" type="range" min="0" max="10" value="7">
    <input name="agree" type="checkbox" checked>
    <input name="newsletter" type="checkbox">
    <input name="tags" type="checkbox" value="a" checked>
    <input name="tags" type="checkbox" value="b">
    <input name="tags" type="checkbox" value="c" checked>
    <input name="none" type="checkbox" value="x"><input name="none" type="checkbox" value="y">
    <input name="size" type="radio" value="s"><input name="size" type="radio" value="m" checked>
    <select name="colors" multiple><option selected>red</option><option>green</option><option selected>blue</option></select>
    <select name="no_colors" multiple><option>red</option><option>green</option></select>
    <select name="off_colors" multiple disabled><option>red</option></select>
    <input name="alias" value="one"><input name="alias" value="two">
    <input name="avatar" type="file">
    <input name="locked" value="no" disabled>
    <input name="constructor" value="plain">
    <button type="submit" name="intent" value="publish" ${ATTR.params}='{"over":"submitter"}'>Publish</button>
  </form>
  ${extra}
</div>`;
}

const OTHER = `<div ${ATTR.id}="demo:two"><button type="button" ${ATTR.action}="ping">ping</button></div>`;

/** A page holding `body`, with the CSRF token `token-0`. */
const pageOf = (body: string): string => `<!doctype html><html><head><meta charset="utf-8">
<meta name="${CSRF_META_NAME}" content="token-0">
<script type="module" src="${ROUTES.clientScript}"></script></head>
<body>${body}</body></html>`;

const PAGE = pageOf(`${render(0)}
${OTHER}`);

interface Call {
  body: { component_id: string; action: string; params: Record<string, unknown> };
  headers: Record<string, string>;
  /** `performance.now()` in the test process when the call reached the scripted server. */
  at: number;
}
type Answer = { status: number; body: unknown; headers?: Record<string, string> } | 'abort';
type Handler = (call: Call, index: number) => Answer | Promise<Answer>;

let context: BrowserContext;
let page: Page;
let events: RecordedEvent[];
let calls: Call[];
let handler: Handler;
/** What `GET /` answers (the page the runtime fetches again to reload a component), and how often it was asked. */
let pageAnswer: () => { status: number; contentType: string; body: string; headers?: Record<string, string> };
let pageLoads: number;

/** A 200 answer for `demo:one` at state `n` (or for `demo:two`, which has no state). */
const success = (n: number, extra = '', componentId = 'demo:one'): Answer => ({
  status: 200,
  body: { html: componentId === 'demo:two' ? OTHER : render(n, extra), state: { n }, csrf_token: `token-${n}` },
});

async function serve(route: Route, bundle: string): Promise<void> {
  const url = new URL(route.request().url());
  // `/copy.js`: the same runtime under another URL, as an app bundle holding a second copy would be.
  if (url.pathname === ROUTES.clientScript || url.pathname === '/copy.js') return route.fulfill({ contentType: 'text/javascript', body: bundle });
  if (url.pathname === ROUTES.action) {
    const call: Call = { body: route.request().postDataJSON() as Call['body'], headers: route.request().headers(), at: performance.now() };
    calls.push(call);
    const answer = await handler(call, calls.length - 1);
    if (answer === 'abort') return route.abort('internetdisconnected');
    return route.fulfill({ status: answer.status, contentType: 'application/json', headers: answer.headers, body: JSON.stringify(answer.body) });
  }
  if (url.pathname === '/') {
    pageLoads++;
    return route.fulfill(pageAnswer());
  }
  return route.fulfill({ status: 404, body: 'not here' });
}

const text = (selector: string) => page.locator(selector).textContent();
/** `data-lc-loading` and `aria-busy` of component `id`'s root. */
const loadingMarks = (id: string) => page.locator(`[${ATTR.id}="${id}"]`).evaluate((el, a) => [el.getAttribute(a), el.getAttribute('aria-busy')], ATTR.loading);
/** A 200 answer with `html` (its component has no state). */
const answerWith = (html: string): Answer => ({ status: 200, body: { html, state: {}, csrf_token: 'token-x' } });

/** Answers every action with success, the first only once the returned function is called. */
function holdFirstAnswer(): () => void {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  handler = async (call, i) => {
    if (i === 0) await held;
    return success(i + 1, '', call.body.component_id);
  };
  return release;
}

/** Loads a page holding `body` (answered with `headers`) instead of the default one. */
async function reopen(body: string, headers: Record<string, string> = {}): Promise<void> {
  pageAnswer = () => ({ status: 200, contentType: 'text/html', headers, body: pageOf(body) });
  await openLive(page, `${ORIGIN}/`);
}
const meta = () => page.locator(`meta[name="${CSRF_META_NAME}"]`).getAttribute('content');
const root = () => page.locator(`[${ATTR.id}="demo:one"]`);

describe.runIf(browserTestsEnabled('browser runtime (scripted server)'))('browser runtime (scripted server)', () => {
  scriptedBrowser(serve, async (opened, openedContext) => {
    calls = [];
    handler = (call, i) => success(i + 1);
    pageAnswer = () => ({ status: 200, contentType: 'text/html', body: PAGE });
    pageLoads = 0;
    [page, context] = [opened, openedContext];
    events = await recordEvents(page);
    await openLive(page, `${ORIGIN}/`);
  });

  it('clicks call the action with data-lc-params, the page token and a UUID key, then morph and take the fresh token', async () => {
    await page.evaluate(() => ((document.querySelector('[data-lc-id="demo:one"]') as unknown as { mark: number }).mark = 42));
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => text('[data-n]')).toBe('1');
    expect(calls).toHaveLength(1);
    const [call] = calls as [Call];
    expect(call.body).toEqual({ component_id: 'demo:one', action: 'bump', params: { by: 2 } });
    expect(call.headers[HEADERS.csrfToken]).toBe('token-0');
    expect(call.headers['content-type']).toBe('application/json');
    expect(call.headers[HEADERS.idempotencyKey]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await meta()).toBe('token-1');
    expect(await page.evaluate(() => (document.querySelector('[data-lc-id="demo:one"]') as unknown as { mark?: number }).mark)).toBe(42);
    expect(events).toEqual([{ type: 'lc:success', target: 'demo:one', detail: { componentId: 'demo:one', action: 'bump', state: { n: 1 } } }]);

    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => text('[data-n]')).toBe('2');
    expect(calls[1]?.headers[HEADERS.csrfToken]).toBe('token-1');
    expect(calls[1]?.headers[HEADERS.idempotencyKey]).not.toBe(call.headers[HEADERS.idempotencyKey]);
  });

  it('submits a form: typed fields, arrays for repeated names, no files, no CSRF field; params merged over fields', async () => {
    await page.getByText('Publish').click();
    await expect.poll(() => calls.length).toBe(1);
    expect(calls[0]?.body.action).toBe('save');
    expect(calls[0]?.body.params).toEqual({
      title: 'Hello',
      qty: 3,
      empty_qty: '',
      level: 7,
      agree: true,
      newsletter: false,
      tags: ['a', 'c'],
      none: [],
      size: 'm',
      colors: ['red', 'blue'],
      no_colors: [],
      alias: ['one', 'two'],
      constructor: 'plain',
      intent: 'publish',
      source: 'form',
      over: 'submitter',
    });
    expect(page.url()).toBe(`${ORIGIN}/`);
  });

  it("a double click on a form's submit button submits once, even when the first answer is already in", async () => {
    await page.getByText('Publish').dblclick();
    await expect.poll(() => text('[data-n]')).toBe('1');
    // A human double click: the second click comes 150 ms later, after the first answer was morphed in.
    await humanDoubleClick(page, page.getByText('Publish'));
    await page.waitForTimeout(300);
    expect(calls).toHaveLength(2);
  });

  it('a link with data-lc-action does not navigate; a disabled button does nothing', async () => {
    await page.getByTestId('link').click();
    await expect.poll(() => text('[data-n]')).toBe('1');
    expect(page.url()).toBe(`${ORIGIN}/`);
    await page.getByTestId('disabled').click({ force: true });
    await page.getByTestId('disabled').dispatchEvent('click');
    await page.waitForTimeout(100);
    expect(calls).toHaveLength(1);
  });

  it('marks the root while in flight and ignores further clicks on it until the answer; a form submitted meanwhile goes out after it', async () => {
    const release = holdFirstAnswer();
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => root().getAttribute(ATTR.loading)).toBe('');
    expect(await loadingMarks('demo:one')).toEqual(['', 'true']);
    await page.getByText('bump', { exact: true }).click();
    await page.getByText('Publish').click();
    const busy = await page.evaluate(() => window.LiveComponents?.call('demo:one', 'bump'));
    expect(busy).toEqual({ type: 'busy' });
    // Another component is not blocked.
    await page.getByText('ping').click();
    await expect.poll(() => calls.length).toBe(2);
    expect(calls[1]?.body.component_id).toBe('demo:two');
    release();
    // The form's submit waited for the answer in flight (queued-submit.test.ts); the clicks and the call did not.
    await expect.poll(() => calls.length).toBe(3);
    expect(calls.map((c) => `${c.body.component_id} ${c.body.action}`)).toEqual(['demo:one bump', 'demo:two ping', 'demo:one save']);
    await expect.poll(() => text('[data-n]')).toBe('3');
    expect(await loadingMarks('demo:one')).toEqual([null, null]);
    expect(calls).toHaveLength(3);
  });

  it('retries a network failure twice with the same key, then succeeds once', async () => {
    handler = (_call, i) => (i < 2 ? 'abort' : success(1));
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => text('[data-n]'), { timeout: 5000 }).toBe('1');
    expect(calls).toHaveLength(3);
    // Each retry waited its delay (300 ms, then 1000 ms) after the failure it retries, which came
    // after the failed call reached the server: lower bounds only (a timer never fires early; 2 ms
    // for rounding), the page's clock being out of the test's hands.
    const [first, second, third] = calls.map((c) => c.at) as [number, number, number];
    expect(second - first).toBeGreaterThanOrEqual(298);
    expect(third - second).toBeGreaterThanOrEqual(998);
    expect(new Set(calls.map((c) => c.headers[HEADERS.idempotencyKey])).size).toBe(1);
    expect(events.map((e) => e.type)).toEqual(['lc:success']);
  });

  it('reports NETWORK_ERROR after the retries, and frees the component', async () => {
    handler = () => 'abort';
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => events.length, { timeout: 5000 }).toBe(1);
    expect(calls).toHaveLength(3);
    expect(events[0]).toMatchObject({ type: 'lc:error', target: 'demo:one', detail: { componentId: 'demo:one', action: 'bump', status: 0, code: 'NETWORK_ERROR' } });
    expect(await root().getAttribute(ATTR.loading)).toBeNull();
    handler = () => success(5);
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => text('[data-n]')).toBe('5');
  });

  it('dispatches lc:error with the code, retry_after and errors, without retrying; takes a token from an error body', async () => {
    handler = (_call, i) =>
      i === 0
        ? { status: 429, headers: { 'retry-after': '30' }, body: { error: 'Too many requests.', code: 'RATE_LIMIT_EXCEEDED', request_id: 'r1', retry_after: 30, limit: 5, window: 300 } }
        : { status: 400, body: { error: 'Invalid.', code: 'VALIDATION_FAILED', request_id: 'r2', errors: { title: ['Too short.'] }, csrf_token: 'token-err' } };
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => events.length).toBe(1);
    await page.getByText('Publish').click();
    await expect.poll(() => events.length).toBe(2);
    expect(calls).toHaveLength(2);
    expect(events[0]?.detail).toEqual({
      componentId: 'demo:one', action: 'bump', status: 429, code: 'RATE_LIMIT_EXCEEDED', error: 'Too many requests.', request_id: 'r1', retry_after: 30, limit: 5, window: 300,
    });
    expect(events[1]?.detail).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', errors: { title: ['Too short.'] } });
    expect(await meta()).toBe('token-err');
    expect(await text('[data-n]')).toBe('0');
  });

  it('on 409 STATE_INVALID reloads the component from the page (fresh markup and token), then reports it', async () => {
    handler = () => ({ status: 409, body: { error: 'Reload.', code: 'STATE_INVALID', request_id: 'r1', csrf_token: 'token-409' } });
    const fresh = PAGE.replace('content="token-0"', 'content="token-fresh"').replace(render(0), render(7)).replace(OTHER, '');
    pageAnswer = () => ({ status: 200, contentType: 'text/html; charset=utf-8', body: fresh });
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => events.length).toBe(1);
    expect(events[0]).toEqual({
      type: 'lc:error',
      target: 'demo:one',
      detail: { componentId: 'demo:one', action: 'bump', status: 409, code: 'STATE_INVALID', error: 'Reload.', request_id: 'r1', reloaded: true },
    });
    expect(pageLoads).toBe(2);
    expect(calls).toHaveLength(1);
    expect(await text('[data-n]')).toBe('7');
    expect(await meta()).toBe('token-fresh');
    expect(await root().getAttribute(ATTR.loading)).toBeNull();
    // Only that component was reloaded: the other one (absent from the fetched page) stays.
    expect(await page.getByText('ping').count()).toBe(1);
    handler = (_call, i) => success(i + 7);
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => text('[data-n]')).toBe('8');
    expect(calls[1]?.headers[HEADERS.csrfToken]).toBe('token-fresh');
  });

  it('on 403 CSRF_TOKEN_INVALID (session replaced or expired) reloads the component and takes the page’s token; the action is not resent', async () => {
    handler = (_call, i) => (i === 0 ? { status: 403, body: { error: 'Invalid security token.', code: 'CSRF_TOKEN_INVALID', request_id: 'r1' } } : success(i + 10));
    pageAnswer = () => ({ status: 200, contentType: 'text/html', body: PAGE.replace('content="token-0"', 'content="token-new-session"').replace(render(0), render(4)) });
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => events.length).toBe(1);
    expect(events[0]?.detail).toMatchObject({ status: 403, code: 'CSRF_TOKEN_INVALID', reloaded: true });
    expect(calls).toHaveLength(1);
    expect(await text('[data-n]')).toBe('4');
    expect(await meta()).toBe('token-new-session');
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => text('[data-n]')).toBe('11');
    expect(calls[1]?.headers[HEADERS.csrfToken]).toBe('token-new-session');
  });

  it('on 404 COMPONENT_NOT_FOUND (its state gone while the page stayed open) reloads the component from the page; the action is not resent', async () => {
    handler = (_call, i) => (i === 0 ? { status: 404, body: { error: 'Not found.', code: 'COMPONENT_NOT_FOUND', request_id: 'r1', csrf_token: 'token-404' } } : success(i + 20));
    pageAnswer = () => ({ status: 200, contentType: 'text/html', body: PAGE.replace('content="token-0"', 'content="token-page"').replace(render(0), render(0).replace('>0<', '>fresh<')) });
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => events.length).toBe(1);
    expect(events[0]?.detail).toMatchObject({ status: 404, code: 'COMPONENT_NOT_FOUND', reloaded: true });
    expect(calls).toHaveLength(1);
    expect(pageLoads).toBe(2);
    expect(await text('[data-n]')).toBe('fresh');
    expect(await meta()).toBe('token-page');
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => text('[data-n]')).toBe('21');
  });

  it('on 401 UNAUTHENTICATED (every sign-in ended elsewhere) reloads the component, busy until then: it shows the signed-out view; the action is not resent', async () => {
    /** A profile as the fake server renders it signed in (`who`) or signed out. */
    const profile = (who: string | null) =>
      `<div ${ATTR.id}="profile:main">${
        who === null
          ? '<p data-signed-out>You are signed out. <a href="/login">Sign in</a></p>'
          : `<p data-who>Signed in as ${who}</p><form ${ATTR.action}="rename"><input name="name" data-testid="name" value="Ada"><button>Save</button></form>`
      }</div>`;
    handler = () => ({ status: 401, body: { error: 'You must be signed in to do this.', code: 'UNAUTHENTICATED', request_id: 'r1' } });
    await reopen(profile('ada@example.com'));
    const loads = pageLoads;
    // The page the runtime fetches is held, to see the component busy meanwhile.
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    await context.route(`${ORIGIN}/`, async (route) => {
      pageLoads++;
      await held;
      await route.fulfill({ status: 200, contentType: 'text/html', body: pageOf(profile(null)).replace('content="token-0"', 'content="token-signed-out"') });
    });
    const profileRoot = page.locator(`[${ATTR.id}="profile:main"]`);
    await page.getByTestId('name').fill('Mallory');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => pageLoads).toBe(loads + 1);
    expect(await profileRoot.getAttribute('aria-busy')).toBe('true');
    expect(events).toEqual([]);
    release();
    await expect.poll(() => events.length).toBe(1);
    expect(events[0]).toEqual({
      type: 'lc:error',
      target: 'profile:main',
      detail: { componentId: 'profile:main', action: 'rename', status: 401, code: 'UNAUTHENTICATED', error: 'You must be signed in to do this.', request_id: 'r1', reloaded: true },
    });
    expect(await page.locator('[data-signed-out]').textContent()).toBe('You are signed out. Sign in');
    expect(await page.locator('[data-who]').count()).toBe(0);
    expect(await meta()).toBe('token-signed-out');
    expect(await profileRoot.getAttribute('aria-busy')).toBeNull();
    expect(await profileRoot.getAttribute(ATTR.loading)).toBeNull();
    // One request, one page fetch: nothing is sent again, and no reload follows the reload.
    await page.waitForTimeout(200);
    expect(calls).toHaveLength(1);
    expect(pageLoads).toBe(loads + 1);
  });

  it('on 401 UNAUTHENTICATED a page that sends the signed-out to sign in gives no component: the markup stays, reloaded: false, nothing loops', async () => {
    handler = () => ({ status: 401, body: { error: 'You must be signed in to do this.', code: 'UNAUTHENTICATED', request_id: 'r1' } });
    // What fetch ends with after following the page's redirect to /login (a redirect fulfilled by a
    // Playwright route is not routed again): a sign-in page, without the component.
    pageAnswer = () => ({ status: 200, contentType: 'text/html', body: pageOf('<form method="post" action="/login"><input name="email"><button>Sign in</button></form>').replace('content="token-0"', 'content="token-login"') });
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => events.length).toBe(1);
    expect(events[0]?.detail).toMatchObject({ status: 401, code: 'UNAUTHENTICATED', reloaded: false });
    expect(await text('[data-n]')).toBe('0');
    // Its token is not taken either: it belongs to a page this one is not.
    expect(await meta()).toBe('token-0');
    expect(await root().getAttribute(ATTR.loading)).toBeNull();
    await page.waitForTimeout(200);
    expect(calls).toHaveLength(1);
    expect(pageLoads).toBe(2);
  });

  it('on 409 STATE_INVALID leaves the markup and reports reloaded: false when the page cannot give the component', async () => {
    handler = () => ({ status: 409, body: { error: 'Reload.', code: 'STATE_INVALID', request_id: 'r1' } });
    const answers = [
      { status: 500, contentType: 'text/html', body: PAGE },
      { status: 200, contentType: 'text/html', body: PAGE.replace(render(0), '') },
      { status: 200, contentType: 'application/json', body: '{}' },
    ];
    for (const [i, answer] of answers.entries()) {
      pageAnswer = () => answer;
      await page.getByText('bump', { exact: true }).click();
      await expect.poll(() => events.length).toBe(i + 1);
      expect(events[i]?.detail).toMatchObject({ code: 'STATE_INVALID', reloaded: false });
      expect(await text('[data-n]')).toBe('0');
      expect(await root().getAttribute(ATTR.loading)).toBeNull();
    }
    expect(pageLoads).toBe(1 + answers.length);
    // Other error codes do not reload.
    handler = () => ({ status: 404, body: { error: 'Gone.', code: 'ACTION_NOT_FOUND', request_id: 'r2' } });
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => events.length).toBe(answers.length + 1);
    expect(events.at(-1)?.detail).not.toHaveProperty('reloaded');
    expect(pageLoads).toBe(1 + answers.length);
  });

  it('shows VALIDATION_FAILED messages in data-lc-error slots and marks the fields; the next answer clears them', async () => {
    const invalid = (errors: Record<string, string[]>): Answer => ({ status: 400, body: { error: 'Invalid.', code: 'VALIDATION_FAILED', request_id: 'r', errors } });
    const answers: Answer[] = [
      invalid({ title: ['Too short.', 'Must start with a capital.'], _: ['Check the form.'], qty: ['Too many.'] }),
      invalid({ qty: ['Too many.'] }),
      { status: 429, body: { error: 'Too many requests.', code: 'RATE_LIMIT_EXCEEDED', request_id: 'r', retry_after: 5, limit: 5, window: 60 } },
    ];
    handler = (_call, i) => answers[i] ?? success(i);
    const slot = (id: string) => page.getByTestId(id);
    const invalidFields = () => page.locator('[aria-invalid="true"]').evaluateAll((els) => els.map((el) => el.getAttribute('name')));
    expect(await slot('title-error').isHidden()).toBe(true);

    await page.getByText('Publish').click();
    await expect.poll(() => events.length).toBe(1);
    expect(await slot('title-error').textContent()).toBe('Too short. Must start with a capital.');
    expect(await slot('title-error').isVisible()).toBe(true);
    expect(await slot('form-error').textContent()).toBe('Check the form.');
    expect(await invalidFields()).toEqual(['server_marked', 'title', 'qty']);

    await page.getByText('Publish').click();
    await expect.poll(() => events.length).toBe(2);
    expect(await slot('title-error').isHidden()).toBe(true);
    expect(await slot('title-error').textContent()).toBe('');
    expect(await invalidFields()).toEqual(['server_marked', 'qty']);

    // Another error clears the messages of the attempt before; the server's own aria-invalid stays.
    await page.getByText('Publish').click();
    await expect.poll(() => events.length).toBe(3);
    expect(await slot('form-error').isHidden()).toBe(true);
    expect(await invalidFields()).toEqual(['server_marked']);
  });

  it('errors of a `tags[]` group (sent as `tags`) mark its boxes and link them to the message', async () => {
    await reopen(`<div ${ATTR.id}="demo:one"><form ${ATTR.action}="save">
      <input name="tags[]" type="checkbox" value="a"><input name="tags[]" type="checkbox" value="b">
      <span ${ATTR.error}="tags" data-testid="tags-error" hidden></span><button type="submit">Save</button></form></div>`);
    handler = () => ({ status: 400, body: { error: 'Invalid.', code: 'VALIDATION_FAILED', request_id: 'r', errors: { tags: ['Pick two.'] } } });
    await page.getByText('Save').click();
    await expect.poll(() => events.length).toBe(1);
    expect(calls[0]?.body.params).toEqual({ tags: [] });
    const slotId = await page.getByTestId('tags-error').getAttribute('id');
    expect(slotId).toBeTruthy();
    const boxes = await page.locator('input[name="tags[]"]').evaluateAll((els) => els.map((el) => [el.getAttribute('aria-invalid'), el.getAttribute('aria-describedby')]));
    expect(boxes).toEqual([
      ['true', slotId],
      ['true', slotId],
    ]);
  });

  it('keeps the focused field and its typed value through a morph; other fields take the server value', async () => {
    await page.getByTestId('other').fill('typed elsewhere');
    await page.getByTestId('note').fill('typing');
    await page.evaluate(() => (document.querySelector('[data-lc-action="bump"]') as HTMLButtonElement).click());
    await expect.poll(() => text('[data-n]')).toBe('1');
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name)).toBe('note');
    expect(await page.getByTestId('note').inputValue()).toBe('typing');
    expect(await page.getByTestId('other').inputValue()).toBe('server');
  });

  describe('data-lc-reset on a form', () => {
    /** A todo list: its add form (with `data-lc-reset` unless `reset` is false) as the server renders it, fields at the server's values. */
    const todo = (items: string[], reset = true) => `<div ${ATTR.id}="todo:one">
  <ul>${items.map((item) => `<li>${item}</li>`).join('')}</ul>
  <form ${ATTR.action}="add"${reset ? ` ${ATTR.reset}` : ''}>
    <input name="item" data-testid="item" value="">
    <input name="qty" type="number" data-testid="qty" value="1">
    <textarea name="note" data-testid="note">note ${items.length + 1}</textarea>
    <input name="photo" type="file" data-testid="photo">
    <span ${ATTR.error}="item" data-testid="item-error" hidden></span>
    <button>Add</button>
  </form>
  <input name="search" data-testid="search" value="">
</div>`;
    let items: string[];
    const addItem = (reset = true): Handler => (call) => {
      items.push(String(call.body.params.item));
      return answerWith(todo(items, reset));
    };
    const listed = () => page.locator('li').allTextContents();
    const focused = () => page.evaluate(() => document.activeElement?.getAttribute('data-testid'));
    /** The item field's value each `lc:*` event found. */
    const valuesAtEvents = () => page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    const watchEvents = () =>
      page.evaluate(() => {
        const seen: string[] = [];
        (window as unknown as { seen: string[] }).seen = seen;
        const record = () => void seen.push((document.querySelector('[data-testid="item"]') as HTMLInputElement).value);
        document.addEventListener('lc:success', record);
        document.addEventListener('lc:error', record);
      });

    beforeEach(() => {
      items = [];
    });

    it('after a success the fields show what the server rendered, the focused one too, before lc:success; focus stays', async () => {
      handler = addItem();
      await reopen(todo([]));
      await watchEvents();
      await page.getByTestId('qty').fill('6');
      await page.getByTestId('photo').setInputFiles({ name: 'eggs.png', mimeType: 'image/png', buffer: Buffer.from('png') });
      await page.getByTestId('item').fill('eggs');
      await page.getByTestId('item').press('Enter');
      await expect.poll(listed).toEqual(['eggs']);
      expect(calls[0]?.body.params).toEqual({ item: 'eggs', qty: 6, note: 'note 1' });
      expect(await focused()).toBe('item');
      expect(await page.getByTestId('item').inputValue()).toBe('');
      expect(await page.getByTestId('qty').inputValue()).toBe('1');
      // A file input, which a morph leaves alone, is emptied by the form's reset.
      expect(await page.getByTestId('photo').evaluate((el) => (el as HTMLInputElement).files?.length)).toBe(0);
      expect(await valuesAtEvents()).toEqual(['']);
      // A second Enter sends what is in the field now, not the item again.
      await page.getByTestId('item').fill('milk');
      await page.getByTestId('item').press('Enter');
      await expect.poll(listed).toEqual(['eggs', 'milk']);

      // A focused textarea shows the server's text (its content, which a kept field would not take either).
      await page.getByTestId('note').fill('typed note');
      await page.getByTestId('note').evaluate((el) => (el as HTMLTextAreaElement).form?.requestSubmit());
      await expect.poll(listed).toEqual(['eggs', 'milk', '']);
      expect(await focused()).toBe('note');
      expect(await page.getByTestId('note').inputValue()).toBe('note 4');
      expect(calls.map((c) => c.body.params.note)).toEqual(['note 1', 'note 2', 'typed note']);
    });

    it('a field outside the form, and every field of a form without data-lc-reset, keeps its typing when focused', async () => {
      handler = addItem(false);
      await reopen(todo([], false));
      await page.getByTestId('item').fill('eggs');
      await page.getByTestId('item').press('Enter');
      await expect.poll(listed).toEqual(['eggs']);
      expect(await page.getByTestId('item').inputValue()).toBe('eggs');

      handler = addItem();
      await reopen(todo([]));
      await page.getByTestId('item').fill('eggs');
      await page.getByTestId('search').fill('searching');
      await page.evaluate(() => (document.querySelector('form') as HTMLFormElement).requestSubmit());
      await expect.poll(listed).toEqual(['eggs', 'eggs']);
      expect(await focused()).toBe('search');
      expect(await page.getByTestId('search').inputValue()).toBe('searching');
      expect(await page.getByTestId('item').inputValue()).toBe('');
    });

    it('an error answer resets nothing: VALIDATION_FAILED keeps the typed text to fix, a reload keeps it too; the next success resets', async () => {
      const answers: Answer[] = [
        { status: 400, body: { error: 'Invalid.', code: 'VALIDATION_FAILED', request_id: 'r', errors: { item: ['Too long.'] } } },
        { status: 409, body: { error: 'Stale.', code: 'STATE_INVALID', request_id: 'r' } },
      ];
      handler = (call, i) => answers[i] ?? addItem()(call, i);
      await reopen(todo([]));
      await watchEvents();
      await page.getByTestId('qty').fill('6');
      await page.getByTestId('item').fill('eggs and more eggs');
      await page.getByTestId('item').press('Enter');
      await expect.poll(valuesAtEvents).toHaveLength(1);
      expect(await page.getByTestId('item-error').textContent()).toBe('Too long.');
      expect(await page.getByTestId('item').getAttribute('aria-invalid')).toBe('true');
      expect(await focused()).toBe('item');
      expect(await page.getByTestId('item').inputValue()).toBe('eggs and more eggs');
      expect(await page.getByTestId('qty').inputValue()).toBe('6');

      // 409: the component is reloaded from the page (a morph), and the focused field still keeps its text.
      const loads = pageLoads;
      await page.getByTestId('item').fill('eggs');
      await page.getByTestId('item').press('Enter');
      await expect.poll(valuesAtEvents).toHaveLength(2);
      expect(pageLoads).toBe(loads + 1);
      expect(await page.getByTestId('item').inputValue()).toBe('eggs');

      await page.getByTestId('item').press('Enter');
      await expect.poll(listed).toEqual(['eggs']);
      expect(await page.getByTestId('item').inputValue()).toBe('');
      expect(await page.getByTestId('item').getAttribute('aria-invalid')).toBeNull();
      expect(await valuesAtEvents()).toEqual(['eggs and more eggs', 'eggs', '']);
    });

    /** The values of the add form's text fields and of the search field outside it. */
    const fieldValues = () =>
      page.evaluate(() => Object.fromEntries(['item', 'qty', 'note', 'search'].map((id) => [id, (document.querySelector(`[data-testid="${id}"]`) as HTMLInputElement).value])));

    it('after a refusal that reloads the component (the action not run), a form submitted with the mouse keeps what was typed; not when the outcome is unknown', async () => {
      const refusals: Answer[] = [
        { status: 409, body: { error: 'Stale.', code: 'STATE_INVALID', request_id: 'r' } },
        { status: 404, body: { error: 'Gone.', code: 'COMPONENT_NOT_FOUND', request_id: 'r' } },
        { status: 403, body: { error: 'Invalid security token.', code: 'CSRF_TOKEN_INVALID', request_id: 'r' } },
        { status: 401, body: { error: 'You must be signed in to do this.', code: 'UNAUTHENTICATED', request_id: 'r' } },
      ];
      handler = (_call, i) => refusals[i] ?? 'abort';
      await reopen(todo([]));
      const loads = pageLoads;
      const typeAndClick = async (item: string) => {
        await page.getByTestId('item').fill(item);
        await page.getByTestId('qty').fill('6');
        await page.getByTestId('note').fill('typed note');
        await page.getByTestId('search').fill('searching');
        // The mouse: focus on the button, so the reload's morph would give every field the page's value.
        await page.getByRole('button', { name: 'Add' }).click();
      };
      const codes = ['STATE_INVALID', 'COMPONENT_NOT_FOUND', 'CSRF_TOKEN_INVALID', 'UNAUTHENTICATED'];
      for (const [i, code] of codes.entries()) {
        await typeAndClick(`eggs ${i}`);
        await expect.poll(() => events.length).toBe(i + 1);
        expect(events[i]?.detail).toMatchObject({ code, reloaded: true });
        // The submitted form's fields as typed; the field outside it takes the page's value, as after any morph.
        expect(await fieldValues()).toEqual({ item: `eggs ${i}`, qty: '6', note: 'typed note', search: '' });
      }
      expect(pageLoads).toBe(loads + codes.length);
      // No answer at all: the action may have run, and the reloaded component shows the server's values.
      await typeAndClick('eggs 4');
      await expect.poll(() => events.length, { timeout: 5000 }).toBe(5);
      expect(events[4]?.detail).toMatchObject({ code: 'NETWORK_ERROR', outcomeUnknown: true });
      expect(await fieldValues()).toEqual({ item: '', qty: '1', note: 'note 1', search: '' });
    });

    it('after a reload refusal, typed text goes back only where the rows did not change, into a field of the same type still open to typing; untouched fields show the server\'s values', async () => {
      const page1 = (ids: number[], later = false) => `<div ${ATTR.id}="todo:one">${ids
        .map((id) => `<form ${ATTR.action}="rename"><input type="hidden" name="id" value="${id}"><input name="title" value="Title ${id}"><button>Save ${id}</button></form>`)
        .join('')}<form ${ATTR.action}="edit"><input name="owner" data-testid="owner" value="${later ? 'bob' : 'alice'}"><input name="code" data-testid="code" value="${later ? 'LOCKED' : 'A1'}"${later ? ' disabled' : ''}><input ${later ? 'type="hidden" ' : ''}name="plan" data-testid="plan" value="${later ? 'fixed' : ''}"><input name="name" data-testid="name" value=""><button>Edit</button></form></div>`;
      handler = () => ({ status: 409, body: { error: 'Stale.', code: 'STATE_INVALID', request_id: 'r' } });
      const titles = () => page.locator('input[name=title]').evaluateAll((els) => els.map((el) => (el as HTMLInputElement).value));
      // A row added above the one being renamed: its rank now names another row's field.
      await reopen(page1([1, 2]));
      pageAnswer = () => ({ status: 200, contentType: 'text/html', body: pageOf(page1([0, 1, 2], true)) });
      await page.locator('input[name=title]').nth(1).fill('Renamed two');
      await page.getByRole('button', { name: 'Save 2' }).click();
      await expect.poll(() => events.length).toBe(1);
      expect(await titles()).toEqual(['Title 0', 'Title 1', 'Title 2']);
      // Same rows: only what the user changed goes back, and only into a field still open to typing.
      await reopen(page1([1, 2]));
      pageAnswer = () => ({ status: 200, contentType: 'text/html', body: pageOf(page1([1, 2], true)) });
      await page.getByTestId('code').fill('B2');
      await page.getByTestId('plan').fill('free');
      await page.getByTestId('name').fill('Ada');
      await page.getByRole('button', { name: 'Edit' }).click();
      await expect.poll(() => events.length).toBe(2);
      const values = await page.evaluate(() =>
        Object.fromEntries(['owner', 'code', 'plan', 'name'].map((name) => [name, (document.querySelector(`[name=${name}]`) as HTMLInputElement).value])),
      );
      expect(values).toEqual({ owner: 'bob', code: 'LOCKED', plan: 'fixed', name: 'Ada' });
    });

    it('text typed in the form while the answer is in flight is kept; the fields still holding what was sent are reset', async () => {
      let release = () => {};
      const answered = new Promise<void>((resolve) => (release = resolve));
      handler = async (call, i) => {
        await answered;
        return addItem()(call, i);
      };
      await reopen(todo([]));
      await page.getByTestId('qty').fill('6');
      await page.getByTestId('item').fill('eggs');
      await page.getByTestId('item').press('Enter');
      await expect.poll(() => calls.length).toBe(1);
      // The next item, typed before the answer is in.
      await page.getByTestId('item').fill('milk');
      release();
      await expect.poll(listed).toEqual(['eggs']);
      expect(await fieldValues()).toEqual({ item: 'milk', qty: '1', note: 'note 2', search: '' });
      expect(await focused()).toBe('item');
      expect(calls[0]?.body.params).toMatchObject({ item: 'eggs', qty: 6 });
    });
  });

  it('a button focused by its click or by the keyboard shows the label and action it is re-rendered with', async () => {
    // Chrome focuses a button on click; a keyboard user's button always has focus.
    const view = (following: boolean, likes: number) => `<div ${ATTR.id}="f:one">
  <button type="button" ${ATTR.action}="${following ? 'unfollow' : 'follow'}" data-testid="follow">${following ? 'Unfollow' : 'Follow'}</button>
  <button type="button" ${ATTR.action}="like" data-testid="like">Likes: <b>${likes}</b></button></div>`;
    let following = false;
    let likes = 0;
    handler = (call) => {
      if (call.body.action === 'like') likes++;
      else following = call.body.action === 'follow';
      return answerWith(view(following, likes));
    };
    await reopen(view(false, 0));
    const follow = page.getByTestId('follow');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await expect.poll(() => follow.textContent()).toBe('Unfollow');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('follow');
    await page.keyboard.press('Enter');
    await expect.poll(() => follow.textContent()).toBe('Follow');
    await page.getByTestId('like').click();
    await expect.poll(() => page.getByTestId('like').textContent()).toBe('Likes: 1');
    await follow.click();
    await expect.poll(() => follow.textContent()).toBe('Unfollow');
    expect(await follow.getAttribute(ATTR.action)).toBe('unfollow');
    expect(calls.map((c) => c.body.action)).toEqual(['follow', 'unfollow', 'like', 'follow']);
  });

  it('a checkbox or radio with data-lc-action toggles at once, then shows what the server rendered', async () => {
    const view = (done: boolean, size: string) => `<div ${ATTR.id}="t:one">
  <label><input type="checkbox" ${ATTR.action}="toggle" data-testid="done"${done ? ' checked' : ''}> done</label>
  ${['s', 'm'].map((v) => `<input type="radio" name="size" ${ATTR.action}="size" ${ATTR.params}='{"size":"${v}"}' data-testid="size-${v}"${size === v ? ' checked' : ''}>`).join('')}</div>`;
    let done = false;
    let size = 's';
    let refuse = false;
    let release: () => void = () => {};
    let held = new Promise<void>((resolve) => (release = resolve));
    handler = async (call) => {
      await held;
      if (call.body.action === 'toggle' && !refuse) done = !done;
      if (call.body.action === 'size' && !refuse) size = String(call.body.params.size);
      return answerWith(view(done, size));
    };
    await reopen(view(false, 's'));
    const box = page.getByTestId('done');
    await box.click();
    await expect.poll(() => calls.length).toBe(1);
    expect(await box.isChecked()).toBe(true); // the user's toggle shows while the action is in flight
    release();
    await expect.poll(() => events.length).toBe(1);
    expect(await box.isChecked()).toBe(true);
    held = Promise.resolve();
    await box.click();
    await expect.poll(() => events.length).toBe(2);
    expect(await box.isChecked()).toBe(false);
    await page.getByTestId('size-m').click();
    await expect.poll(() => events.length).toBe(3);
    expect([await page.getByTestId('size-s').isChecked(), await page.getByTestId('size-m').isChecked()]).toEqual([false, true]);
    // The server says no: its markup wins over the click.
    refuse = true;
    await box.click();
    await page.getByTestId('size-s').click();
    await expect.poll(() => events.length).toBe(5);
    expect(await box.isChecked()).toBe(false);
    expect([await page.getByTestId('size-s').isChecked(), await page.getByTestId('size-m').isChecked()]).toEqual([false, true]);
    expect(calls.map((c) => c.body.params)).toEqual([{}, {}, { size: 'm' }, {}, { size: 's' }]);
  });

  it('keeps a nested component marked busy (data-lc-loading, aria-busy) while its parent re-renders around it', async () => {
    const child = (c: number) => `<div ${ATTR.id}="child:one"><span data-c>${c}</span><button type="button" ${ATTR.action}="inc" data-testid="child">child+</button></div>`;
    const parent = (p: number) => `<div ${ATTR.id}="parent:one"><span data-p>${p}</span><button type="button" ${ATTR.action}="inc" data-testid="parent">parent+</button>${child(0)}</div>`;
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    handler = async (call) => {
      if (call.body.component_id === 'parent:one') return answerWith(parent(1));
      await held;
      return answerWith(child(1));
    };
    await reopen(parent(0));
    await page.getByTestId('child').click();
    await page.getByTestId('parent').click();
    await expect.poll(() => text('[data-p]')).toBe('1');
    expect(await loadingMarks('child:one')).toEqual(['', 'true']);
    expect(await loadingMarks('parent:one')).toEqual([null, null]);
    release();
    await expect.poll(() => text('[data-c]')).toBe('1');
    expect(await loadingMarks('child:one')).toEqual([null, null]);
    expect(events.map((e) => `${e.type}@${e.target}`)).toEqual(['lc:success@parent:one', 'lc:success@child:one']);
  });

  it("works under a Trusted Types CSP that allows the runtime's policy: actions and reloads morph", async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => void errors.push(e.message));
    await reopen(render(0), { 'content-security-policy': "require-trusted-types-for 'script'; trusted-types livecomponents" });
    // The policy is enforced: a plain string into an HTML sink is refused.
    expect(await page.evaluate(() => { try { document.body.insertAdjacentHTML('beforeend', '<b>x</b>'); return 'allowed'; } catch { return 'refused'; } })).toBe('refused');
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => text('[data-n]')).toBe('1');
    handler = () => ({ status: 409, body: { error: 'Reload.', code: 'STATE_INVALID', request_id: 'r1' } });
    pageAnswer = () => ({ status: 200, contentType: 'text/html', body: pageOf(render(7)) });
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => events.length).toBe(2);
    expect(events[1]?.detail).toMatchObject({ code: 'STATE_INVALID', reloaded: true });
    expect(await text('[data-n]')).toBe('7');
    expect(errors).toEqual([]);
  });

  it('reports RENDER_FAILED when an answer cannot be morphed in (here the CSP refuses the policy), and frees the component', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => void errors.push(e.message));
    await reopen(render(0), { 'content-security-policy': "require-trusted-types-for 'script'; trusted-types another-policy" });
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => events.length).toBe(1);
    expect(events[0]).toMatchObject({ type: 'lc:error', target: 'demo:one', detail: { componentId: 'demo:one', action: 'bump', status: 200, code: 'RENDER_FAILED' } });
    expect(String(events[0]?.detail.error)).toContain('could not be shown');
    expect(await loadingMarks('demo:one')).toEqual([null, null]);
    expect(await text('[data-n]')).toBe('0');
    expect(errors).toEqual([]);
  });

  it('binds elements that a morph adds, without re-binding', async () => {
    handler = (_call, i) => success(i + 1, i === 0 ? `<button type="button" ${ATTR.action}="added">added</button>` : '');
    await page.getByText('bump', { exact: true }).click();
    await page.getByText('added').click();
    await expect.poll(() => calls.length).toBe(2);
    expect(calls[1]?.body.action).toBe('added');
  });

  describe('form fields by name', () => {
    /** Component `t:<key>` holds form `#f-<key>` with `inside`, a submit button `#b-<key>`, then `after`. */
    const FORMS: Record<string, { inside: string; after?: string }> = {
      // An element whose id is another field's name does not change that field's kind.
      idCheckbox: {
        inside: `<input type="checkbox" name="newsletter" value="yes" checked><input type="email" id="newsletter" name="newsletter_email" value="a@b.c">
          <input type="checkbox" name="terms"><input id="terms" name="terms_note" value="n">`,
      },
      idNumber: { inside: '<input type="text" id="qty" name="qty_label" value="Quantity"><input type="number" name="qty" value="4">' },
      // Only a value from a number/range input is a number (form= controls outside the form included).
      mixed: {
        inside: `<input type="number" name="q" value="3"><input type="text" name="q" value="abc">
          <input name="r" value="abc"><input type="range" name="r" value="5"><input type="number" name="r" value="">
          <select name="s"><option selected>1</option></select><input type="checkbox" name="s" value="2"><input type="number" name="s" value="2"><input name="s" value="7">`,
        after: '<input type="number" name="out" value="8" form="f-mixed"><input name="out" value="9" form="f-mixed">',
      },
      // A name ending in [] is always an array, under the name without the brackets.
      brackets: {
        inside: `<input type="checkbox" name="tags[]" value="a" checked><input type="checkbox" name="none[]" value="x">
          <input name="ids[]" value="3"><input type="number" name="n[]" value="2"><input type="checkbox" name="lone" value="y" checked>`,
      },
      protoField: { inside: '<input name="title" value="t"><input name="__proto__" value="x">' },
      protoBrackets: { inside: '<input name="title" value="t"><input type="checkbox" name="__proto__[]" value="x">' },
      protoParams: { inside: `<input name="title" value="t"><button type="submit" ${ATTR.params}='{"__proto__":"x"}' id="b-protoParams-sub">sub</button>` },
      protoClick: { inside: '', after: `<button type="button" ${ATTR.action}="bump" ${ATTR.params}='{"__proto__":"x","by":1}' id="b-protoClick-sub">click</button>` },
    };
    const formsPage = Object.entries(FORMS)
      .map(([key, { inside, after = '' }]) => `<div ${ATTR.id}="t:${key}"><form id="f-${key}" ${ATTR.action}="save">${inside}<button type="submit" id="b-${key}">go</button></form>${after}</div>`)
      .join('');
    let pageErrors: string[];
    beforeEach(async () => {
      pageErrors = [];
      page.on('pageerror', (e) => void pageErrors.push(e.message));
      handler = (call) => answerWith(`<div ${ATTR.id}="${call.body.component_id}"></div>`);
      await reopen(formsPage);
    });
    const submit = async (selector: string): Promise<Record<string, unknown> | undefined> => {
      const before = calls.length;
      await page.click(selector);
      await expect.poll(() => calls.length).toBe(before + 1);
      return calls[before]?.body.params;
    };

    it("an element's id naming another field does not make a lone checkbox a group, nor a text field a number", async () => {
      expect(await submit('#b-idCheckbox')).toEqual({ newsletter: true, newsletter_email: 'a@b.c', terms: false, terms_note: 'n' });
      expect(await submit('#b-idNumber')).toEqual({ qty_label: 'Quantity', qty: 4 });
    });

    it('converts only the values of number/range inputs, each by its own control', async () => {
      expect(await submit('#b-mixed')).toEqual({ q: [3, 'abc'], r: ['abc', 5, ''], s: ['1', 2, '7'], out: [8, '9'] });
    });

    it('a name ending in [] sends an array under the name without brackets, even for one checkbox (checked or not)', async () => {
      expect(await submit('#b-brackets')).toEqual({ tags: ['a'], none: [], ids: ['3'], n: [2], lone: true });
    });

    it('a form field or data-lc-params key named __proto__ throws a TypeError naming it, and nothing is sent', async () => {
      for (const selector of ['#b-protoField', '#b-protoBrackets', '#b-protoParams-sub', '#b-protoClick-sub']) await page.click(selector);
      await expect.poll(() => pageErrors.length).toBe(4);
      expect(pageErrors).toEqual([
        'A form field named __proto__ cannot be sent: the server refuses any body holding that key',
        'A form field named __proto__ cannot be sent: the server refuses any body holding that key',
        `A ${ATTR.params} key named __proto__ cannot be sent: the server refuses any body holding that key`,
        `A ${ATTR.params} key named __proto__ cannot be sent: the server refuses any body holding that key`,
      ]);
      await page.waitForTimeout(200);
      expect(calls).toHaveLength(0);
      // The page still works: the form without the field goes out.
      await page.locator('#f-protoField input[name="__proto__"]').evaluate((el) => el.remove());
      expect(await submit('#b-protoField')).toEqual({ title: 't' });
    });
  });

  it('a second copy of the runtime (an app bundle) calls through the first: busy while its action is in flight, one request', async () => {
    const release = holdFirstAnswer();
    await page.getByText('bump', { exact: true }).click();
    await expect.poll(() => calls.length).toBe(1);
    // A string: the test transform would rewrite a dynamic import() inside a function.
    const viaCopy = await page.evaluate(`import('/copy.js').then((m) => m.call('demo:one', 'bump'))`);
    expect(viaCopy).toEqual({ type: 'busy' });
    expect(await loadingMarks('demo:one')).toEqual(['', 'true']);
    release();
    await expect.poll(() => text('[data-n]')).toBe('1');
    expect(calls).toHaveLength(1);
  });

  it('two copies of one component on the page: clicking the second leaves neither marked busy', async () => {
    const copy = (where: string) => `<div ${ATTR.id}="cart:main" data-where="${where}"><output>0</output><button type="button" ${ATTR.action}="add">add ${where}</button></div>`;
    await reopen(`<header>${copy('header')}</header><aside>${copy('aside')}</aside>`);
    handler = () => answerWith(copy('aside').replace('<output>0', '<output>1'));
    await page.getByText('add aside').click();
    await expect.poll(() => events.length).toBe(1);
    const marks = await page.locator(`[${ATTR.id}="cart:main"]`).evaluateAll((els, a) => els.map((el) => [el.getAttribute(a), el.getAttribute('aria-busy')]), ATTR.loading);
    expect(marks).toEqual([
      [null, null],
      [null, null],
    ]);
  });

  it('a page whose CSRF meta tag turns single-use after the runtime started (a view swapped in): actions go one at a time', async () => {
    await page.evaluate(([name, attr]) => document.querySelector(`meta[name="${name}"]`)?.setAttribute(attr, ''), [CSRF_META_NAME, CSRF_SINGLE_USE_ATTR] as const);
    const release = holdFirstAnswer();
    await page.getByText('bump', { exact: true }).click();
    await page.getByText('ping').click();
    await expect.poll(() => calls.length).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Single-use tokens: the second waits for the first's answer and its fresh token.
    expect(calls).toHaveLength(1);
    release();
    await expect.poll(() => calls.length).toBe(2);
    expect(calls[1]?.headers[HEADERS.csrfToken.toLowerCase()]).toBe('token-1');
  });

  it('exposes call() on window.LiveComponents and as a module export', async () => {
    const outcome = await page.evaluate(() => window.LiveComponents?.call('demo:one', 'bump', { by: 5 }));
    expect(outcome).toEqual({ type: 'ok', detail: { componentId: 'demo:one', action: 'bump', state: { n: 1 } } });
    expect(calls[0]?.body.params).toEqual({ by: 5 });
    // A string: the test transform would rewrite a dynamic import() inside a function.
    const viaModule = await page.evaluate(`import('${ROUTES.clientScript}').then((m) => m.call === window.LiveComponents.call)`);
    expect(viaModule).toBe(true);
    const missing = await page.evaluate(() => window.LiveComponents?.call('nope:none', 'x').then(() => 'resolved', (e: Error) => e.message));
    expect(missing).toBe('No component "nope:none" on this page');
  });
});
