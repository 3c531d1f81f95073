/**
 * What a component that returns the wrong thing is told (a 500 for the visitor, this message in the
 * log): what it returned, and for the usual slips what to do — a template without the `html` tag, an
 * `async render`, an arrow function with braces and no `return`. It was "(got string)", "(got object)"
 * for a promise, "(got undefined)", and nothing at all for an action.
 */
import { describe, expect, it } from 'vitest';
import { defineComponent, type ComponentDefinition } from '../../core/component.js';
import { html, type SafeHtml } from '../../core/html.js';
import { callAction, mountComponent } from '../../testing/index.js';

function rendering(name: string, render: () => unknown): ComponentDefinition {
  return defineComponent({ name, initialState: { count: 0 }, publicState: ['count'], actions: {}, render: render as () => SafeHtml });
}

describe('render returning something other than html`…`', () => {
  it('a plain string: tag the template with html', async () => {
    await expect(mountComponent(rendering('plain', () => '<p>0</p>'))).rejects.toThrow(
      new TypeError("plain.render must return html`…` (got string): tag the template literal with html, imported from 'livecomponents'"),
    );
  });

  it('a promise (an async render): render is synchronous', async () => {
    await expect(mountComponent(rendering('later', async () => html`<p>0</p>`))).rejects.toThrow(
      new TypeError('later.render must return html`…` (got a promise): render is synchronous; load what it shows in an action and keep it in the state'),
    );
  });

  it('undefined: a forgotten return; null as before', async () => {
    await expect(mountComponent(rendering('braces', () => undefined))).rejects.toThrow(
      new TypeError('braces.render must return html`…` (got undefined: a forgotten `return`?)'),
    );
    await expect(mountComponent(rendering('nothing', () => null))).rejects.toThrow(new TypeError('nothing.render must return html`…` (got null)'));
  });
});

describe('an action returning something other than the new state', () => {
  const counter = defineComponent({
    name: 'counter',
    initialState: { count: 0 },
    publicState: ['count'],
    actions: {
      // The braces make a block: the object is built and dropped.
      add: { run: (s: { count: number }) => { void { ...s, count: s.count + 1 }; } },
      list: { run: () => [1, 2] },
      text: { run: () => 'done' },
    } as never,
    render: (s) => html`<output>${s.count}</output>`,
  });

  it('names what it returned: undefined (a forgotten return), an array, a string', async () => {
    const c = await mountComponent(counter);
    await expect(callAction(c, 'add' as never)).rejects.toThrow(
      new TypeError('Action counter.add must return the new state object (got undefined: a forgotten `return`?)'),
    );
    await expect(callAction(c, 'list' as never)).rejects.toThrow(new TypeError('Action counter.list must return the new state object (got an array)'));
    await expect(callAction(c, 'text' as never)).rejects.toThrow(new TypeError('Action counter.text must return the new state object (got string)'));
  });
});
