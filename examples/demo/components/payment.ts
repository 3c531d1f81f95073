import { z } from 'zod';
import { defineComponent, html, LiveError } from '../../../src/index.js';

/**
 * `payment:main` (PROTOCOL §2): public `balance`; `processPayment({ amount })` limited to 5 per
 * 5 minutes and replayable for a day. `cardToken` is sensitive: it never leaves the server.
 */
export const payment = defineComponent({
  name: 'payment',
  initialState: { balance: 1000, payments: 0, cardToken: 'tok_demo_sensitive_4242' },
  publicState: ['balance'],
  actions: {
    processPayment: {
      params: z.object({ amount: z.number('Enter an amount.').int('Whole amounts only.').positive('The amount must be positive.') }),
      rateLimit: 5,
      rateLimitWindow: 300,
      idempotencyTTL: 86_400,
      run: (state, { amount }) => {
        if (amount > state.balance) {
          throw new LiveError('VALIDATION_FAILED', { fields: { errors: { amount: ['The amount exceeds the balance.'] } } });
        }
        return { ...state, balance: state.balance - amount, payments: state.payments + 1 };
      },
    },
  },
  render: (state) => html`
    <p class="balance">Balance: <output data-balance>${state.balance}</output></p>
    <form method="post" data-lc-action="processPayment" data-lc-reset class="stack">
      <label class="field">Amount <input type="number" name="amount" min="1" step="1" required></label>
      <span class="field-error" data-lc-error="amount" hidden></span>
      <button type="submit" class="btn primary">Pay</button>
    </form>
    <p class="muted">Payments made: ${state.payments}</p>`,
});
