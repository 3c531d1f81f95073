/**
 * The deadline of an action's async steps (its params schema, `authorize`, `run`): one
 * `actionTimeoutMs` budget for all three (see `ActionComponentContext`). A step that has not settled
 * in time fails with `ActionTimeoutError` (500), whichever it is: a hung `authorize` or async schema
 * would otherwise hold the component instance for ever, every later action on it queued behind.
 * The idempotency stage keeps the key claimed, as for any timed-out step (it may still be running),
 * and `ctx.signal` is aborted so outside calls it was passed to stop too.
 */
import { withDeadline } from '../../core/deadline.js';
import { ActionTimeoutError } from '../../core/errors.js';
import type { ActionContext } from '../types.js';
import { ActionComponentContext } from './component-context.js';

/** What a step is called in the timeout's message. */
export type Step = 'params schema' | 'authorize' | 'run';

/**
 * Settles like `work` or fails once the action's budget is spent. `fallbackMs`: the limit when the
 * context keeps no budget (a stage's unit test builds a plain one); `undefined`, no limit then.
 */
export function settleInTime<T>(ctx: ActionContext, work: PromiseLike<T>, step: Step, fallbackMs?: number): Promise<T> {
  const cc = ctx.componentContext;
  const budget = cc instanceof ActionComponentContext;
  const ms = budget ? cc.remainingMs() : fallbackMs;
  if (ms === undefined) return Promise.resolve(work);
  // A promise, not a function for the deadline to call: the step was called first to learn whether
  // it is async at all (a synchronous step, the common case, costs no timer and no clock read), and
  // the budget starts at the first async step; a later step's synchronous part is spent from the
  // budget read just above.
  return withDeadline(Promise.resolve(work), ms, () => timedOut(ctx, step, budget ? cc.timeoutMs : ms));
}

function timedOut(ctx: ActionContext, step: Step, limitMs: number): ActionTimeoutError {
  const name = `${ctx.component.name}.${ctx.action.name}`;
  const what = step === 'run' ? `Action ${name}` : `The ${step} of action ${name}`;
  const error = new ActionTimeoutError(`${what} did not finish within ${limitMs} ms (actionTimeoutMs, shared by its params schema, authorize and run)`);
  if (ctx.componentContext instanceof ActionComponentContext) ctx.componentContext.abort(error);
  return error;
}
