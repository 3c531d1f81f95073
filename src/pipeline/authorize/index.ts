/**
 * The authorize stage: the action's own rule. A refusal answers 401 `UNAUTHENTICATED` when the
 * session is signed out (signing in may help) and 403 `FORBIDDEN` when it is signed in.
 */
import { LiveError } from '../../core/errors.js';
import type { SecurityEventSink } from '../../ops/security-events.js';
import type { ResolvedAction } from '../../core/component.js';
import { fail, type ActionContext, type Next, type Outcome, type Stage } from '../types.js';

export function createAuthorizeStage(options: { events: SecurityEventSink }): Stage {
  const { events } = options;
  async function checkRule(rule: NonNullable<ResolvedAction['authorize']>, ctx: ActionContext, next: Next): Promise<Outcome> {
    if (await rule(ctx.componentContext, ctx.state, ctx.params)) return next(ctx);
    if (ctx.user === null) return fail(new LiveError('UNAUTHENTICATED'));
    events.emit({
      event: 'authz_fail',
      level: 'WARN',
      description: `User ${ctx.user.id} was refused ${ctx.component.name}.${ctx.action.name}`,
      request: ctx.request,
    });
    return fail(new LiveError('FORBIDDEN'));
  }

  return {
    name: 'authorize',
    // Not `async`: an action without a rule awaits nothing here (STYLE §3).
    run(ctx, next) {
      const rule = ctx.action.authorize;
      return rule === undefined ? next(ctx) : checkRule(rule, ctx, next);
    },
  };
}
