/**
 * An action that throws `new LiveError(code)` with a code the registry lacks is a bug: answered as
 * any other (500 INTERNAL_ERROR, the TypeError as the logged failure, a fresh CSRF token in the
 * answer). Once, `'OUT_OF_STOCK'` failed inside LiveError's constructor with "Cannot read properties
 * of undefined", and `'constructor'` made an error whose status was undefined: Fastify then refused
 * the answer itself, logged twice, and the 500 lost its csrf_token.
 */
import { describe, expect, it } from 'vitest';
import { defineComponent } from '../../src/core/component.js';
import { LiveError } from '../../src/core/errors.js';
import { html } from '../../src/core/html.js';
import { createTestHarness, mountComponent } from '../../src/testing/index.js';

describe('an action throwing a LiveError with an unknown code', () => {
  for (const code of ['OUT_OF_STOCK', 'constructor']) {
    it(`${code}: 500 INTERNAL_ERROR with a csrf_token, the failure names the code`, async () => {
      const definition = defineComponent({
        name: 'shop',
        initialState: { n: 0 },
        publicState: ['n'],
        actions: {
          buy: {
            run: (): { n: number } => {
              throw new LiveError(code as never);
            },
          },
        },
        render: (s) => html`<p>${s.n}</p>`,
      });
      const h = await createTestHarness([definition]);
      const m = await mountComponent(definition, undefined, { harness: h });
      const headers = { 'x-csrf-token': await h.runtime.csrf.issue(h.session) };
      const res = await h.runtime.handleAction({ requestId: 'r', ip: '1.1.1.1', method: 'POST', url: '/', headers }, { component_id: m.id, action: 'buy', params: {} }, h.session);
      const { csrf_token: token, ...body } = res.body as { csrf_token?: string };
      expect([res.status, body]).toEqual([500, { error: 'Something went wrong on our side.', code: 'INTERNAL_ERROR', request_id: 'r' }]);
      expect(typeof token).toBe('string');
      expect(res.failure).toBeInstanceOf(TypeError);
      expect((res.failure as Error).message).toMatch(new RegExp(`^LiveError: unknown error code "${code}"; the codes are those of docs/reference/errors\\.md`));
    });
  }
});
