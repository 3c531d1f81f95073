/**
 * The validate stage: params through the action's Standard Schema (zod, valibot, arktype…).
 * Failures answer 400 `VALIDATION_FAILED` with `errors: { field: [messages] }`.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { LiveError } from '../../core/errors.js';
import { fail, type ActionContext, type Next, type Outcome, type Stage } from '../types.js';

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
  let result = schema['~standard'].validate(ctx.body.params);
  if (result instanceof Promise) result = await result;
  if (result.issues !== undefined) {
    return fail(new LiveError('VALIDATION_FAILED', { fields: { errors: fieldErrors(result.issues) } }));
  }
  ctx.params = result.value;
  return next(ctx);
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
