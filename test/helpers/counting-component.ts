/** Test helper: the one-action component the store and idempotency tests count runs of. */
import { defineComponent, type ComponentDefinition } from '../../src/core/component.js';
import { html } from '../../src/core/html.js';

/**
 * A component `name` with the public state `{ n }` and one action `action`, which calls `before()`
 * (the test's hook: count the run, hold it, let time pass) and then adds one. The action stays
 * synchronous when `before` is: a hook that returns no promise adds no wait of its own.
 */
export function countingComponent(name: string, action: string, before: () => void | Promise<void>): ComponentDefinition {
  const next = (s: { n: number }) => ({ n: s.n + 1 });
  const run = (s: { n: number }) => {
    const waiting = before();
    return waiting instanceof Promise ? waiting.then(() => next(s)) : next(s);
  };
  const render = (s: { readonly n: number }) => html`<b>${s.n}</b>`;
  return defineComponent({ name, initialState: { n: 0 }, publicState: ['n'], actions: { [action]: { run } }, render }) as unknown as ComponentDefinition;
}
