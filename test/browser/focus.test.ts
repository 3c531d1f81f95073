/**
 * Focus and field messages across morphs (docs/client.md steps 4 to 6), in Chromium against a
 * scripted server: a focused field without an `id` survives new markup inserted before its form,
 * focus never drops to `<body>` when a morph removes the focused element, and field messages are
 * linked to their fields with `aria-describedby`.
 */
import type { Page, Route } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ATTR, CSRF_META_NAME, ROUTES } from '../../src/core/wire.js';
import { browserTestsEnabled, openLive, recordEvents, scriptedBrowser, SCRIPTED_ORIGIN, type RecordedEvent } from './browser.js';
const ID = 'list:main';

/**
 * The list component: a "Remove" form per item, above an "add" form and next to it (`reset`: with
 * `data-lc-reset`; `hint`: its field described by a hint with an id — which lets idiomorph match the
 * form by id, so the focus tests go without).
 */
function render(items: string[], { reset = false, hint = false } = {}): string {
  const rows = items
    .map((item) => `<form ${ATTR.action}="remove" ${ATTR.params}='${JSON.stringify({ item })}'><span>${item}</span> <input name="note" value=""><button>Remove</button></form>`)
    .join('');
  return `<section ${ATTR.id}="${ID}">
  ${rows}
  <form ${ATTR.action}="add"${reset ? ` ${ATTR.reset}` : ''}>
    <input name="item" value=""${hint ? ' aria-describedby="item-hint"' : ''}>
    ${hint ? '<span id="item-hint">One word</span>' : ''}
    <span ${ATTR.error}="item" hidden></span>
    <textarea name="notes"></textarea>
    <button type="button" ${ATTR.action}="clear" data-testid="clear">Clear</button>
  </form>
</section>`;
}

const pageOf = (body: string): string => `<!doctype html><html><head><meta charset="utf-8">
<meta name="${CSRF_META_NAME}" content="token-0">
<script type="module" src="${ROUTES.clientScript}"></script></head>
<body><p><button type="button">elsewhere</button></p>${body}</body></html>`;

type Answer = { status: number; body: unknown };

let page: Page;
let events: RecordedEvent[];
let answer: () => Answer;
let pageHtml: string;

const ok = (html: string): Answer => ({ status: 200, body: { html, state: {}, csrf_token: 'token-1' } });

async function serve(route: Route, bundle: string): Promise<void> {
  const url = new URL(route.request().url());
  if (url.pathname === ROUTES.clientScript) return route.fulfill({ contentType: 'text/javascript', body: bundle });
  if (url.pathname === ROUTES.action) {
    const { status, body } = answer();
    return route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });
  }
  if (url.pathname === '/') return route.fulfill({ contentType: 'text/html', body: pageHtml });
  return route.fulfill({ status: 404, body: 'not here' });
}

async function open(html: string): Promise<void> {
  pageHtml = pageOf(html);
  await openLive(page, `${SCRIPTED_ORIGIN}/`);
}

/** The focused element: its tag, name, value, selection, and whether it is `mark`ed (the element focused before). */
const focused = () =>
  page.evaluate(() => {
    const el = document.activeElement as HTMLInputElement;
    return {
      tag: el.tagName,
      name: el.getAttribute('name'),
      form: el.closest('form')?.getAttribute('data-lc-action') ?? null,
      value: el.value,
      start: el.selectionStart ?? null,
      end: el.selectionEnd ?? null,
      direction: el.selectionDirection ?? null,
    };
  });

/** Calls `action` from a script, so focus stays where the user left it. */
const call = (action: string) => page.evaluate(([id, a]) => window.LiveComponents!.call(id, a, {}).then((o) => o.type), [ID, action] as const);

describe.runIf(browserTestsEnabled('focus across morphs'))('focus across morphs', () => {
  scriptedBrowser(serve, async (opened) => {
    page = opened;
    events = await recordEvents(page);
  });

  it('a focused field without an id keeps focus, typed text and selection when a form is inserted before its form', async () => {
    await open(render([]));
    answer = () => ok(render(['milk']));
    await page.locator('input[name=item]').click();
    await page.keyboard.type('typing here');
    await page.evaluate(() => (document.activeElement as HTMLInputElement).setSelectionRange(2, 6, 'backward'));
    expect(await call('refresh')).toBe('ok');
    expect(await page.locator('[data-lc-action=remove]').count()).toBe(1);
    expect(await focused()).toEqual({ tag: 'INPUT', name: 'item', form: 'add', value: 'typing here', start: 2, end: 6, direction: 'backward' });
    // The inserted form's field did not take the typed text.
    expect(await page.locator('input[name=note]').inputValue()).toBe('');
  });

  it('same in a textarea, and with several forms inserted at once', async () => {
    await open(render(['a']));
    answer = () => ok(render(['a', 'b', 'c']));
    await page.locator('textarea[name=notes]').click();
    await page.keyboard.type('line one');
    expect(await call('refresh')).toBe('ok');
    expect(await focused()).toEqual({ tag: 'TEXTAREA', name: 'notes', form: 'add', value: 'line one', start: 8, end: 8, direction: 'forward' });
  });

  it('among fields of the same name, the one focused is found again by its rank', async () => {
    const twoTags = (items: string[]) => render(items).replace('<textarea name="notes"></textarea>', '<input name="tag" value="one"><input name="tag" value="two">');
    await open(twoTags([]));
    answer = () => ok(twoTags(['a', 'b']));
    await page.locator('input[name=tag]').nth(1).click();
    await page.keyboard.press('End');
    await page.keyboard.type('!');
    expect(await call('refresh')).toBe('ok');
    const rank = await page.evaluate(() => [...document.querySelectorAll('input[name=tag]')].indexOf(document.activeElement as HTMLInputElement));
    expect(rank).toBe(1);
    expect(await focused()).toMatchObject({ name: 'tag', form: 'add', value: 'two!', start: 4, end: 4 });
    expect(await page.locator('input[name=tag]').first().inputValue()).toBe('one');
  });

  it('Enter in the add form: the field stays focused with what was typed (no data-lc-reset)', async () => {
    await open(render([]));
    answer = () => ok(render(['eggs']));
    await page.locator('input[name=item]').click();
    await page.keyboard.type('eggs');
    await page.keyboard.press('Enter');
    await expect.poll(() => events.length).toBe(1);
    expect(await focused()).toMatchObject({ tag: 'INPUT', name: 'item', form: 'add', value: 'eggs' });
  });

  it('Enter in a data-lc-reset add form: the field stays focused and shows what the server rendered', async () => {
    await open(render([], { reset: true }));
    answer = () => ok(render(['eggs'], { reset: true }));
    await page.locator('input[name=item]').click();
    await page.keyboard.type('eggs');
    await page.keyboard.press('Enter');
    await expect.poll(() => events.map((e) => e.type)).toEqual(['lc:success']);
    expect(await focused()).toMatchObject({ tag: 'INPUT', name: 'item', form: 'add', value: '' });
    expect(await page.locator('input[name=note]').inputValue()).toBe('');
  });

  it('a morph that removes the focused button puts focus on the component root, not on <body>', async () => {
    await open(render([]));
    answer = () => ok(render([]).replace(/<button type="button"[^>]*>Clear<\/button>/, ''));
    await page.getByTestId('clear').click();
    await expect.poll(() => events.length).toBe(1);
    const active = () => page.evaluate(() => [document.activeElement?.getAttribute('data-lc-id'), document.activeElement?.getAttribute('tabindex')]);
    expect(await active()).toEqual([ID, '-1']);
    // The next morph drops the tabindex the server never rendered: it is put back, focus stays.
    answer = () => ok(render(['x']));
    expect(await call('refresh')).toBe('ok');
    await page.waitForTimeout(50);
    expect(await active()).toEqual([ID, '-1']);
  });

  it('the tabindex put on the root goes when the root loses focus (a click inside would focus the root again)', async () => {
    await open(render([]));
    answer = () => ok(render([]).replace(/<button type="button"[^>]*>Clear<\/button>/, ''));
    await page.getByTestId('clear').click();
    await expect.poll(() => events.length).toBe(1);
    const root = page.locator(`[${ATTR.id}="${ID}"]`);
    expect(await root.getAttribute('tabindex')).toBe('-1');
    await page.locator('input[name=item]').focus();
    expect(await root.getAttribute('tabindex')).toBeNull();
    // Clicking the root's text now leaves focus where it is not: on <body>, as for any page.
    await page.locator('input[name=item]').evaluate((el: HTMLInputElement) => el.blur());
    await root.click({ position: { x: 1, y: 1 } });
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('BODY');
  });

  it('a root that cannot take focus (the answer hides it) is left without the tabindex', async () => {
    await open(render([]));
    answer = () => ok(render([]).replace(`<section ${ATTR.id}="${ID}">`, `<section ${ATTR.id}="${ID}" hidden>`).replace(/<button type="button"[^>]*>Clear<\/button>/, ''));
    await page.getByTestId('clear').click();
    await expect.poll(() => events.length).toBe(1);
    expect(await page.locator(`[${ATTR.id}="${ID}"]`).evaluate((el) => [el.hasAttribute('hidden'), el.getAttribute('tabindex')])).toEqual([true, null]);
  });

  it('a focused <select multiple> whose form is pushed down keeps every choice, not just the first', async () => {
    const withSelect = (items: string[]) =>
      render(items).replace('<textarea name="notes"></textarea>', '<select name="tags" multiple><option>a</option><option>b</option><option>c</option></select>');
    await open(withSelect([]));
    answer = () => ok(withSelect(['milk']));
    const select = page.locator('select[name=tags]');
    await select.selectOption(['a', 'c']);
    await select.focus();
    expect(await call('refresh')).toBe('ok');
    expect(await page.locator('[data-lc-action=remove]').count()).toBe(1);
    expect(await select.evaluate((el: HTMLSelectElement) => [Array.from(el.selectedOptions, (o) => o.value), el === document.activeElement])).toEqual([['a', 'c'], true]);
  });

  it.each([
    [409, 'STATE_INVALID'],
    [403, 'CSRF_TOKEN_INVALID'],
  ])('the reload after a %i %s that removes the focused element puts focus on the root too', async (status, code) => {
    await open(render(['a']));
    pageHtml = pageOf(`<section ${ATTR.id}="${ID}"><p>Nothing here any more</p></section>`);
    answer = () => ({ status, body: { error: 'stale', code, status } });
    await page.locator('[data-lc-action=remove] button').focus();
    expect(await call('remove')).toBe('error');
    expect(events[0]?.detail).toMatchObject({ code, reloaded: true });
    expect(await page.locator('[data-lc-action=remove]').count()).toBe(0);
    expect(await page.evaluate(() => [document.activeElement?.getAttribute('data-lc-id'), document.activeElement?.textContent])).toEqual([ID, 'Nothing here any more']);
  });

  it('focus outside the component is left alone', async () => {
    await open(render(['a']));
    answer = () => ok(render([]));
    await page.getByText('elsewhere').focus();
    expect(await call('refresh')).toBe('ok');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('elsewhere');
  });

  it('field messages are linked with aria-describedby (kept ids too), and unlinked when cleared', async () => {
    await open(render([], { hint: true }));
    answer = () => ({ status: 400, body: { error: 'invalid', code: 'VALIDATION_FAILED', status: 400, errors: { item: ['Too long'] } } });
    expect(await call('add')).toBe('error');
    const slot = page.locator(`[${ATTR.error}="item"]`);
    const id = await slot.getAttribute('id');
    expect(id).toMatch(/^lc-error-\d+$/);
    expect(await slot.textContent()).toBe('Too long');
    const field = page.locator('input[name=item]');
    expect(await field.getAttribute('aria-describedby')).toBe(`item-hint ${id}`);
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    expect(await page.evaluate((i) => document.getElementById(i!)?.textContent, id)).toBe('Too long');
    // A second refusal does not add the id twice.
    expect(await call('add')).toBe('error');
    expect(await field.getAttribute('aria-describedby')).toBe(`item-hint ${id}`);

    answer = () => ({ status: 429, body: { error: 'slow down', code: 'RATE_LIMIT_EXCEEDED', status: 429, retry_after: 1 } });
    expect(await call('add')).toBe('error');
    expect(await field.getAttribute('aria-describedby')).toBe('item-hint');
    expect(await field.getAttribute('aria-invalid')).toBeNull();
  });

  it('a message slot with its own id keeps it; a field without aria-describedby gets just that id', async () => {
    await open(render([]).replace(`${ATTR.error}="item"`, `${ATTR.error}="item" id="mine"`));
    answer = () => ({ status: 400, body: { error: 'invalid', code: 'VALIDATION_FAILED', status: 400, errors: { item: ['Too long'] } } });
    expect(await call('add')).toBe('error');
    expect(await page.locator('input[name=item]').getAttribute('aria-describedby')).toBe('mine');
    answer = () => ({ status: 429, body: { error: 'slow down', code: 'RATE_LIMIT_EXCEEDED', status: 429, retry_after: 1 } });
    expect(await call('add')).toBe('error');
    expect(await page.locator('input[name=item]').getAttribute('aria-describedby')).toBeNull();
  });
  it('a focused field the answer turns into another type (text → email) is restored without its selection, and the action is a success', async () => {
    await open(render([]));
    answer = () => ok(render(['milk']).replace('<input name="item" value="">', '<input type="email" name="item" value="">'));
    await page.locator('input[name=item]').click();
    await page.keyboard.type('a@b');
    // setSelectionRange throws on an email field: it turned the whole success into RENDER_FAILED.
    expect(await call('refresh')).toBe('ok');
    expect(await focused()).toMatchObject({ tag: 'INPUT', name: 'item', form: 'add', value: 'a@b', start: null });
  });

  it('two identical forms: the focused field is found again by its rank, not moved into the first one', async () => {
    const twice = (above: string[]) =>
      `<section ${ATTR.id}="${ID}">${above.map((item) => `<form ${ATTR.action}="remove" ${ATTR.params}='${JSON.stringify({ item })}'><input name="note"></form>`).join('')}` +
      `<form ${ATTR.action}="search"><input name="q" value=""></form><form ${ATTR.action}="search"><input name="q" value=""></form></section>`;
    await open(twice([]));
    answer = () => ok(twice(['milk']));
    await page.locator('input[name=q]').nth(1).click();
    await page.keyboard.type('bottom');
    expect(await call('refresh')).toBe('ok');
    expect(await page.locator('input[name=q]').evaluateAll((els) => els.map((el) => [(el as HTMLInputElement).value, el === document.activeElement]))).toEqual([
      ['', false],
      ['bottom', true],
    ]);
  });

  it("rows of a list sharing a message slot's name: each slot gets its own id, and each field is described by its own row's slot, once", async () => {
    const rows = `<section ${ATTR.id}="${ID}">${['a', 'b', 'c']
      .map((item) => `<form ${ATTR.action}="save" ${ATTR.params}='${JSON.stringify({ item })}'><input name="note"><span ${ATTR.error}="note" hidden></span></form>`)
      .join('')}</section>`;
    await open(rows);
    answer = () => ({ status: 400, body: { error: 'invalid', code: 'VALIDATION_FAILED', status: 400, errors: { note: ['Too long'] } } });
    expect(await call('save')).toBe('error');
    const ids = await page.locator(`[${ATTR.error}=note]`).evaluateAll((els) => els.map((el) => el.id));
    expect(new Set(ids).size).toBe(3);
    expect(await page.locator('input[name=note]').evaluateAll((els) => els.map((el) => el.getAttribute('aria-describedby')))).toEqual(ids);
  });

  it('a focused button whose form a new row pushes down does not land on that row\'s "Remove": focus goes to the root', async () => {
    await open(render([]));
    answer = () => ok(render(['milk']));
    await page.getByTestId('clear').focus();
    expect(await call('refresh')).toBe('ok');
    const where = await page.evaluate(() => ({ form: document.activeElement?.closest('form')?.getAttribute('data-lc-action') ?? null, root: document.activeElement?.getAttribute('data-lc-id') ?? null }));
    expect(where.form === 'remove').toBe(false);
    expect(['add', null]).toContain(where.form);
  });

  it('Enter on a row\'s "Remove" button outside any form: focus goes to the root, not to the next row\'s "Remove" (where a second Enter would remove that item)', async () => {
    const list = (items: string[]) =>
      `<ul ${ATTR.id}="${ID}">${items.map((item) => `<li>${item} <button type="button" ${ATTR.action}="remove" ${ATTR.params}='${JSON.stringify({ item })}'>Remove</button></li>`).join('')}</ul>`;
    await open(list(['a', 'b', 'c']));
    answer = () => ok(list(['b', 'c']));
    await page.getByRole('button', { name: 'Remove' }).first().focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => events.length).toBe(1);
    expect(await page.locator('li').allTextContents()).toEqual(['b Remove', 'c Remove']);
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-lc-id') ?? document.activeElement?.outerHTML)).toBe(ID);
  });
});
