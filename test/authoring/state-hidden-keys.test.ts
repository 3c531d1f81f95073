/**
 * An action's new state with keys JSON drops (a symbol key, a non-enumerable property, a named
 * property of an array) is refused as the other non-JSON states are: 500, the field named, nothing
 * stored. Once, they passed the check and were lost without a word when the state was stored.
 */
import { describe, expect, it } from 'vitest';
import { defineComponent, type StateShape } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { callAction, createTestHarness, mountComponent } from '../../src/testing/index.js';

const cases: [string, (s: StateShape) => StateShape, string][] = [
  ['a symbol key', (s) => ({ ...s, n: 1, [Symbol('x')]: 5 }), '"Symbol(x)" is a symbol key (JSON drops it)'],
  ['a named property of an array', (s) => ({ ...s, n: 1, a: Object.assign([1, 2], { extra: 'lost' }) }), '"a.extra" is a named property of an array (JSON keeps only its elements)'],
  ['a non-enumerable property', (s) => Object.defineProperty({ ...s, n: 1 }, 'hidden', { value: 'x', enumerable: false }), '"hidden" is a non-enumerable property (JSON drops it)'],
];

describe('an action returning a state with keys JSON drops', () => {
  for (const [label, run, problem] of cases) {
    it(`${label}: 500 naming the field, nothing stored`, async () => {
      const c = defineComponent({ name: 'hid', initialState: { n: 0 }, publicState: ['n'], actions: { go: { run: run as unknown as (s: { n: number }) => { n: number } } }, render: (s) => html`<p>${s.n}</p>` });
      const h = await createTestHarness([c]);
      const m = await mountComponent(c, undefined, { harness: h });
      await expect(callAction(m, 'go')).rejects.toThrow(new TypeError(`Action hid.go returned a state JSON cannot keep: ${problem}`));
      expect(await h.fullState(m.id)).toEqual({ n: 0 });
    });
  }
});

describe('an action changing the state it was given in place', () => {
  it('is checked like a new state: a named property on the kept array, a hidden one on the kept object, refused (they passed as "kept", then were lost)', async () => {
    const c = defineComponent({
      name: 'inplace',
      initialState: { items: ['a', 'b'], meta: { v: 1 } },
      publicState: ['items'],
      actions: {
        // The same objects back, in a new top level (an in-place change, against the rules).
        select: { run: (s) => ({ items: Object.assign(s.items as string[], { selected: 'b' }), meta: s.meta }) },
        hide: { run: (s) => ({ items: [...s.items], meta: Object.defineProperty(s.meta, 'secret', { value: 'x', enumerable: false }) }) },
      },
      render: (s) => html`<p>${s.items.join(',')}</p>`,
    });
    const h = await createTestHarness([c]);
    const m = await mountComponent(c, undefined, { harness: h });
    await expect(callAction(m, 'select')).rejects.toThrow('Action inplace.select returned a state JSON cannot keep: "items.selected" is a named property of an array (JSON keeps only its elements)');
    await expect(callAction(m, 'hide')).rejects.toThrow('Action inplace.hide returned a state JSON cannot keep: "meta.secret" is a non-enumerable property (JSON drops it)');
    expect(await h.fullState(m.id)).toEqual({ items: ['a', 'b'], meta: { v: 1 } });
  });
});
