/**
 * A form submitted while its component is busy, in the reference app's counter (Chromium): it waits
 * for the answer in flight and is sent then — never dropped, its typed text never wiped by that
 * answer's morph. Clicks on action buttons while busy stay ignored, and the very submit in flight again
 * is a repeat. Answers are held by routes until the test lets them go (no timing).
 */
import type { BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ATTR, ROUTES } from '../../src/core/wire.js';
import { browserTestsEnabled, demoInChromium, openLive, recordEvents, settled, type RecordedEvent } from './browser.js';

type Demo = Awaited<ReturnType<typeof demoInChromium>>;
let demo: Demo;
let context: BrowserContext;
let page: Page;
let events: RecordedEvent[];
/** Action requests the page sent, in order: `action params`. */
let sent: string[];
/** Releases the held answer of each request (by its index in `sent`). */
let releases: Array<() => void>;

/** Holds every action answer until `releases[i]()` is called. */
async function holdAnswers(): Promise<void> {
  await page.route(`**${ROUTES.action}`, async (route: Route) => {
    const body = route.request().postDataJSON() as { action: string; params: unknown };
    const held = new Promise<void>((resolve) => releases.push(resolve));
    sent.push(`${body.action} ${JSON.stringify(body.params)}`);
    const response = await route.fetch();
    await held;
    await route.fulfill({ response });
  });
}

const label = () => page.getByTestId('label');
const save = () => page.locator(`form[${ATTR.action}="setLabel"] [type="submit"]`);
const plus = () => page.locator(`[${ATTR.action}="increment"]`);
const eventNames = () => events.map((e) => `${e.type} ${String(e.detail.action)}`);
/** The label the server holds for this session: what a fresh page view renders. */
async function serverLabel(): Promise<string> {
  const other = await context.newPage();
  await openLive(other, `${demo.base}/`);
  const value = await other.getByTestId('label').inputValue();
  await other.close();
  return value;
}

describe.runIf(browserTestsEnabled('queued form submits'))('a form submitted while its component is busy (reference app, Chromium)', () => {
  beforeAll(async () => {
    demo = await demoInChromium();
  });
  afterAll(async () => {
    await demo?.stop();
  });

  beforeEach(async () => {
    sent = [];
    releases = [];
    context = await demo.browser.newContext();
    page = await context.newPage();
    events = await recordEvents(page);
    await openLive(page, `${demo.base}/`);
    await holdAnswers();
  });
  afterEach(async () => {
    await context?.close();
  });

  it('is sent once the answer in flight is in: one request, the label saved, the typed text kept through both morphs', async () => {
    await plus().click();
    await expect.poll(() => sent.length).toBe(1);
    await label().fill('Groceries');
    await save().click();
    // Focus is on the button, not the field: the counter's morph would give the field the server's "".
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Save label');
    releases[0]!();
    // The label goes out once the count's answer is morphed in and reported…
    await expect.poll(() => sent.length).toBe(2);
    expect(eventNames()).toEqual(['lc:success increment']);
    expect(await page.locator('[data-count]').textContent()).toBe('1');
    // …with the text typed, which that morph left in the field.
    expect(await label().inputValue()).toBe('Groceries');
    releases[1]!();
    await expect.poll(() => eventNames()).toEqual(['lc:success increment', 'lc:success setLabel']);
    await settled(page, 'counter:main');
    expect(sent).toEqual(['increment {}', 'setLabel {"label":"Groceries"}']);
    expect(events[1]!.detail.state).toEqual({ count: 1 });
    expect(await label().inputValue()).toBe('Groceries');
    expect(await serverLabel()).toBe('Groceries');
  });

  it('a later submit replaces one still waiting; the same submit as the one in flight again is a repeat, dropped', async () => {
    await label().fill('First');
    await save().click();
    await expect.poll(() => sent.length).toBe(1);
    // The same form with the same fields (a second click on "Pay"): not sent again.
    await save().click();
    // Another text: waits, and is then replaced by the one after it.
    await label().fill('Second');
    await save().click();
    await label().fill('Third');
    await save().click();
    releases[0]!();
    await expect.poll(() => sent.length).toBe(2);
    releases[1]!();
    await expect.poll(() => events.length).toBe(2);
    await settled(page, 'counter:main');
    expect(sent).toEqual(['setLabel {"label":"First"}', 'setLabel {"label":"Third"}']);
    expect(eventNames()).toEqual(['lc:success setLabel', 'lc:success setLabel']);
    expect(await label().inputValue()).toBe('Third');
    expect(await serverLabel()).toBe('Third');
  });

  it('the latest submit wins: back to what is in flight after another waits, nothing more is sent', async () => {
    await label().fill('First');
    await save().click();
    await expect.poll(() => sent.length).toBe(1);
    await label().fill('Second');
    await save().click();
    // The user changes their mind: the text in flight again. "Second" must not be sent after it.
    await label().fill('First');
    await save().click();
    releases[0]!();
    await expect.poll(() => events.length).toBe(1);
    await settled(page, 'counter:main');
    expect(sent).toEqual(['setLabel {"label":"First"}']);
    expect(await label().inputValue()).toBe('First');
    expect(await serverLabel()).toBe('First');
  });

  it('a double click on "+" while the component is busy runs nothing: clicks on action buttons are not queued', async () => {
    await plus().click();
    await expect.poll(() => sent.length).toBe(1);
    await plus().dblclick();
    await page.locator(`[${ATTR.action}="decrement"]`).click();
    releases[0]!();
    await expect.poll(() => events.length).toBe(1);
    await settled(page, 'counter:main');
    expect(sent).toEqual(['increment {}']);
    expect(eventNames()).toEqual(['lc:success increment']);
    expect(await page.locator('[data-count]').textContent()).toBe('1');
    // Free again: the next click counts.
    await plus().click();
    await expect.poll(() => sent.length).toBe(2);
    releases[1]!();
    await expect.poll(() => page.locator('[data-count]').textContent()).toBe('2');
    expect(sent).toEqual(['increment {}', 'increment {}']);
  });
});
