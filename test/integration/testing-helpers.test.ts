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

  it('headers count whatever the case of their names, as over HTTP (Node lower-cases them)', async () => {
    const c = await mountComponent(counter);
    await expect(callAction(c, 'increment', undefined, { headers: { Origin: 'https://evil.example' } })).rejects.toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
    await expect(callAction(c, 'increment', undefined, { headers: { 'Sec-Fetch-Site': 'cross-site' } })).rejects.toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
    await expect(callAction(c, 'increment', undefined, { headers: { 'X-CSRF-Token': 'forged' } })).rejects.toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
    const keyed = await callAction(c, 'increment', undefined, { headers: { 'Idempotency-Key': 'k1' } });
    expect(keyed.idempotency).toMatchObject({ key: 'k1', cached: false });
  });

  it("harness.events records every event when the caller passes a sink of its own, which gets them too", async () => {
    const mine: string[] = [];
    const harness = await createTestHarness([counter], { events: { emit: (e) => void mine.push(e.event) } });
    const c = await mountComponent(counter, {}, { harness });
    await expect(callAction(c, 'increment', undefined, { csrfToken: 'forged' })).rejects.toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
    expect(harness.events.map((e) => e.event)).toEqual(['malicious_csrf']);
    expect(mine).toEqual(['malicious_csrf']);
  });

  it('a second mount of one instance with another initialState says it would be ignored; an invalid instance name says so', async () => {
    const harness = await createTestHarness([counter]);
    expect((await mountComponent(counter, { count: 5 }, { harness })).state).toEqual({ count: 5 });
    await expect(mountComponent(counter, { count: 9 }, { harness })).rejects.toThrow(
      new TypeError('"counter:test" is already mounted in this harness, so initialState would be ignored: pass another instance, or a new harness'),
    );
    // Without a state of its own, a mount finds the instance as it is.
    expect((await mountComponent(counter, undefined, { harness })).state).toEqual({ count: 5 });
    expect((await mountComponent(counter, { count: 9 }, { harness, instance: 'second' })).state).toEqual({ count: 9 });
    await expect(mountComponent(counter, undefined, { harness, instance: 'a b' })).rejects.toThrow(new TypeError('Invalid instance "a b": 1 to 64 letters, digits, "_" or "-"'));
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
