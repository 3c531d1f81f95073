/**
 * Messages about an array's elements, in Chromium against the real plugin and zod: the server keys
 * them by the element's path (`emails.1`: src/pipeline/validate joins the issue path with dots), so a
 * `data-lc-error="emails"` slot shows them, and of a `name="emails[]"` group only the field that sent
 * that element is marked invalid. The client looked `emails` up alone: the slot stayed hidden, no
 * field was marked, and the submit seemed to do nothing.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineComponent, html } from '../../src/index.js';
import { ATTR } from '../../src/core/wire.js';
import { browserTestsEnabled, launchChromium, openLive, recordEvents, serveComponents, type RecordedEvent, type ServedApp } from './browser.js';

/** An invitation form (two `emails[]` fields, the second not an email) and a `tags[]` checkbox group (a, b, c; a and c checked, c not allowed). */
const invite = defineComponent({
  name: 'invite',
  initialState: { sent: 0 },
  publicState: ['sent'],
  actions: {
    send: { params: z.object({ emails: z.array(z.email()) }), run: (state, params) => ({ sent: state.sent + params.emails.length }) },
    tag: { params: z.object({ tags: z.array(z.enum(['a', 'b'])) }), run: (state) => state },
    attach: { params: z.object({ mails: z.array(z.email()) }), run: (state) => state },
    rename: { params: z.object({ id: z.number(), title: z.string().min(3) }), run: (state) => state },
  },
  render: (state) => html`<output data-sent>${state.sent}</output>
<form ${ATTR.action}="send">
  <input name="emails[]" value="a@example.com"><input name="emails[]" value="not-an-email">
  <span ${ATTR.error}="emails" data-testid="emails-error" hidden></span>
  <span ${ATTR.error}="emails.1" data-testid="second-error" hidden></span>
  <span ${ATTR.error}="_" data-testid="form-error" hidden></span>
  <button data-testid="send">Send</button>
</form>
<form ${ATTR.action}="tag">
  <input type="checkbox" name="tags[]" value="a" checked><input type="checkbox" name="tags[]" value="b"><input type="checkbox" name="tags[]" value="c" checked>
  <span ${ATTR.error}="tags" data-testid="tags-error" hidden></span>
  <button data-testid="tag">Tag</button>
</form>
<form ${ATTR.action}="attach">
  <input type="file" name="mails[]"><input name="mails[]" value="a@example.com"><input name="mails[]" value="not-an-email">
  <button data-testid="attach">Attach</button>
</form>
${[1, 2].map((id) => html`<form ${ATTR.action}="rename" ${ATTR.params}="${JSON.stringify({ id })}">
  <input name="title" value="x"><span ${ATTR.error}="title" data-testid="${`title-error-${id}`}" hidden></span>
  <button data-testid="${`rename-${id}`}">Rename</button>
</form>`)}`,
});

describe.runIf(browserTestsEnabled('field errors of array elements in Chromium'))('field errors of array elements in Chromium', () => {
  let server: ServedApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let events: RecordedEvent[];
  /** The server's answers to actions, as JSON. */
  let answers: Array<Record<string, unknown>>;

  beforeAll(async () => {
    server = await serveComponents({ components: [invite], page: { title: 'invite', body: (view) => view.mount('invite:main') } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });
  beforeEach(async () => {
    context = await browser.newContext();
    page = await context.newPage();
    events = await recordEvents(page);
    answers = [];
    page.on('response', (response) => {
      if (response.request().method() === 'POST') void response.json().then((body: Record<string, unknown>) => answers.push(body));
    });
    await openLive(page, `${server.base}/`);
  });
  afterEach(async () => {
    await context?.close();
  });

  /** Each field of the name: its `aria-invalid` and `aria-describedby`. */
  const marks = (name: string) =>
    page.locator(`[name="${name}"]`).evaluateAll((els) => els.map((el) => [el.getAttribute('aria-invalid'), el.getAttribute('aria-describedby')]));
  const slot = (id: string) => page.getByTestId(id);

  it('`emails.1` shows in the `emails` slot and its own, marks the second `emails[]` field only; the next success clears them', async () => {
    await page.getByTestId('send').click();
    await expect.poll(() => events.length).toBe(1);
    expect(events[0]?.type).toBe('lc:error');
    await expect.poll(() => answers.length).toBe(1);
    expect(answers[0]).toMatchObject({ code: 'VALIDATION_FAILED', errors: { 'emails.1': [expect.any(String)] } });
    expect(Object.keys(answers[0]?.errors as object)).toEqual(['emails.1']);
    const message = (answers[0]?.errors as Record<string, string[]>)['emails.1']?.[0];

    expect(await slot('emails-error').isVisible()).toBe(true);
    expect(await slot('emails-error').textContent()).toBe(message);
    // A slot named after the element's own key still gets its message.
    expect(await slot('second-error').textContent()).toBe(message);
    expect(await slot('form-error').isHidden()).toBe(true);
    const ids = `${await slot('emails-error').getAttribute('id')} ${await slot('second-error').getAttribute('id')}`;
    expect(await marks('emails[]')).toEqual([
      [null, null],
      ['true', ids],
    ]);

    await page.locator('[name="emails[]"]').nth(1).fill('b@example.com');
    await page.getByTestId('send').click();
    await expect.poll(() => events.length).toBe(2);
    expect(events[1]?.type).toBe('lc:success');
    expect(await page.locator('[data-sent]').textContent()).toBe('2');
    expect(await slot('emails-error').isHidden()).toBe(true);
    expect(await slot('second-error').isHidden()).toBe(true);
    expect(await marks('emails[]')).toEqual([
      [null, null],
      [null, null],
    ]);
  });

  it('of a `tags[]` checkbox group, `tags.1` marks the box that sent the second value (the third box: the second is unchecked)', async () => {
    await page.getByTestId('tag').click();
    await expect.poll(() => events.length).toBe(1);
    await expect.poll(() => answers.length).toBe(1);
    expect(Object.keys(answers[0]?.errors as object)).toEqual(['tags.1']);
    expect(await slot('tags-error').isVisible()).toBe(true);
    const id = await slot('tags-error').getAttribute('id');
    expect(await marks('tags[]')).toEqual([
      [null, null],
      [null, null],
      ['true', id],
    ]);
  });

  it('a file input of the name sends no value: `mails.1` marks the field that sent the second one, after it', async () => {
    await page.getByTestId('attach').click();
    await expect.poll(() => answers.length).toBe(1);
    expect(Object.keys(answers[0]?.errors as object)).toEqual(['mails.1']);
    expect(await marks('mails[]')).toEqual([
      [null, null],
      [null, null],
      ['true', null],
    ]);
  });

  it("of a list's rows, the message answers the row submitted: only its slot shows it, only its field is marked", async () => {
    await page.getByTestId('rename-2').click();
    await expect.poll(() => answers.length).toBe(1);
    expect(Object.keys(answers[0]?.errors as object)).toEqual(['title']);
    expect(await slot('title-error-1').isHidden()).toBe(true);
    expect(await slot('title-error-2').isVisible()).toBe(true);
    expect(await marks('title')).toEqual([
      [null, null],
      ['true', await slot('title-error-2').getAttribute('id')],
    ]);
  });
});
