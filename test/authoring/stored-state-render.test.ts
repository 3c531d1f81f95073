/**
 * A deploy changes a component's state shape (v1 `{ items }`, v2 `{ entries }`): a returning
 * visitor's stored v1 state no longer renders. The page still fails (500) and the state is kept (the
 * user's data is not discarded), but the error now names the instance and says the state came from
 * the store; the bare exception ("reading 'length'") named neither.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { defineComponent } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { createTestHarness } from '../../src/testing/index.js';

const v1 = defineComponent({ name: 'todo', initialState: { items: ['milk'] }, publicState: ['items'], actions: {}, render: (s) => html`<p>${s.items.length}</p>` });
const v2 = defineComponent({ name: 'todo', initialState: { entries: [] as string[] }, publicState: ['entries'], actions: {}, render: (s) => html`<p>${s.entries.length}</p>` });

describe('render of a stored state that no longer fits the component', () => {
  it('fails naming the instance and the stored state as its source, and keeps the state', async () => {
    const shared = { store: createMemoryStore(), stateKeys: randomBytes(32).toString('base64'), sessionSecret: randomBytes(32).toString('base64') };
    const before = await createTestHarness([v1], shared);
    await before.runtime.mount(before.session, 'todo:main');
    const after = await createTestHarness([v2], shared);

    const failed = await after.runtime.mount(before.session, 'todo:main').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).message).toBe(
      "The stored state of todo:main (read from the store, kept there) failed to render: Cannot read properties of undefined (reading 'length'). " +
        "If todo's state changed shape since it was stored (a deploy), raise its version and give it migrate (docs/components.md)",
    );
    expect((failed as Error).cause).toBeInstanceOf(TypeError);
    // Not discarded: the next deploy (or a migration) still finds the user's data.
    expect(await after.runtime.states.load(before.session, 'todo:main')).toMatchObject({ type: 'found', state: { items: ['milk'] } });

    // A fresh mount whose render fails is not said to come from the store: its own exception, as before.
    const broken = defineComponent({
      name: 'broken',
      initialState: { n: 0 },
      publicState: [],
      actions: {},
      render: () => {
        throw new RangeError('bug in render');
      },
    });
    const fresh = await createTestHarness([broken]);
    await expect(fresh.runtime.mount(fresh.session, 'broken:main')).rejects.toThrow(new RangeError('bug in render'));
  });
});
