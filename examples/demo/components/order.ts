import { z } from 'zod';
import { defineComponent, html } from '../../../src/index.js';
import { charCount, maxlengthFor } from './text-length.js';

/** An item's limit, in characters. */
export const ITEM_MAX_CHARS = 100;

/** `order:main` (PROTOCOL §2): `createOrder({ item })`, public `orders`, results replayable for an hour. */
export const order = defineComponent({
  name: 'order',
  initialState: { orders: 0, recent: [] as string[] },
  publicState: ['orders'],
  actions: {
    createOrder: {
      params: z.object({
        item: z.string().trim().min(1, 'Enter an item.').refine((item) => charCount(item) <= ITEM_MAX_CHARS, `At most ${ITEM_MAX_CHARS} characters.`),
      }),
      idempotencyTTL: 3600,
      run: (state, { item }) => ({ orders: state.orders + 1, recent: [item, ...state.recent].slice(0, 5) }),
    },
  },
  render: (state) => html`
    <form method="post" data-lc-action="createOrder" data-lc-reset class="stack">
      <label class="field">Item <input name="item" required maxlength="${maxlengthFor(ITEM_MAX_CHARS)}" autocomplete="off" dir="auto"></label>
      <span class="field-error" data-lc-error="item" hidden></span>
      <button type="submit" class="btn primary">Place order</button>
    </form>
    <p>Orders placed: <output data-orders>${state.orders}</output></p>
    ${state.recent.length > 0 ? html`<ul class="recent">${state.recent.map((item) => html`<li dir="auto">${item}</li>`)}</ul>` : null}`,
});
