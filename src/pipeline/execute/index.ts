/**
 * The last step: run the action on the loaded state, render the new state, and pick the public
 * fields. Rendering happens before anything is stored, so a render failure changes nothing.
 *
 * An async action that has not settled after `timeoutMs` (what its params schema and `authorize`
 * left of it: one budget, `./deadline.ts`) fails with `ActionTimeoutError` (500): its
 * request is answered, and the component instance it held (the in-process queue, the instance lock)
 * is free for the next action, instead of waiting for ever behind, say, an outside call that hangs.
 * Its state is not stored, and the idempotency stage keeps its key claimed, so a retry cannot run it
 * a second time while it may still be running; `ctx.signal` is aborted, so outside calls it was passed
 * to stop too. A synchronous action cannot be interrupted.
 */
import { publicStateOf, type ComponentDefinition, type ComponentContext, type StateShape } from '../../core/component.js';
import { escapeHtml, isSafeHtml, type SafeHtml } from '../../core/html.js';
import { jsonStateProblem } from '../../core/json-state.js';
import { isThenable } from '../../core/thenable.js';
import { ATTR } from '../../core/wire.js';
import { settleInTime } from './deadline.js';
import { ok, type ActionContext, type Outcome } from '../types.js';

export interface ExecutorOptions {
  /**
   * Longest time an async action may take, in ms, as `actionTimeoutOf` (src/runtime/stages.ts) checked
   * it; for a context without a budget of its own (`ActionComponentContext` carries the runtime's).
   */
  timeoutMs: number;
}

export function createExecutor(options: ExecutorOptions): (ctx: ActionContext) => Promise<Outcome> {
  const { timeoutMs } = options;
  return (ctx) => executeAction(ctx, timeoutMs);
}

async function executeAction(ctx: ActionContext, timeoutMs: number): Promise<Outcome> {
  let nextState: unknown = ctx.action.run(ctx.state, ctx.params, ctx.componentContext);
  // Only a promise needs a timer: the common synchronous action costs nothing more. Any thenable
  // counts (another realm's promise, a promise library's): taken as the state itself, it would be
  // stored as `{}`.
  if (isThenable(nextState)) nextState = await settleInTime(ctx, nextState, 'run', timeoutMs);
  if (typeof nextState !== 'object' || nextState === null || Array.isArray(nextState)) {
    // A bug in the component, not a client error: answered as 500 without detail.
    throw new TypeError(`Action ${ctx.component.name}.${ctx.action.name} must return the new state object (got ${returned(nextState)})`);
  }
  // Checked before anything is stored: JSON would change it without a word (a Date into a string).
  const problem = jsonStateProblem(nextState);
  if (problem !== null) throw new TypeError(`Action ${ctx.component.name}.${ctx.action.name} returned a state JSON cannot keep: ${problem}`);
  const state = nextState as StateShape;
  return ok({
    html: renderComponent(ctx.component, state, ctx.componentContext),
    state: publicStateOf(ctx.component, state),
    nextState: state,
  });
}

/** What a component function returned instead, and the likely slip: for its error message. */
function returned(value: unknown): string {
  if (value === undefined) return 'undefined: a forgotten `return`?';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (isThenable(value)) return 'a promise';
  return typeof value;
}

/** The end of render's error message: what it returned, then what to do for the usual slips. */
function renderHint(value: unknown): string {
  if (typeof value === 'string') return "string): tag the template literal with html, imported from 'livecomponents'";
  if (isThenable(value)) {
    return 'a promise): render is synchronous; load what it shows in an action and keep it in the state';
  }
  return `${returned(value)})`;
}

/** Renders an instance inside its root element `<div data-lc-id="…">`. */
export function renderComponent(def: ComponentDefinition, state: StateShape, cc: ComponentContext): string {
  const inner: SafeHtml = def.render(state as never, cc);
  // A plain string (the html tag forgotten) would render as "undefined"; a look-alike object as trusted markup.
  if (!isSafeHtml(inner)) throw new TypeError(`${def.name}.render must return html\`…\` (got ${renderHint(inner)}`);
  return `<div ${ATTR.id}="${escapeHtml(cc.componentId)}">${inner.value}</div>`;
}
