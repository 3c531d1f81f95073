/**
 * `livecomponents/testing` as a user meets it: the mistakes its messages must explain (a component
 * left out of the harness, an instance mounted before `signIn`), and the rate limit it runs like HTTP.
 */
import { describe, expect, it } from 'vitest';
import { defineComponent } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { callAction, createTestHarness, mountComponent } from '../../src/testing/index.js';

const counter = defineComponent({
  name: 'counter',
  initialState: { count: 0 },
  publicState: ['count'],
  actions: { increment: { run: (s) => ({ count: s.count + 1 }) } },
  render: (s) => html`<p>${s.count}</p>`,
});

const other = defineComponent({
  name: 'other',
  initialState: {},
  publicState: [],
  actions: {},
  render: () => html`<p></p>`,
});

describe('livecomponents/testing', () => {
  it('mounting a component the harness was not given says so', async () => {
    const harness = await createTestHarness([counter]);
    await expect(mountComponent(other, {}, { harness })).rejects.toThrow(
      new TypeError('Component "other" is not among the components given to createTestHarness: add it to its list'),
    );
  });

  it('an instance mounted before signIn is refused with a hint to mount it again; mounted after, it works', async () => {
    const harness = await createTestHarness([counter]);
    const before = await mountComponent(counter, {}, { harness });
    await harness.signIn({ id: 'u1', email: 'ada@example.com', name: null });
    await expect(callAction(before, 'increment')).rejects.toMatchObject({
      code: 'COMPONENT_NOT_FOUND',
      message: 'This component does not exist in this session. (it was mounted before harness.signIn replaced the session: mount it again)',
    });
    const after = await mountComponent(counter, {}, { harness });
    expect((await callAction(after, 'increment')).state).toEqual({ count: 1 });
  });

  it('runs the rate limit as HTTP does (60 per minute by default); the harness options change it', async () => {
    let c = await mountComponent(counter);
    for (let i = 0; i < 60; i++) c = await callAction(c, 'increment');
    await expect(callAction(c, 'increment')).rejects.toMatchObject({ code: 'RATE_LIMIT_EXCEEDED' });
    const harness = await createTestHarness([counter], { rateLimit: { limit: 1000, windowSeconds: 60 } });
    let d = await mountComponent(counter, {}, { harness });
    for (let i = 0; i < 100; i++) d = await callAction(d, 'increment');
    expect(d.state).toEqual({ count: 100 });
  });
});
