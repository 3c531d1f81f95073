import { defineComponent, html } from '../../../src/index.js';

/** `counter:main` (PROTOCOL §2): public `count`, actions `increment` and `decrement`, default limit. */
export const counter = defineComponent({
  name: 'counter',
  initialState: { count: 0 },
  publicState: ['count'],
  actions: {
    increment: { run: (state) => ({ ...state, count: state.count + 1 }) },
    decrement: { run: (state) => ({ ...state, count: state.count - 1 }) },
  },
  render: (state) => html`
    <div class="counter">
      <button type="button" class="btn" data-lc-action="decrement" aria-label="Decrement">−</button>
      <output data-count aria-live="polite">${state.count}</output>
      <button type="button" class="btn" data-lc-action="increment" aria-label="Increment">+</button>
    </div>
    <label class="field">Label (kept while the counter re-renders)
      <input name="label" data-testid="label" autocomplete="off" placeholder="Type here, then click +">
    </label>`,
});
