/**
 * A component whose own initialState is over `maxStateBytes` is refused when the runtime is made,
 * naming it; once, start-up passed and every page view showing it answered 500.
 */
import { describe, expect, it } from 'vitest';
import { defineComponent } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { createTestHarness } from '../../src/testing/index.js';

/** A component whose initialState is `{"s":"…"}`: 8 bytes of JSON around `s`. */
const sized = (s: string) => defineComponent({ name: 'big', initialState: { s }, publicState: [], actions: {}, render: () => html`x` });

describe('initialState over maxStateBytes', () => {
  it('is refused at runtime creation, naming the component, its size and the limit; up to the limit it mounts', async () => {
    await expect(createTestHarness([sized('x'.repeat(2_000_000))])).rejects.toThrow(
      new TypeError('Runtime: the initialState of component "big" is 2000008 bytes as JSON, over maxStateBytes (1048576): it could never be mounted'),
    );
    // Counted in UTF-8 bytes, as the stored state is: 60 × "é" is 128 bytes of JSON.
    await expect(createTestHarness([sized('é'.repeat(60))], { maxStateBytes: 127 })).rejects.toThrow(/"big" is 128 bytes as JSON, over maxStateBytes \(127\)/);
    const h = await createTestHarness([sized('é'.repeat(60))], { maxStateBytes: 128 });
    expect(await h.runtime.mount(h.session, 'big:a')).toBe('<div data-lc-id="big:a">x</div>');
    await expect(createTestHarness([sized('x'.repeat(2_000_000))], { maxStateBytes: 2_000_008 })).resolves.toBeDefined();
  });
});
