/**
 * A focused field or editable element without an id or a name in a list of rows, when a re-render
 * removes a row above it or its own row (docs/client.md step 4), in Chromium against a scripted
 * server. An editable element (and a `<select>`) has no rendered value (`defaultValue`) to be found
 * again by when the rows changed, so it was taken for gone: what the user was typing went, and focus
 * went to the component.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ATTR } from '../../src/core/wire.js';
import { browserTestsEnabled, scriptedRerenders } from './browser.js';

const ID = 'demo:rows';

let page: Page;

/** Rows without ids, each its name and `field(name)`: the names of the n-th render. */
const rows = (names: string[][], field: (name: string) => string) => (n: number) =>
  `<div ${ATTR.id}="${ID}"><ul>${names[n]!.map((name) => `<li><b>${name}</b> ${field(name)}</li>`).join('')}</ul></div>`;

/** Each row's name, what its field or editable element shows, and whether it has focus. */
const shown = () =>
  page.locator('li').evaluateAll((lis) =>
    lis.map((li) => {
      const el = li.querySelector('input,textarea,select,[contenteditable]') as HTMLInputElement;
      return [li.querySelector('b')!.textContent, el.isContentEditable ? el.textContent : el.value, el === document.activeElement];
    }),
  );

/** The ids on the page: none is left behind by the morph. */
const ids = () => page.evaluate(() => Array.from(document.querySelectorAll('[id]'), (el) => el.id));

/** Clicks into row `name`'s field, goes to its end and types `text`. */
async function typeIn(name: string, text: string): Promise<void> {
  await page.locator('li', { hasText: name }).locator('input,textarea,[contenteditable]').click();
  await page.keyboard.press('End');
  await page.keyboard.type(text);
}

describe.runIf(browserTestsEnabled('focused fields in rows'))('a focused field without an id or a name in rows that change', () => {
  const { open, rerender } = scriptedRerenders(ID, (opened) => void (page = opened));

  it('a focused editable element keeps its text, focus and caret when the row above is removed, then when one is inserted above', async () => {
    await open(rows([['a', 'b', 'c'], ['b', 'c'], ['z', 'b', 'c']], (name) => `<div contenteditable="true">note ${name}</div>`));
    await typeIn('b', ' typed');
    expect(await rerender()).toBe('ok');
    expect(await shown()).toEqual([
      ['b', 'note b typed', true],
      ['c', 'note c', false],
    ]);
    // Typing goes on where it stopped.
    await page.keyboard.type('!');
    expect(await rerender()).toBe('ok');
    expect(await shown()).toEqual([
      ['z', 'note z', false],
      ['b', 'note b typed!', true],
      ['c', 'note c', false],
    ]);
    await page.keyboard.type('?');
    expect(await page.locator('li', { hasText: 'b' }).locator('[contenteditable]').textContent()).toBe('note b typed!?');
    expect(await ids()).toEqual([]);
  });

  it('a focused editable element typed in twice, with the answer between: found again by what the server last rendered in it, not what it first showed', async () => {
    // The first answer renders other notes (the focused one keeps its text), the second removes the row above.
    await open((n) => rows([['a', 'b', 'c'], ['a', 'b', 'c'], ['b', 'c']], (name) => `<div contenteditable="true">note ${name}${n ? ' v1' : ''}</div>`)(n));
    await typeIn('b', ' one');
    expect(await rerender()).toBe('ok');
    await page.keyboard.type(' two');
    expect(await rerender()).toBe('ok');
    expect(await shown()).toEqual([
      ['b', 'note b one two', true],
      ['c', 'note c v1', false],
    ]);
  });

  it('a focused <select> without a name keeps its choice and focus when the row above is removed: found again by its options as rendered', async () => {
    await open(rows([['a', 'b', 'c'], ['b', 'c']], (name) => `<select><option>none</option><option>all</option><option>${name} only</option></select>`));
    const select = page.locator('li', { hasText: 'b' }).locator('select');
    await select.focus();
    await select.selectOption('b only');
    expect(await rerender()).toBe('ok');
    expect(await shown()).toEqual([
      ['b', 'b only', true],
      ['c', 'none', false],
    ]);
    expect(await ids()).toEqual([]);
  });

});

// What already held before the fix (an <input> or <textarea> has its `defaultValue`; an element with no
// counterpart is blurred before it is morphed): kept as guards.
describe.runIf(browserTestsEnabled('focused fields in rows'))('a focused field whose row goes, or without a unique rendered value', () => {
  const { open, rerender } = scriptedRerenders(ID, (opened) => void (page = opened));

  it("a focused editable element whose row is removed: nothing of what was typed lands in another row, and focus goes to the component", async () => {
    await open(rows([['a', 'b', 'c'], ['a', 'c']], (name) => `<div contenteditable="true">note ${name}</div>`));
    await typeIn('b', ' typed');
    expect(await rerender()).toBe('ok');
    expect(await shown()).toEqual([
      ['a', 'note a', false],
      ['c', 'note c', false],
    ]);
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-lc-id'))).toBe(ID);
    expect(await ids()).toEqual([]);
  });

  it('focused editable elements rendered alike (empty) in every row: the one typed in keeps its text, or nothing of it lands in another row', async () => {
    await open(rows([['a', 'b', 'c'], ['b', 'c'], ['a', 'c']], () => '<div contenteditable="true"></div>'));
    await typeIn('b', 'typed');
    expect(await rerender()).toBe('ok');
    const after = await shown();
    expect([
      [
        ['b', 'typed', true],
        ['c', '', false],
      ],
      [
        ['b', '', false],
        ['c', '', false],
      ],
    ]).toContainEqual(after);
  });

  for (const [what, field] of [
    ['a focused <input>', (name: string) => `<input value="note ${name}">`],
    ['a focused <textarea>', (name: string) => `<textarea>note ${name}</textarea>`],
  ] as const) {
    it(`${what} without a name keeps its text, focus and caret when the row above is removed; whose row is removed, it lands nowhere`, async () => {
      await open(rows([['a', 'b', 'c'], ['b', 'c'], ['b']], field));
      await typeIn('b', ' typed');
      expect(await rerender()).toBe('ok');
      expect(await shown()).toEqual([
        ['b', 'note b typed', true],
        ['c', 'note c', false],
      ]);
      expect(await page.evaluate(() => (document.activeElement as HTMLInputElement).selectionStart)).toBe(12);
      await typeIn('c', ' other');
      expect(await rerender()).toBe('ok');
      expect(await shown()).toEqual([['b', 'note b', false]]);
      expect(await ids()).toEqual([]);
    });
  }
});
