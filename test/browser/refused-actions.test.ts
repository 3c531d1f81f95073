/**
 * What a refused action leaves in the page, in Chromium against a scripted server (every answer
 * under the test's control, held until the test lets it go): a form submitted while the refused
 * action was in flight is not sent when the refusal reloaded the component (client/component.ts),
 * and an action checkbox or radio the user toggled shows again what the server rendered when the
 * refusal brought no markup (client/directives.ts).
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ATTR, CSRF_META_NAME, ROUTES } from '../../src/core/wire.js';
import { browserTestsEnabled, openLive, recordEvents, scriptedBrowser, SCRIPTED_ORIGIN, servePageScript, type RecordedEvent, type ScriptedAnswer } from './browser.js';

const ID = 'pay:main';

/**
 * The component as the fake server renders it: its `balance`, a payment form, an action checkbox
 * (`flag`), an action radio group (`size`) and a plain checkbox that only a form would send.
 */
function render(balance: number, { flag = false, size = 's' } = {}): string {
  const radio = (value: string) => `<input type="radio" name="size" value="${value}" ${ATTR.action}="size" ${ATTR.params}='{"size":"${value}"}' data-testid="size-${value}"${size === value ? ' checked' : ''}>`;
  return `<div ${ATTR.id}="${ID}">
  <output data-balance>${balance}</output>
  <form ${ATTR.action}="pay"><input name="amount" data-testid="amount" value=""><button>Pay</button></form>
  <input type="checkbox" ${ATTR.action}="toggle" data-testid="flag"${flag ? ' checked' : ''}>
  ${radio('s')}${radio('m')}${radio('l')}
  <input type="checkbox" name="plain" data-testid="plain">
  <button type="button" ${ATTR.action}="ping">ping</button>
</div>`;
}

const pageOf = (body: string, token = 'token-0'): string => `<!doctype html><html><head><meta charset="utf-8">
<meta name="${CSRF_META_NAME}" content="${token}">
<script type="module" src="${ROUTES.clientScript}"></script></head>
<body>${body}</body></html>`;

type Answer = ScriptedAnswer;

let page: Page;
let events: RecordedEvent[];
/** Action requests the page sent, in order: `action params`. */
let sent: string[];
/** What the action request of index `i` is answered with (awaited: it may hold the answer). */
let answer: (i: number) => Answer | Promise<Answer>;
/** What `GET /` answers: the page as first opened, and as the runtime fetches it again to reload. */
let pageHtml: string;

const ok = (balance: number, state: Parameters<typeof render>[1] = {}): Answer => ({ status: 200, body: { html: render(balance, state), state: {}, csrf_token: 'token-1' } });
const refusal = (status: number, code: string): Answer => ({ status, body: { error: 'Refused.', code, request_id: 'r' } });

const serve = servePageScript({ page: () => pageHtml, sent: () => sent, answer: (i) => answer(i) });

const eventCodes = () => events.map((e) => `${e.type} ${String(e.detail.code ?? 'ok')}${e.detail.reloaded === undefined ? '' : ` reloaded=${String(e.detail.reloaded)}`}`);
const pay = async (amount: string) => {
  await page.getByTestId('amount').fill(amount);
  await page.getByRole('button', { name: 'Pay' }).click();
};
/** Which of the boxes are checked: `flag`, `size-s`, `size-m`, `size-l`, `plain`. */
const checked = () =>
  page.evaluate(() => ['flag', 'size-s', 'size-m', 'size-l', 'plain'].filter((id) => document.querySelector<HTMLInputElement>(`[data-testid="${id}"]`)?.checked));

describe.runIf(browserTestsEnabled('refused actions'))('what a refused action leaves in the page', () => {
  scriptedBrowser(serve, async (opened) => {
    page = opened;
    sent = [];
    answer = () => ok(0);
    pageHtml = pageOf(render(1000));
    events = await recordEvents(page);
    await openLive(page, `${SCRIPTED_ORIGIN}/`);
  });

  /**
   * "Pay 100" in flight (its answer held), "Pay 50" submitted meanwhile, then the first answer is
   * `first` (the page fetched for the reload renders balance 900, another session's): the payment
   * waiting is not sent; its amount stays typed, and a submit of the user's own sends it.
   */
  async function queuedBehind(first: (i: number) => Answer, expected: string[]): Promise<void> {
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    answer = async (i) => {
      if (i === 0) await held;
      return i < expected.length - 1 ? first(i) : ok(850);
    };
    pageHtml = pageOf(render(900), 'token-new-session');
    await pay('100');
    await expect.poll(() => sent.length).toBe(1);
    await pay('50');
    release();
    // (Within the retries' delays when no attempt gets an answer.)
    await expect.poll(() => events.length, { timeout: 5000 }).toBe(1);
    // The fresh instance is shown, and the amount typed for the payment that waited is still there.
    expect(await page.locator('[data-balance]').textContent()).toBe('900');
    expect(await page.getByTestId('amount').inputValue()).toBe('50');
    // The user's own submit is the next request: nothing was sent in between.
    await page.getByRole('button', { name: 'Pay' }).click();
    await expect.poll(() => events.length).toBe(2);
    expect(sent).toEqual([...expected.slice(0, -1).map(() => 'pay {"amount":"100"}'), 'pay {"amount":"50"}']);
    expect(await page.locator('[data-balance]').textContent()).toBe('850');
  }

  it('a form submitted while an action is in flight is not sent when that action is refused with a reloading code (the session changed)', async () => {
    await queuedBehind(() => refusal(403, 'CSRF_TOKEN_INVALID'), ['403', '200']);
    expect(eventCodes()).toEqual(['lc:error CSRF_TOKEN_INVALID reloaded=true', 'lc:success ok']);
  });

  it('nor when the action in flight may have run (no answer, even after the retries): the component shows the server’s state instead', async () => {
    await queuedBehind(() => 'abort', ['abort', 'abort', 'abort', '200']);
    expect(eventCodes()).toEqual(['lc:error NETWORK_ERROR', 'lc:success ok']);
  });

  it('a form submitted while an action is in flight is still sent after a refusal that does not reload (a rate limit)', async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    answer = async (i) => {
      if (i === 0) await held;
      return i === 0 ? refusal(429, 'RATE_LIMIT_EXCEEDED') : ok(950);
    };
    await pay('100');
    await expect.poll(() => sent.length).toBe(1);
    await pay('50');
    release();
    await expect.poll(() => events.length).toBe(2);
    expect(sent).toEqual(['pay {"amount":"100"}', 'pay {"amount":"50"}']);
    expect(eventCodes()).toEqual(['lc:error RATE_LIMIT_EXCEEDED', 'lc:success ok']);
  });

  it('an action checkbox refused without markup (rate limit, forbidden, invalid params) shows again what the server rendered; a plain box keeps its toggle', async () => {
    await page.getByTestId('plain').click();
    const answers = [refusal(429, 'RATE_LIMIT_EXCEEDED'), ok(1000, { flag: true }), refusal(403, 'FORBIDDEN'), { status: 400, body: { error: 'Invalid.', code: 'VALIDATION_FAILED', request_id: 'r', errors: {} } }];
    answer = (i) => answers[i]!;
    // (The success's morph gives the plain box the server's `checked`: none.)
    const after = [['size-s', 'plain'], ['flag', 'size-s'], ['flag', 'size-s'], ['flag', 'size-s']];
    for (const [i, expected] of after.entries()) {
      await page.getByTestId('flag').click();
      await expect.poll(() => events.length).toBe(i + 1);
      expect(await checked()).toEqual(expected);
    }
    expect(eventCodes()).toEqual(['lc:error RATE_LIMIT_EXCEEDED', 'lc:success ok', 'lc:error FORBIDDEN', 'lc:error VALIDATION_FAILED']);
  });

  it('an action radio refused without markup: the radio the server rendered checked is checked again, the one clicked is not', async () => {
    answer = (i) => (i === 1 ? ok(1000, { size: 'l' }) : refusal(429, 'RATE_LIMIT_EXCEEDED'));
    await page.getByTestId('size-m').click();
    await expect.poll(() => events.length).toBe(1);
    expect(await checked()).toEqual(['size-s']);
    await page.getByTestId('size-l').click();
    await expect.poll(() => events.length).toBe(2);
    expect(await checked()).toEqual(['size-l']);
    await page.getByTestId('size-s').click();
    await expect.poll(() => events.length).toBe(3);
    expect(await checked()).toEqual(['size-l']);
    expect(sent).toEqual(['size {"size":"m"}', 'size {"size":"l"}', 'size {"size":"s"}']);
  });

  it('a checkbox refused with a reloading code shows what the reloaded page renders', async () => {
    answer = () => refusal(409, 'STATE_INVALID');
    pageHtml = pageOf(render(1000, { flag: true, size: 'm' }));
    await page.getByTestId('size-l').click();
    await expect.poll(() => events.length).toBe(1);
    expect(eventCodes()).toEqual(['lc:error STATE_INVALID reloaded=true']);
    expect(await checked()).toEqual(['flag', 'size-m']);
  });
});
