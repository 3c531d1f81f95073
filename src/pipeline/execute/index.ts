/**
 * The last step: run the action on the loaded state, render the new state, and pick the public
 * fields. Rendering happens before anything is stored, so a render failure changes nothing.
 */
import { publicStateOf, type ComponentDefinition, type ComponentContext, type StateShape } from '../../core/component.js';
import { escapeHtml, type SafeHtml } from '../../core/html.js';
import { ATTR } from '../../core/wire.js';
import { ok, type ActionContext, type Outcome } from '../types.js';

export async function executeAction(ctx: ActionContext): Promise<Outcome> {
  let nextState = ctx.action.run(ctx.state, ctx.params, ctx.componentContext);
  if (nextState instanceof Promise) nextState = await nextState;
  if (typeof nextState !== 'object' || nextState === null || Array.isArray(nextState)) {
    // A bug in the component, not a client error: answered as 500 without detail.
    throw new TypeError(`Action ${ctx.component.name}.${ctx.action.name} must return the new state object`);
  }
  const state = nextState as StateShape;
  return ok({
    html: renderComponent(ctx.component, state, ctx.componentContext),
    state: publicStateOf(ctx.component, state),
    nextState: state,
  });
}

/** Renders an instance inside its root element `<div data-lc-id="…">`. */
export function renderComponent(def: ComponentDefinition, state: StateShape, cc: ComponentContext): string {
  const inner: SafeHtml = def.render(state as never, cc);
  return `<div ${ATTR.id}="${escapeHtml(cc.componentId)}">${inner.value}</div>`;
}
