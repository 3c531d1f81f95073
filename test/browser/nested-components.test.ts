/**
 * A component whose root is inside another's (docs/client.md steps 4 and 5), in Chromium against a
 * scripted server. The parent's answer carries the child's markup as the parent last rendered it,
 * older than what the child shows: its morph put that markup back (the child showed 0 again while
 * the server held 1). And a parent's field errors went into the child's slots and fields, and any
 * other parent answer cleared the child's own.
 */
import type { Page, Route } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ATTR, BODY, CSRF_META_NAME, ROUTES } from '../../src/core/wire.js';
import { browserTestsEnabled, openLive, scriptedBrowser, SCRIPTED_ORIGIN } from './browser.js';

const PARENT = 'parent:x';
const CHILD = 'child:x';

const pageOf = (body: string): string => `<!doctype html><html><head><meta charset="utf-8">
<meta name="${CSRF_META_NAME}" content="token-0">
<script type="module" src="${ROUTES.clientScript}"></script></head><body>${body}</body></html>`;

/** The child: its count and a form with a `label` field and its error slot. */
const child = (c: number, id = CHILD): string => `<div ${ATTR.id}="${id}"><output data-testid="c-${id}">${c}</output>
<button type="button" ${ATTR.action}="inc" data-testid="child-inc">child+</button>
<form ${ATTR.action}="rename"><input name="label" data-testid="child-label"><span ${ATTR.error}="label" data-testid="child-error" hidden></span><button data-testid="child-rename">Rename</button></form></div>`;

/** The parent around `inner` (the child's markup at first render, by default): its count, a `label` field outside any form and its slot. */
const parent = (p: number, inner = child(0)): string => `<div ${ATTR.id}="${PARENT}"><output data-testid="p">${p}</output>
<input name="label" data-testid="parent-label"><span ${ATTR.error}="label" data-testid="parent-error" hidden></span>${inner}</div>`;

type Refusal = { status: number; code: string; error: string; errors?: object };

let page: Page;
/** Actions answered so far, per component. */
let counts: Map<string, number>;
/** The parent's markup for its n-th answer. */
let renderParent: (p: number) => string;
/** Error answers to give a component before its next renders. */
let refusals: Map<string, Refusal[]>;
/** Per component, what its next answer waits for. */
let gates: Map<string, Promise<void>>;

async function serve(route: Route, bundle: string): Promise<void> {
  const url = new URL(route.request().url());
  if (url.pathname === ROUTES.clientScript) return route.fulfill({ contentType: 'text/javascript', body: bundle });
  if (url.pathname === ROUTES.action) {
    const id = (route.request().postDataJSON() as Record<string, string>)[BODY.componentId]!;
    await gates.get(id);
    gates.delete(id);
    const refusal = refusals.get(id)?.shift();
    if (refusal) return route.fulfill({ status: refusal.status, contentType: 'application/json', body: JSON.stringify(refusal) });
    const n = (counts.get(id) ?? 0) + 1;
    counts.set(id, n);
    const html = id === PARENT ? renderParent(n) : child(n, id);
    return route.fulfill({ contentType: 'application/json', body: JSON.stringify({ html, state: {}, csrf_token: `token-${n}` }) });
  }
  if (url.pathname === '/') return route.fulfill({ contentType: 'text/html', body: pageOf(parent(0)) });
  return route.fulfill({ status: 404, body: 'not here' });
}

/** Calls `action` of component `id` from a script; resolves to the outcome's type. */
const call = (id: string, action = 'inc', params: Record<string, unknown> = {}) =>
  page.evaluate(([id, action, params]) => window.LiveComponents!.call(id, action, params).then((o) => o.type), [id, action, params] as const);

/** A gate for component `id`'s next answer, and what opens it. */
function hold(id: string): () => void {
  let open!: () => void;
  gates.set(id, new Promise<void>((resolve) => (open = resolve)));
  return open;
}

const text = (testId: string) => page.getByTestId(testId).textContent();
const slot = (testId: string) => page.getByTestId(testId).evaluate((el: HTMLElement) => [el.hidden, el.textContent]);
const invalid = (testId: string) => page.getByTestId(testId).getAttribute('aria-invalid');
/** Elements with an `id`: the lent ones must not stay. */
const ids = () => page.evaluate(() => Array.from(document.querySelectorAll('[id]'), (el) => el.id));

describe.runIf(browserTestsEnabled('nested components'))('nested components', () => {
  scriptedBrowser(serve, async (opened) => {
    counts = new Map();
    refusals = new Map();
    gates = new Map();
    renderParent = (p) => parent(p);
    page = opened;
    await openLive(page, `${SCRIPTED_ORIGIN}/`);
  });

  it("the parent's re-render leaves the nested child's newer markup, its element and its typed, focused field as they are", async () => {
    await page.getByTestId('child-inc').click();
    await expect.poll(() => text(`c-${CHILD}`)).toBe('1');
    await page.getByTestId(`c-${CHILD}`).evaluate((el) => ((el as unknown as { mine: boolean }).mine = true));
    await page.getByTestId('child-label').fill('typed');
    expect(await call(PARENT)).toBe('ok');
    expect(await text('p')).toBe('1');
    // The parent's answer held the child's markup at 0.
    expect(await text(`c-${CHILD}`)).toBe('1');
    expect(await page.getByTestId(`c-${CHILD}`).evaluate((el) => (el as unknown as { mine?: boolean }).mine)).toBe(true);
    expect(await page.getByTestId('child-label').evaluate((el: HTMLInputElement) => [el.value, el === document.activeElement])).toEqual(['typed', true]);
    expect(await ids()).toEqual([]);
    // The child's own answers still morph it.
    expect(await call(CHILD)).toBe('ok');
    expect(await text(`c-${CHILD}`)).toBe('2');
  });

  it("a parent's answer that comes after the child's leaves the child's; the child keeps its busy marks while the parent re-renders", async () => {
    const openParent = hold(PARENT);
    const parentDone = call(PARENT);
    await page.waitForSelector(`[${ATTR.id}="${PARENT}"][aria-busy]`);
    expect(await call(CHILD)).toBe('ok');
    expect(await text(`c-${CHILD}`)).toBe('1');
    const openChild = hold(CHILD);
    const childDone = call(CHILD);
    await page.waitForSelector(`[${ATTR.id}="${CHILD}"][aria-busy]`);
    openParent();
    expect(await parentDone).toBe('ok');
    expect(await text('p')).toBe('1');
    expect(await text(`c-${CHILD}`)).toBe('1');
    const marks = () => page.locator(`[${ATTR.id}="${CHILD}"]`).evaluate((el) => [el.hasAttribute('data-lc-loading'), el.getAttribute('aria-busy')]);
    expect(await marks()).toEqual([true, 'true']);
    openChild();
    expect(await childDone).toBe('ok');
    expect(await text(`c-${CHILD}`)).toBe('2');
    expect(await marks()).toEqual([false, null]);
  });

  it('a nested root the parent no longer renders goes, one it adds appears as rendered, and one it moves keeps its markup', async () => {
    expect(await call(CHILD)).toBe('ok');
    renderParent = (p) => parent(p, child(7, 'child:y'));
    expect(await call(PARENT)).toBe('ok');
    expect(await page.locator(`[${ATTR.id}="${CHILD}"]`).count()).toBe(0);
    expect(await text('c-child:y')).toBe('7');
    renderParent = (p) => parent(p, '');
    expect(await call(PARENT)).toBe('ok');
    expect(await page.locator(`[${ATTR.id}^="child:"]`).count()).toBe(0);
    renderParent = (p) => parent(p, child(5));
    expect(await call(PARENT)).toBe('ok');
    expect(await text(`c-${CHILD}`)).toBe('5');
    expect(await call(CHILD)).toBe('ok');
    expect(await text(`c-${CHILD}`)).toBe('2');
    // Moved before the parent's count, with another `div` in its old place.
    renderParent = (p) => `<div ${ATTR.id}="${PARENT}">${child(0)}<output data-testid="p">${p}</output><div>after</div></div>`;
    expect(await call(PARENT)).toBe('ok');
    expect(await text('p')).toBe('4');
    expect(await text(`c-${CHILD}`)).toBe('2');
    expect(await page.locator(`[${ATTR.id}="${PARENT}"] > *`).evaluateAll((els) => els.map((el) => el.tagName))).toEqual(['DIV', 'OUTPUT', 'DIV']);
    expect(await ids()).toEqual([]);
  });

  it("a parent's field errors touch only its own slots and fields, and its other answers leave the child's", async () => {
    refusals.set(PARENT, [{ status: 400, code: 'VALIDATION_FAILED', error: 'invalid', errors: { label: ['Too short.'] } }]);
    expect(await call(PARENT, 'rename', { label: 'x' })).toBe('error');
    expect(await slot('parent-error')).toEqual([false, 'Too short.']);
    expect(await invalid('parent-label')).toBe('true');
    expect(await slot('child-error')).toEqual([true, '']);
    expect(await invalid('child-label')).toBeNull();

    refusals.set(CHILD, [{ status: 400, code: 'VALIDATION_FAILED', error: 'invalid', errors: { label: ['Needs three letters.'] } }]);
    await page.getByTestId('child-label').fill('y');
    await page.getByTestId('child-rename').click();
    await expect.poll(() => slot('child-error')).toEqual([false, 'Needs three letters.']);
    expect(await invalid('child-label')).toBe('true');
    // The child's error did not clear the parent's either.
    expect(await slot('parent-error')).toEqual([false, 'Too short.']);

    // An unrelated error of the parent's, then a success: the child's message stays.
    refusals.set(PARENT, [{ status: 404, code: 'ACTION_NOT_FOUND', error: 'This action does not exist.' }]);
    expect(await call(PARENT, 'nope')).toBe('error');
    expect(await slot('parent-error')).toEqual([true, '']);
    expect(await slot('child-error')).toEqual([false, 'Needs three letters.']);
    expect(await invalid('child-label')).toBe('true');
    expect(await call(PARENT)).toBe('ok');
    expect(await slot('child-error')).toEqual([false, 'Needs three letters.']);
    expect(await invalid('child-label')).toBe('true');
    // Its own next answer clears it.
    expect(await call(CHILD)).toBe('ok');
    expect(await slot('child-error')).toEqual([true, '']);
    expect(await invalid('child-label')).toBeNull();
  });
});
