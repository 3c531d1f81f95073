/**
 * An async `authorize` or params schema that never settles (an outside check that hangs) has the
 * action's `actionTimeoutMs`, as `run` has: its request answers 500, the component instance takes
 * the next action, and its idempotency key stays claimed as for a timed-out action. Without it the
 * first request hung for ever and every later action on the instance queued behind it.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineComponent } from '../../src/core/component.js';
import { ActionTimeoutError } from '../../src/core/errors.js';
import { html } from '../../src/core/html.js';
import { createTestHarness, mountComponent, type TestHarness } from '../../src/testing/index.js';

/** The probe's component: `hangAuth` and `hangSchema` wait on a check that never answers. */
function hangingComponent() {
  const seen = { runs: 0, authSignals: [] as AbortSignal[] };
  const slowCheck = () => new Promise<boolean>(() => {});
  const definition = defineComponent({
    name: 'az',
    initialState: { n: 0 },
    publicState: ['n'],
    actions: {
      hangAuth: {
        authorize: (ctx) => {
          seen.authSignals.push(ctx.signal);
          return slowCheck();
        },
        run: (s) => (seen.runs++, s),
      },
      hangSchema: { params: z.object({ x: z.string().refine(async () => slowCheck()) }), run: (s) => (seen.runs++, s) },
      inc: { run: (s) => ({ n: s.n + 1 }) },
    },
    render: (s) => html`<p>${s.n}</p>`,
  });
  return { definition, seen };
}

async function call(h: TestHarness, id: string, action: string, params: Record<string, unknown>, key?: string) {
  const headers: Record<string, string> = { 'x-csrf-token': await h.runtime.csrf.issue(h.session) };
  if (key !== undefined) headers['idempotency-key'] = key;
  const res = await h.runtime.handleAction({ requestId: 'r', ip: '1.1.1.1', method: 'POST', url: '/', headers }, { component_id: id, action, params }, h.session);
  return { status: res.status, code: (res.body as { code?: string }).code, failure: res.failure };
}

describe('a hung authorize or params schema', () => {
  for (const action of ['hangAuth', 'hangSchema'] as const) {
    it(`${action}: 500 after actionTimeoutMs, the instance takes its next action, the key stays claimed`, async () => {
      const { definition, seen } = hangingComponent();
      const h = await createTestHarness([definition], { actionTimeoutMs: 300 });
      const m = await mountComponent(definition, undefined, { harness: h });

      const first = await call(h, m.id, action, { x: 'a' }, `k-${action}`);
      expect([first.status, first.code]).toEqual([500, 'INTERNAL_ERROR']);
      expect(first.failure).toBeInstanceOf(ActionTimeoutError);
      const step = action === 'hangAuth' ? 'authorize' : 'params schema';
      expect((first.failure as Error).message).toBe(
        `The ${step} of action az.${action} did not finish within 300 ms (actionTimeoutMs, shared by its params schema, authorize and run)`,
      );

      // The same instance is free: its next action runs, from the state before.
      const next = await call(h, m.id, 'inc', {});
      expect([next.status, next.failure]).toEqual([200, undefined]);
      expect(await h.fullState(m.id)).toEqual({ n: 1 });
      // As for a timed-out run: the step may still be running, so a retry with its key does not run.
      const retry = await call(h, m.id, action, { x: 'a' }, `k-${action}`);
      expect([retry.status, retry.code]).toEqual([409, 'IDEMPOTENCY_KEY_IN_USE']);
      expect(seen.runs).toBe(0);
    });
  }

  it("aborts the authorize rule's ctx.signal at the deadline, with the timeout as its reason", async () => {
    const { definition, seen } = hangingComponent();
    const h = await createTestHarness([definition], { actionTimeoutMs: 100 });
    const m = await mountComponent(definition, undefined, { harness: h });
    const res = await call(h, m.id, 'hangAuth', {});
    expect(res.status).toBe(500);
    expect(seen.authSignals).toHaveLength(1);
    expect([seen.authSignals[0]!.aborted, seen.authSignals[0]!.reason]).toEqual([true, res.failure]);
  });
});
