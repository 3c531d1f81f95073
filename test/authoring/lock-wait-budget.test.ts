/**
 * Waiting for the instance lock (held by another process's action on the same instance) is not the
 * action's time: its async steps get their whole `actionTimeoutMs` after the wait. Once, an async
 * params schema checked before the wait started the budget, the wait used it up, and a `run` that had
 * done its work answered 500 (its result thrown away); a synchronous schema did not, so the same
 * action passed or failed by how its params were checked.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineComponent } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';
import { createMemoryStore } from '../../src/index.js';
import { createTestHarness, mountComponent, type TestHarness } from '../../src/testing/index.js';

let release: () => void = () => {};
const held = () => new Promise<void>((resolve) => (release = resolve));

const counter = defineComponent({
  name: 'c',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: {
    // Holds the instance until the test lets it go.
    hold: { run: async (s) => (await held(), { n: s.n + 1 }) },
    // An async schema (a refine that would call out) that answers at once, and an async run of 20 ms.
    add: { params: z.object({ x: z.string().refine(async () => true) }), run: async (s) => (await new Promise((r) => setTimeout(r, 20)), { n: s.n + 10 }) },
  },
  render: (s) => html`<p>${s.n}</p>`,
});

async function act(h: TestHarness, session: TestHarness['session'], id: string, action: string, params: Record<string, unknown>) {
  const headers = { 'x-csrf-token': await h.runtime.csrf.issue(session) };
  return h.runtime.handleAction({ requestId: 'r', ip: '192.0.2.1', method: 'POST', url: '/', headers }, { component_id: id, action, params }, session);
}

describe('the action deadline and the instance lock', () => {
  it('an action that waited longer than actionTimeoutMs for the lock still gets its whole budget: 200, its result stored', async () => {
    const store = createMemoryStore();
    const options = { store, stateKeys: randomBytes(32).toString('base64'), sessionSecret: randomBytes(32).toString('base64') };
    // Two processes on one store (their instance locks are the store's); the first allows its hold the time it takes.
    const first = await createTestHarness([counter], { ...options, actionTimeoutMs: 10_000 });
    const second = await createTestHarness([counter], { ...options, actionTimeoutMs: 300 });
    const m = await mountComponent(counter, undefined, { harness: first });
    const holding = act(first, first.session, m.id, 'hold', {});
    // The first's run has the lock (it is waiting on `held`); let it go after twice the budget.
    await new Promise((resolve) => setTimeout(resolve, 50));
    setTimeout(() => release(), 600);
    const waited = await act(second, first.session, m.id, 'add', { x: 'y' });
    // Its own budget is 300 ms, and it waited ~550 ms: that wait is not counted.
    expect((await holding).status).toBe(200);
    expect([waited.status, waited.failure]).toEqual([200, undefined]);
    expect(await first.fullState(m.id)).toEqual({ n: 11 });
  });
});
