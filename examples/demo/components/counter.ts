import { z } from 'zod';
import { defineComponent, html } from '../../../src/index.js';
import { charCount, maxlengthFor } from './text-length.js';

/** The label's limit, in characters. */
export const LABEL_MAX_CHARS = 40;

/**
 * `counter:main` (PROTOCOL §2): public `count`, actions `increment` and `decrement`, default limit.
 * Its label lives in the instance's state (`setLabel`): a field's value that only the browser holds
 * is replaced by the server's markup at the next re-render, unless the field has focus.
 */
export const counter = defineComponent({
  name: 'counter',
  initialState: { count: 0, label: '' },
  publicState: ['count'],
  actions: {
    increment: { run: (state) => ({ ...state, count: state.count + 1 }) },
    decrement: { run: (state) => ({ ...state, count: state.count - 1 }) },
    setLabel: {
      params: z.object({ label: z.string().trim().refine((label) => charCount(label) <= LABEL_MAX_CHARS, `At most ${LABEL_MAX_CHARS} characters.`) }),
      run: (state, { label }) => ({ ...state, label }),
    },
  },
  render: (state) => html`
    <div class="counter">
      <button type="button" class="btn" data-lc-action="decrement" aria-label="Decrement">−</button>
      <output data-count aria-live="polite">${state.count}</output>
      <button type="button" class="btn" data-lc-action="increment" aria-label="Increment">+</button>
    </div>
    <form method="post" data-lc-action="setLabel" class="stack">
      <label class="field">Label (saved in the component's state, so the counter's re-renders keep it)
        <input name="label" value="${state.label}" maxlength="${maxlengthFor(LABEL_MAX_CHARS)}" data-testid="label" autocomplete="off" dir="auto" placeholder="Type here, then press Enter"></label>
      <span class="field-error" data-lc-error="label" hidden></span>
      <button type="submit" class="btn">Save label</button>
    </form>`,
});
