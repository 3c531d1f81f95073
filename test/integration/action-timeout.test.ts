/**
 * `actionTimeoutMs`: an async action that hangs (an outside call without a timeout, say) answers
 * 500 once the limit passes, frees its component instance for the next action, stores nothing, and
 * keeps its idempotency key claimed, so a retry cannot run it a second time while it may still run.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { defineComponent, type ComponentContext } from '../../src/core/component.js';
import { ActionTimeoutError, type LiveError } from '../../src/core/errors.js';
import { html } from '../../src/core/html.js';
import { callAction, createTestHarness, mountComponent } from '../../src/testing/index.js';

/** Async `bump` waits until `release()` while `hanging` is set; `spin` blocks the thread `ms`. */
function slowComponent() {
  let spun = 0;
  const waiting: (() => void)[] = [];
  const control = {
    hanging: true,
    outcome: '',
    release: () => waiting.splice(0).forEach((resume) => resume()),
    spunMs: () => spun,
    /** How many `bump`s are hanging now. */
    hung: () => waiting.length,
  };
  const definition = defineComponent({
    name: 'slow',
    initialState: { n: 0 },
    publicState: ['n'],
    actions: {
      bump: {
        run: async (s: { n: number }) => {
          if (control.hanging) await new Promise<void>((resume) => waiting.push(resume));
          return { n: s.n + 1 };
        },
      },
      /** An outside call that honours `ctx.signal`, as `fetch` does; records how it ended. */
      call: {
        run: async (s: { n: number }, _params: unknown, ctx: ComponentContext) => {
          control.outcome = await new Promise<string>((resolve) => {
            ctx.signal.addEventListener('abort', () => resolve(`aborted: ${(ctx.signal.reason as Error).name}`), { once: true });
          });
          return { n: s.n + 10 };
        },
      },
      spin: {
        params: z.object({ ms: z.number() }),
        run: (s: { n: number }, { ms }) => {
          spun = performance.now();
          const until = spun + ms;
          while (performance.now() < until);
          spun = performance.now() - spun;
          return { n: s.n + 100 };
        },
      },
    },
    render: (s) => html`<p>${s.n}</p>`,
  });
  return { definition, control };
}

async function mounted(options: Parameters<typeof createTestHarness>[1]) {
  const { definition, control } = slowComponent();
  const harness = await createTestHarness([definition], options);
  const component = await mountComponent(definition, { n: 0 }, { harness, instance: 'main' });
  return { component, control, harness };
}

describe('action time limit', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers a hung action with 500 after the limit, frees the instance, and ignores its late result', async () => {
    const { component, control, harness } = await mounted({ actionTimeoutMs: 100 });
    // The limit on a fake clock, not timed (shared, noisy machines): pending 1 ms before it, refused at it.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    let settled = false;
    const call = callAction(component, 'bump')
      .catch((e: unknown) => e)
      .finally(() => (settled = true));
    while (control.hung() === 0) await new Promise((resolve) => setImmediate(resolve));
    await vi.advanceTimersByTimeAsync(99);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBe(true);
    vi.useRealTimers();
    const hung = await call;
    expect(hung).toBeInstanceOf(ActionTimeoutError);
    expect([(hung as LiveError).code, (hung as LiveError).statusCode, (hung as LiveError).publicMessage]).toEqual([
      'INTERNAL_ERROR',
      500,
      'Something went wrong on our side.',
    ]);
    // The next action on the same instance runs at once, from the state before the hung one.
    control.hanging = false;
    expect((await callAction(component, 'bump')).state).toEqual({ n: 1 });
    // The hung action finishes late: its state is not stored.
    control.release();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await harness.fullState(component.id)).toEqual({ n: 1 });
  });

  it('keeps the idempotency key of a timed-out action claimed: its retry gets 409, another key runs', async () => {
    const { component, control } = await mounted({ actionTimeoutMs: 100 });
    await expect(callAction(component, 'bump', {}, { idempotencyKey: 'order-1' })).rejects.toBeInstanceOf(ActionTimeoutError);
    control.hanging = false;
    await expect(callAction(component, 'bump', {}, { idempotencyKey: 'order-1' })).rejects.toMatchObject({
      code: 'IDEMPOTENCY_KEY_IN_USE',
      statusCode: 409,
    });
    expect((await callAction(component, 'bump', {}, { idempotencyKey: 'order-2' })).state).toEqual({ n: 1 });
    control.release();
  });

  it('aborts ctx.signal at the deadline, so an outside call the action passed it to stops too', async () => {
    const { component, control, harness } = await mounted({ actionTimeoutMs: 100 });
    await expect(callAction(component, 'call')).rejects.toBeInstanceOf(ActionTimeoutError);
    expect(control.outcome).toBe('aborted: ActionTimeoutError');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await harness.fullState(component.id)).toEqual({ n: 0 });
  });

  it('cannot interrupt a synchronous action: one slower than the limit still completes', async () => {
    const { component, control } = await mounted({ actionTimeoutMs: 50 });
    expect((await callAction(component, 'spin', { ms: 120 })).state).toEqual({ n: 100 });
    // It really ran past the limit (its params once went unread: no schema, so it got {} and spun 0 ms).
    expect(control.spunMs()).toBeGreaterThanOrEqual(120);
  });

  it('refuses a limit longer than a lock that must outlive the action, at start-up', async () => {
    const { definition } = slowComponent();
    const make = (options: Parameters<typeof createTestHarness>[1]) => createTestHarness([definition], options);
    await expect(make({ actionTimeoutMs: 20_000 })).rejects.toThrow(/actionTimeoutMs \(20000\) must not exceed instanceLock\.ttlMs \(10000\)/);
    await expect(make({ actionTimeoutMs: 8_000, idempotency: { lockTtlMs: 5_000 } })).rejects.toThrow(/must not exceed idempotency\.lockTtlMs \(5000\)/);
    // Unset, the limit follows the shorter lock.
    await expect(make({ idempotency: { lockTtlMs: 5_000 } })).resolves.toBeDefined();
    for (const actionTimeoutMs of [0, -1, 1.5]) await expect(make({ actionTimeoutMs })).rejects.toThrow(TypeError);
    // Raised together, or without the instance lock, a longer limit is fine.
    await expect(make({ actionTimeoutMs: 20_000, instanceLock: { ttlMs: 25_000 } })).resolves.toBeDefined();
    await expect(make({ actionTimeoutMs: 20_000, instanceLock: false })).resolves.toBeDefined();
  });
});
