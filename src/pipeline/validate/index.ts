/**
 * The validate stage: params through the action's Standard Schema (zod, valibot, arktype…).
 * Failures answer 400 `VALIDATION_FAILED` with `errors: { field: [messages] }`.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { LiveError } from '../../core/errors.js';
import { fail, type ActionContext, type Next, type Outcome, type Stage } from '../types.js';
import { isThenable } from '../../core/thenable.js';
import { settleInTime } from '../execute/deadline.js';

/** Key used in `errors` for issues about the params object as a whole. */
export const ROOT_FIELD = '_';

export function createValidateStage(): Stage {
  return {
    name: 'validate',
    // Not `async`: an action without params awaits nothing here (STYLE §3).
    run(ctx, next) {
      const schema = ctx.action.params;
      if (schema === undefined) {
        ctx.params = {};
        return next(ctx);
      }
      return validateParams(schema, ctx, next);
    },
  };
}

async function validateParams(schema: StandardSchemaV1, ctx: ActionContext, next: Next): Promise<Outcome> {
  let result: unknown = schema['~standard'].validate(ctx.body.params);
  // Any thenable (another realm's promise): read as the result itself it has no issues, and would pass.
  // An async schema (a zod `refine(async …)` calling out) gets the action's deadline: hung, it would
  // hold the component instance for ever.
  if (isThenable(result)) result = await settleInTime(ctx, result, 'params schema');
  if (!isSchemaResult(result)) throw new TypeError(`${ctx.component.name}.${ctx.action.name}: the params schema's validate() returned neither issues nor a value`);
  if (result.issues !== undefined) {
    return fail(new LiveError('VALIDATION_FAILED', { fields: { errors: fieldErrors(result.issues) } }));
  }
  ctx.params = result.value;
  return next(ctx);
}

/** A Standard Schema result: `{ issues }` (a failure) or an own `value` (a success). */
function isSchemaResult(result: unknown): result is StandardSchemaV1.Result<unknown> {
  if (typeof result !== 'object' || result === null) return false;
  return (result as { issues?: unknown }).issues !== undefined ? Array.isArray((result as { issues: unknown }).issues) : Object.hasOwn(result, 'value');
}

/** Groups Standard Schema issues by dotted field path. */
export function fieldErrors(issues: readonly StandardSchemaV1.Issue[]): Record<string, string[]> {
  const errors: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const issue of issues) {
    const field = issue.path?.length ? issue.path.map((p) => String(typeof p === 'object' ? p.key : p)).join('.') : ROOT_FIELD;
    (errors[field] ??= []).push(issue.message);
  }
  return { ...errors };
}
