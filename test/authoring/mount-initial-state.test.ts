/**
 * `view.mount(id, initialState)` (runtime.mount) and `mountComponent` of livecomponents/testing read
 * `initialState` alike: its fields over the component's own. Once, the runtime replaced the whole
 * state with it while the helper merged: tests passed, and production threw in render after storing
 * the partial state, which every later view of the session found again.
 */
import { describe, expect, it } from 'vitest';
import { defineComponent } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { createTestHarness, mountComponent } from '../../src/testing/index.js';

const todo = defineComponent({
  name: 'todo',
  initialState: { title: 'x', items: [] as string[], secret: 's' },
  publicState: ['title', 'items'],
  actions: { add: { run: (s) => ({ ...s, items: [...s.items, 'n'] }) } },
  render: (s) => html`<h1>${s.title}</h1><p>${s.items.length}</p>`,
});

describe('mounting with a partial initialState', () => {
  it('runtime.mount, renderInitial and mountComponent all merge it over the initialState, and store that', async () => {
    const h = await createTestHarness([todo]);
    const page = await h.runtime.mount(h.session, 'todo:a', { title: 'Groceries' });
    expect(page).toBe('<div data-lc-id="todo:a"><h1>Groceries</h1><p>0</p></div>');
    expect(await h.fullState('todo:a')).toEqual({ title: 'Groceries', items: [], secret: 's' });
    expect(h.runtime.renderInitial('todo:b', { title: 'Groceries' })).toBe('<div data-lc-id="todo:b"><h1>Groceries</h1><p>0</p></div>');
    const m = await mountComponent(todo, { title: 'Groceries' }, { harness: h, instance: 'c' });
    expect([m.html, await h.fullState(m.id)]).toEqual(['<div data-lc-id="todo:c"><h1>Groceries</h1><p>0</p></div>', { title: 'Groceries', items: [], secret: 's' }]);
    // The component's own initialState is not changed by a mount.
    expect(todo.initialState).toEqual({ title: 'x', items: [], secret: 's' });
  });

  it('refuses a field the component does not have, naming the component and the field, and stores nothing', async () => {
    const h = await createTestHarness([todo]);
    const message = `The initial state given for "todo:a" has "titel", which todo's initialState does not: only its fields can be given`;
    await expect(h.runtime.mount(h.session, 'todo:a', { titel: 'Groceries' })).rejects.toThrow(new TypeError(message));
    expect(() => h.runtime.renderInitial('todo:a', { titel: 'Groceries' })).toThrow(new TypeError(message));
    await expect(mountComponent(todo, { titel: 'G' } as never, { harness: h, instance: 'a' })).rejects.toThrow(new TypeError(message));
    expect(await h.fullState('todo:a')).toBeUndefined();
    // Inherited names are not fields either.
    await expect(h.runtime.mount(h.session, 'todo:a', JSON.parse('{"toString":"x"}') as Record<string, unknown>)).rejects.toThrow(/has "toString", which todo's/);
  });

  it('a field given as undefined keeps the default (a query value that was not sent), rather than storing none', async () => {
    const h = await createTestHarness([todo]);
    await h.runtime.mount(h.session, 'todo:a', { title: undefined, items: ['kept'] });
    expect(await h.fullState('todo:a')).toEqual({ title: 'x', items: ['kept'], secret: 's' });
  });

  it('refuses an initialState that is not a plain object, saying so', async () => {
    const h = await createTestHarness([todo]);
    for (const bad of [null, 5, [], 'x']) {
      await expect(h.runtime.mount(h.session, 'todo:a', bad as never)).rejects.toThrow(new TypeError(`The initial state given for "todo:a" must be a plain object of todo's initialState fields`));
    }
    expect(await h.fullState('todo:a')).toBeUndefined();
  });
});
