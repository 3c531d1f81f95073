/**
 * The hints the browser runtime gives a developer in the console for three common mistakes, in
 * Chromium against a scripted server (every answer under the test's control):
 * - a page without the CSRF meta tag: every action is refused (403); one warning per page, when an
 *   action is sent, naming the tag and `view.head()` (client/index.ts);
 * - an action the server does not know (a typo in `data-lc-action`) or an instance it does not hold
 *   (404): a warning naming the action sent, the component id and the code (client/component.ts) —
 *   not for a 404 that is not the app's (a proxy's page during a rolling deploy, say);
 * - a malformed `data-lc-params`: the error thrown names the attribute, the element and the parse
 *   error (client/directives.ts), not only JSON.parse's message.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ATTR, CSRF_META_NAME, ROUTES } from '../../src/core/wire.js';
import { waitUntil } from '../helpers/wait-until.js';
import { browserTestsEnabled, openLive, recordEvents, scriptedBrowser, SCRIPTED_ORIGIN, servePageScript, type RecordedEvent, type ScriptedAnswer } from './browser.js';

const ID = 'counter:main';

const render = (n: number): string => `<div ${ATTR.id}="${ID}">
  <output data-n>${n}</output>
  <button type="button" ${ATTR.action}="add" ${ATTR.params}='{"by":1}'>add</button>
  <button type="button" ${ATTR.action}="ad">typo</button>
  <button type="button" ${ATTR.action}="add" ${ATTR.params}='{"by":1'>malformed</button>
  <form ${ATTR.action}="save"><input name="title" value="t"><button ${ATTR.params}='[1]'>save</button></form>
</div>`;

const pageOf = (body: string, { meta = true } = {}): string => `<!doctype html><html><head><meta charset="utf-8">
${meta ? `<meta name="${CSRF_META_NAME}" content="token-0">` : ''}
<script type="module" src="${ROUTES.clientScript}"></script></head>
<body>${body}</body></html>`;

/** An action's answer (never `'abort'` here). */
type Answer = Exclude<ScriptedAnswer, 'abort'>;

let page: Page;
let events: RecordedEvent[];
/** The `console.warn` / `console.error` texts of the page, in order. */
let warnings: string[];
/** The messages of the page's uncaught errors, in order. */
let pageErrors: string[];
/** Action requests the page sent: `action params`. */
let sent: string[];
/** What the action request of index `i` is answered with. */
let answer: (i: number) => Answer;
/** What `GET /` answers: the page as first opened, and as the runtime fetches it again to reload. */
let pageHtml: string;

const ok = (n: number): Answer => ({ status: 200, body: { html: render(n), state: {}, csrf_token: 'token-1' } });
const refusal = (status: number, code: string, error = 'Refused.'): Answer => ({ status, body: { error, code, request_id: 'r' } });

const serve = servePageScript({ page: () => pageHtml, sent: () => sent, answer: (i) => answer(i) });

/** Opens the page `html` (`/`, also what a reload fetches). */
async function open(html: string): Promise<void> {
  pageHtml = html;
  await openLive(page, `${SCRIPTED_ORIGIN}/`);
}

/** Clicks the button named `name` and waits for the `n`-th `lc:*` event of the page (its answer handled). */
async function clickAndSettle(name: string, n: number): Promise<void> {
  await page.getByRole('button', { name, exact: true }).click();
  await waitUntil(`event ${n} after a click on "${name}"`, () => events.length >= n || undefined, { seen: () => events });
}

const codes = () => events.map((e) => `${e.type} ${String(e.detail.code ?? 'ok')}`);
/** The runtime's own hints among the page's console messages. */
const hints = () => warnings.filter((text) => text.startsWith('LiveComponents:'));

const NO_META_HINT = `LiveComponents: no <meta name="${CSRF_META_NAME}"> (view.head() renders it): actions are refused.`;

describe.runIf(browserTestsEnabled('dev hints in the console'))('hints in the console for common mistakes', () => {
  scriptedBrowser(serve, async (opened) => {
    page = opened;
    sent = [];
    warnings = [];
    pageErrors = [];
    answer = () => ok(1);
    page.on('console', (message) => {
      if (message.type() === 'warning' || message.type() === 'error') warnings.push(message.text());
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    events = await recordEvents(page);
  });

  describe('a page without the CSRF meta tag', () => {
    it('warns once, when the first action is sent, naming the meta tag and view.head(); not again on the next actions', async () => {
      answer = () => refusal(403, 'CSRF_TOKEN_INVALID', 'Invalid or missing CSRF token.');
      await open(pageOf(render(0), { meta: false }));
      // Loading the page is not sending an action: no hint yet.
      expect(hints()).toEqual([]);
      await clickAndSettle('add', 1);
      expect(hints()).toEqual([NO_META_HINT]);
      await clickAndSettle('add', 2);
      await page.evaluate((id) => window.LiveComponents!.call(id, 'add', { by: 2 }), ID);
      await waitUntil('the third answer', () => events.length >= 3 || undefined, { seen: () => events });
      expect(codes()).toEqual(['lc:error CSRF_TOKEN_INVALID', 'lc:error CSRF_TOKEN_INVALID', 'lc:error CSRF_TOKEN_INVALID']);
      expect(hints()).toEqual([NO_META_HINT]);
    });

    it('a page with the meta tag gets no such warning', async () => {
      await open(pageOf(render(0)));
      await clickAndSettle('add', 1);
      expect(codes()).toEqual(['lc:success ok']);
      expect(hints()).toEqual([]);
    });
  });

  describe('an answer 404 (an action or an instance the server does not know)', () => {
    it('ACTION_NOT_FOUND (a typo in data-lc-action): warns naming the action sent, the component id and the code, once per answer', async () => {
      answer = () => refusal(404, 'ACTION_NOT_FOUND', 'This action does not exist.');
      await open(pageOf(render(0)));
      await clickAndSettle('typo', 1);
      expect(sent).toEqual(['ad {}']);
      expect(codes()).toEqual(['lc:error ACTION_NOT_FOUND']);
      expect(hints()).toEqual([`LiveComponents: action "ad" on ${ID}: ACTION_NOT_FOUND`]);
      await clickAndSettle('typo', 2);
      expect(hints()).toEqual([`LiveComponents: action "ad" on ${ID}: ACTION_NOT_FOUND`, `LiveComponents: action "ad" on ${ID}: ACTION_NOT_FOUND`]);
    });

    it('COMPONENT_NOT_FOUND: warns naming the action, the component id and the code (the component is reloaded as before)', async () => {
      answer = () => refusal(404, 'COMPONENT_NOT_FOUND', 'This component does not exist in this session.');
      await open(pageOf(render(0)));
      await clickAndSettle('add', 1);
      expect(events.map((e) => [e.detail.code, e.detail.reloaded])).toEqual([['COMPONENT_NOT_FOUND', true]]);
      expect(hints()).toEqual([`LiveComponents: action "add" on ${ID}: COMPONENT_NOT_FOUND`]);
    });

    it("a 404 that is not the app's (a proxy's HTML page, a JSON one without the app's codes) gives no such warning; the page is told through lc:error as before", async () => {
      // nginx's own page (a rolling deploy: the instance behind it gone), a framework's default JSON
      // 404 (no `code`), and a gateway's JSON 404 with a code of its own.
      const nginx = '<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';
      const answers: Answer[] = [
        { status: 404, body: null, raw: nginx, contentType: 'text/html' },
        { status: 404, body: { message: `Route POST:${ROUTES.action} not found`, error: 'Not Found', statusCode: 404 } },
        refusal(404, 'NOT_FOUND', 'No route.'),
      ];
      let i = 0;
      answer = () => answers[i++]!;
      await open(pageOf(render(0)));
      await clickAndSettle('add', 1);
      await clickAndSettle('add', 2);
      await clickAndSettle('typo', 3);
      expect(sent).toEqual(['add {"by":1}', 'add {"by":1}', 'ad {}']);
      // As before: not the app's answer (INVALID_RESPONSE, its status kept), the action did not run
      // (a 4xx of a first attempt), nothing reloaded, the markup as it was.
      expect(events.map((e) => [e.type, e.detail.status, e.detail.code, e.detail.outcomeUnknown, e.detail.reloaded])).toEqual([
        ['lc:error', 404, 'INVALID_RESPONSE', undefined, undefined],
        ['lc:error', 404, 'INVALID_RESPONSE', undefined, undefined],
        ['lc:error', 404, 'NOT_FOUND', undefined, undefined],
      ]);
      expect(await page.locator('output[data-n]').textContent()).toBe('0');
      expect(hints()).toEqual([]);
      expect(warnings.filter((text) => text.includes('NOT_FOUND') || text.includes('INVALID_RESPONSE'))).toEqual([]);
    });

    it('other refusals (403, 400) give no such warning: the page is told through lc:error', async () => {
      let i = 0;
      const answers = [refusal(403, 'FORBIDDEN'), { status: 400, body: { error: 'Invalid.', code: 'VALIDATION_FAILED', request_id: 'r', errors: {} } }];
      answer = () => answers[i++]!;
      await open(pageOf(render(0)));
      await clickAndSettle('add', 1);
      await clickAndSettle('add', 2);
      expect(codes()).toEqual(['lc:error FORBIDDEN', 'lc:error VALIDATION_FAILED']);
      expect(hints()).toEqual([]);
    });
  });

  describe('a malformed data-lc-params', () => {
    it("throws naming the attribute, the element and JSON.parse's error, once per click; nothing is sent", async () => {
      await open(pageOf(render(0)));
      const parseError = await page.evaluate(() => {
        try {
          JSON.parse('{"by":1');
          return 'parsed';
        } catch (error) {
          return (error as Error).message;
        }
      });
      await page.getByRole('button', { name: 'malformed' }).click();
      await waitUntil('the page error', () => pageErrors.length >= 1 || undefined, { seen: () => pageErrors });
      expect(pageErrors).toEqual([`${ATTR.params} of <button ${ATTR.action}="add"> is not a JSON object: ${parseError}`]);
      // The page still works, and nothing of the malformed click was sent.
      await clickAndSettle('add', 1);
      expect(sent).toEqual(['add {"by":1}']);
      expect(pageErrors).toHaveLength(1);
    });

    it("a submitter's data-lc-params that is JSON but not an object: the element is named (no data-lc-action of its own) and the value", async () => {
      await open(pageOf(render(0)));
      await page.getByRole('button', { name: 'save' }).click();
      await waitUntil('the page error', () => pageErrors.length >= 1 || undefined, { seen: () => pageErrors });
      expect(pageErrors).toEqual([`${ATTR.params} of <button> is not a JSON object: [1]`]);
      expect(sent).toEqual([]);
    });
  });
});
