/**
 * The authorize stage: the action's own rule. A refusal answers 401 `UNAUTHENTICATED` when the
 * session is signed out (signing in may help) and 403 `FORBIDDEN` when it is signed in. An async rule
 * shares the action's `actionTimeoutMs` budget (src/pipeline/execute/deadline.ts), and `ctx.signal`
 * is aborted when it runs past it. A rule that returns anything but a boolean is refused as a bug
 * (500, logged), never taken as a yes.
 */
import { LiveError } from '../../core/errors.js';
import type { SecurityEventSink } from '../../ops/security-events.js';
import type { ResolvedAction } from '../../core/component.js';
import { isThenable } from '../../core/thenable.js';
import { settleInTime } from '../execute/deadline.js';
import { fail, type ActionContext, type Next, type Outcome, type Stage } from '../types.js';

export function createAuthorizeStage(options: { events: SecurityEventSink }): Stage {
  const { events } = options;
  async function checkRule(rule: NonNullable<ResolvedAction['authorize']>, ctx: ActionContext, next: Next): Promise<Outcome> {
    let verdict: unknown = rule(ctx.componentContext, ctx.state, ctx.params);
    // An async rule gets the action's deadline (an outside check that hangs would hold the component
    // instance for ever); a synchronous one no timer. Any thenable: taken as the verdict, it would pass.
    if (isThenable(verdict)) verdict = await settleInTime(ctx, verdict, 'authorize');
    if (verdict === true) return next(ctx);
    // Anything but a boolean is a bug in the rule: 'false' or { ok: false } let the action run, and a
    // forgotten `return` (undefined) answered a bare 401 that nobody saw. Refused as a logged 500.
    if (verdict !== false) {
      const got = verdict === null ? 'null' : typeof verdict;
      throw new TypeError(`${ctx.component.name}.${ctx.action.name}: authorize must return true or false (or a promise of one), got ${got}; the action was refused`);
    }
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
