/**
 * What a morph keeps of the browser's own state (docs/client.md step 4), in Chromium against a
 * scripted server: the open or closed state of `<dialog>` and `<details>` (a modal dialog whose
 * `open` a re-render removed stayed modal but hidden, the whole page inert until a reload), and a
 * focused field or editable element without a `name` when the answer inserts an element of the same
 * tag above it (its typed text was lost, or went into the inserted field).
 */
import type { Page, Route } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ATTR, CSRF_META_NAME, ROUTES } from '../../src/core/wire.js';
import { browserTestsEnabled, openLive, scriptedBrowser, SCRIPTED_ORIGIN as ORIGIN } from './browser.js';

const ID = 'demo:one';

const pageOf = (body: string): string => `<!doctype html><html><head><meta charset="utf-8">
<meta name="${CSRF_META_NAME}" content="token-0">
<script type="module" src="${ROUTES.clientScript}"></script></head><body>${body}</body></html>`;

/** The component with a counter, a modal and a plain dialog, and two `<details>` (the second rendered open). */
const withDialogs = (n: number): string => `<div ${ATTR.id}="${ID}"><output>${n}</output>
<button type="button" ${ATTR.action}="tick" data-testid="tick">tick</button>
<dialog id="modal">Sure? <button type="button" data-testid="close" onclick="this.closest('dialog').close()">close</button></dialog>
<dialog id="plain">plain</dialog>
<details id="shut"><summary>more</summary>inside</details>
<details id="shown" open><summary>less</summary>inside</details></div>`;

let page: Page;
/** The next action answer's component HTML, from the number of actions answered so far. */
let render: (n: number) => string;
let answered = 0;
/** Error answers to give before the next renders. */
let refusals: Array<{ status: number; code: string; error: string; errors?: object; retry_after?: number }> = [];

async function serve(route: Route, bundle: string): Promise<void> {
  const url = new URL(route.request().url());
  if (url.pathname === ROUTES.clientScript) return route.fulfill({ contentType: 'text/javascript', body: bundle });
  if (url.pathname === ROUTES.action) {
    const refusal = refusals.shift();
    if (refusal) return route.fulfill({ status: refusal.status, contentType: 'application/json', body: JSON.stringify(refusal) });
    const html = render(++answered);
    return route.fulfill({ contentType: 'application/json', body: JSON.stringify({ html, state: {}, csrf_token: `token-${answered}` }) });
  }
  if (url.pathname === '/') return route.fulfill({ contentType: 'text/html', body: pageOf(render(0)) });
  return route.fulfill({ status: 404, body: 'not here' });
}

async function open(html: (n: number) => string): Promise<void> {
  render = html;
  refusals = [];
  answered = 0;
  await openLive(page, `${ORIGIN}/`);
}

/** Re-renders the component from a script (a poll, another component's action): focus stays where it is. */
const rerender = () => page.evaluate((id) => window.LiveComponents!.call(id, 'refresh', {}).then((o) => o.type), ID);

describe.runIf(browserTestsEnabled('state a morph keeps'))('state a morph keeps', () => {
  scriptedBrowser(serve, (opened) => void (page = opened));

  it('a modal dialog opened by the page stays open, shown and usable through a re-render, and the page is usable once it closes', async () => {
    await open(withDialogs);
    await page.evaluate(() => document.querySelector<HTMLDialogElement>('#modal')!.showModal());
    expect(await rerender()).toBe('ok');
    const modal = () => page.evaluate(() => {
      const dialog = document.querySelector<HTMLDialogElement>('#modal')!;
      return { open: dialog.open, modal: dialog.matches(':modal'), shown: dialog.checkVisibility() };
    });
    // Without `open`, Chromium hid the dialog but kept it modal: nothing on the page took a click.
    expect(await modal()).toEqual({ open: true, modal: true, shown: true });
    await page.getByTestId('close').click({ timeout: 2000 });
    expect(await modal()).toEqual({ open: false, modal: false, shown: false });
    await page.getByTestId('tick').click({ timeout: 2000 });
    await expect.poll(() => page.textContent('output')).toBe('2');
  });

  it('a dialog opened with show() and a <details> the user opened stay open; one the user closed stays closed', async () => {
    await open(withDialogs);
    await page.locator('#shut summary').click();
    await page.locator('#shown summary').click();
    await page.evaluate(() => document.querySelector<HTMLDialogElement>('#plain')!.show());
    const states = () => page.evaluate(() => ['#plain', '#shut', '#shown'].map((s) => document.querySelector<HTMLDialogElement>(s)!.open));
    expect(await states()).toEqual([true, true, false]);
    expect(await rerender()).toBe('ok');
    expect(await rerender()).toBe('ok');
    expect(await page.textContent('output')).toBe('2');
    expect(await states()).toEqual([true, true, false]);
  });

  it('a dialog and a <details> the server inserts open before closed ones of their tag show open, the others closed; those the user then closes stay closed', async () => {
    // No ids: idiomorph morphs the old (closed) ones into the inserted ones, and their `open` was refused.
    await open((n) => `<div ${ATTR.id}="${ID}"><output>${n}</output>${n ? '<dialog open data-t="confirm">Sure?</dialog>' : ''}<dialog data-t="help">help</dialog>
${n ? '<details open data-t="new"><summary>new</summary>!</details>' : ''}<details data-t="faq"><summary>faq</summary>answer</details>${n ? '<details open data-t="last"><summary>last</summary>!</details>' : ''}</div>`);
    const states = () => page.evaluate(() => ['confirm', 'help', 'new', 'faq', 'last'].map((t) => document.querySelector<HTMLDialogElement>(`[data-t=${t}]`)?.open));
    expect(await rerender()).toBe('ok');
    expect(await states()).toEqual([true, false, true, false, true]);
    // (The open dialog covers the summaries: clicked from a script.)
    await page.locator('[data-t=new] summary').evaluate((el: HTMLElement) => el.click());
    await page.locator('[data-t=last] summary').evaluate((el: HTMLElement) => el.click());
    expect(await rerender()).toBe('ok');
    expect(await page.textContent('output')).toBe('2');
    expect(await states()).toEqual([true, false, false, false, false]);
  });

  it('a focused text field without a name keeps its text, focus and caret when a read-only field is inserted above it', async () => {
    await open((n) => `<div ${ATTR.id}="${ID}">${n ? '<input readonly data-testid="status" value="Saved">' : ''}<input data-testid="mine" value="server"></div>`);
    await page.getByTestId('mine').click();
    await page.keyboard.press('End');
    await page.keyboard.type(' typed');
    expect(await rerender()).toBe('ok');
    // The inserted field took the typed text and the focus.
    expect(await page.getByTestId('status').inputValue()).toBe('Saved');
    expect(await page.getByTestId('mine').evaluate((el: HTMLInputElement) => [el.value, el === document.activeElement, el.selectionStart])).toEqual(['server typed', true, 12]);
  });

  it('a focused editable element without an id keeps its text, focus and caret when an element of its tag is inserted above it', async () => {
    await open((n) => `<div ${ATTR.id}="${ID}">${n ? '<div data-testid="notice">Saved</div>' : ''}<div contenteditable="true" data-testid="editor">server</div></div>`);
    await page.getByTestId('editor').click();
    await page.keyboard.press('End');
    await page.keyboard.type(' typed');
    expect(await rerender()).toBe('ok');
    expect(await page.getByTestId('notice').textContent()).toBe('Saved');
    expect(await page.getByTestId('editor').evaluate((el) => [el.textContent, el === document.activeElement])).toEqual(['server typed', true]);
    // Typing goes on where it stopped.
    await page.keyboard.type('!');
    expect(await page.getByTestId('editor').textContent()).toBe('server typed!');
  });

  it('the id lent for the morph is neither taken from an element of the page nor left behind when the root changes its tag', async () => {
    await open((n) => `<div ${ATTR.id}="${ID}"><p id="lc-focused">note</p><div>${n ? '<input readonly value="Saved">' : ''}<input data-testid="mine"></div></div>`);
    await page.getByTestId('mine').click();
    await page.keyboard.type('typed');
    expect(await rerender()).toBe('ok');
    const ids = () => page.evaluate(() => Array.from(document.querySelectorAll('[id]'), (el) => `${el.tagName}#${el.id}`));
    expect(await ids()).toEqual(['P#lc-focused']);
    expect(await page.getByTestId('mine').evaluate((el: HTMLInputElement) => [el.value, el === document.activeElement])).toEqual(['typed', true]);
    await open((n) => (n ? `<section ${ATTR.id}="${ID}"><input readonly value="Saved"><input data-testid="mine"></section>` : `<div ${ATTR.id}="${ID}"><input data-testid="mine"></div>`));
    await page.getByTestId('mine').click();
    await page.keyboard.type('typed');
    expect(await rerender()).toBe('ok');
    expect(await ids()).toEqual([]);
  });

  it('a focused field without a name keeps its text and focus when the answer changes its type, and an editable element when it spells `contenteditable` otherwise', async () => {
    for (const [before, after] of [
      ['<input type="text" data-testid="mine">', '<input type="search" data-testid="mine">'],
      ['<div contenteditable="true" data-testid="mine"></div>', '<div contenteditable="" data-testid="mine"></div>'],
    ]) {
      await open((n) => `<div ${ATTR.id}="${ID}">${n ? after : before}</div>`);
      await page.getByTestId('mine').click();
      await page.keyboard.type('typed');
      expect(await rerender()).toBe('ok');
      expect(await page.getByTestId('mine').evaluate((el: HTMLInputElement) => [el.value ?? el.textContent, el === document.activeElement])).toEqual(['typed', true]);
    }
  });

  it('same for an unnamed field in a wrapper, with a wrapper of the same tag inserted above', async () => {
    await open((n) => `<div ${ATTR.id}="${ID}">${n ? '<div>Saved</div>' : ''}<div><input data-testid="mine" value="server"></div></div>`);
    await page.getByTestId('mine').click();
    await page.keyboard.press('End');
    await page.keyboard.type(' typed');
    expect(await rerender()).toBe('ok');
    expect(await page.getByTestId('mine').evaluate((el: HTMLInputElement) => [el.value, el === document.activeElement, el.selectionStart])).toEqual(['server typed', true, 12]);
    expect(await page.evaluate(() => document.querySelector('[id]')?.id ?? null)).toBeNull();
  });

  it('an aria-invalid the server renders after a validation error is not removed by the next error answer', async () => {
    await open((n) => `<div ${ATTR.id}="${ID}"><output>${n}</output><input name="a"${n ? ' aria-invalid="true"' : ''}></div>`);
    const invalid = () => page.locator('input').getAttribute('aria-invalid');
    refusals.push({ status: 400, code: 'VALIDATION_FAILED', error: 'invalid', errors: { a: ['bad'] } });
    expect(await rerender()).toBe('error');
    expect(await invalid()).toBe('true');
    expect(await rerender()).toBe('ok');
    refusals.push({ status: 429, code: 'RATE_LIMITED', error: 'slow down', retry_after: 1 });
    expect(await rerender()).toBe('error');
    expect(await page.textContent('output')).toBe('1');
    expect(await invalid()).toBe('true');
  });

  it('a focused field keeps its row when a row above it is removed: the typing does not go into the next row', async () => {
    const rows = (values: string[]) => `<form ${ATTR.action}="save">${values.map((v) => `<input name="e[]" value="${v}">`).join('')}</form>`;
    await open((n) => `<div ${ATTR.id}="${ID}">${rows(n ? ['b', 'c'] : ['a', 'b', 'c'])}</div>`);
    await page.locator('input').nth(1).click();
    await page.keyboard.press('End');
    await page.keyboard.type('X');
    expect(await rerender()).toBe('ok');
    expect(await page.locator('input').evaluateAll((els: HTMLInputElement[]) => els.map((el) => [el.value, el === document.activeElement]))).toEqual([
      ['bX', true],
      ['c', false],
    ]);
  });
});
