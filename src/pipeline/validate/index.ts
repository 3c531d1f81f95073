/**
 * The validate stage: params through the action's Standard Schema (zod, valibot, arktype…).
 * Failures answer 400 `VALIDATION_FAILED` with `errors: { field: [messages] }`, within caps on its
 * size (`fieldErrors`): what a client's bad params draw back is bounded, however many issues they raise.
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

/**
 * Caps on a `VALIDATION_FAILED` answer built from a schema's issues. A schema reports an issue per bad
 * element: 20 KB of `{"tags":[1,1,…]}` (under `MAX_BODY_VALUES`) drew about 10,000 issues, a 0.6 to
 * 1.3 MB answer and up to 100 ms of CPU to build and encode it. A form shows a few messages per field;
 * past these caps the answer says how many problems it left out, under `_`. This one: most fields.
 */
export const MAX_ERROR_FIELDS = 100;
/** Most messages kept for one field. */
export const MAX_FIELD_MESSAGES = 10;
/** Longest message kept whole (some libraries quote the value they refused); longer ones end in "…". */
export const MAX_MESSAGE_CHARS = 500;
/** Longest field name kept whole (a record's keys are the client's own); longer ones end in "…". */
export const MAX_FIELD_NAME_CHARS = 200;
/** Most characters of field names and messages in one answer, all fields together. */
export const MAX_ERRORS_CHARS = 20_000;

/**
 * Groups Standard Schema issues by dotted field path, within the caps above. It stops at the first issue
 * that would pass the number of fields or of characters: those after it are not even looked at, only
 * counted in the closing "…and N more problems" under `_` (`ROOT_FIELD`), which comes on top of the caps.
 */
export function fieldErrors(issues: readonly StandardSchemaV1.Issue[]): Record<string, string[]> {
  const errors: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  let fields = 0;
  let chars = 0;
  let shown = 0;
  for (const issue of issues) {
    const field = cut(fieldOf(issue), MAX_FIELD_NAME_CHARS);
    const messages = errors[field];
    if (messages === undefined && fields === MAX_ERROR_FIELDS) break;
    if (messages !== undefined && messages.length === MAX_FIELD_MESSAGES) continue;
    const message = cut(String(issue.message), MAX_MESSAGE_CHARS);
    chars += message.length + (messages === undefined ? field.length : 0);
    if (chars > MAX_ERRORS_CHARS) break;
    if (messages === undefined) {
      errors[field] = [message];
      fields++;
    } else messages.push(message);
    shown++;
  }
  const left = issues.length - shown;
  if (left > 0) (errors[ROOT_FIELD] ??= []).push(`…and ${left} more ${left === 1 ? 'problem' : 'problems'}`);
  return { ...errors };
}

function fieldOf(issue: StandardSchemaV1.Issue): string {
  const path = issue.path;
  return path?.length ? path.map((p) => String(typeof p === 'object' ? p.key : p)).join('.') : ROOT_FIELD;
}

/** `text` cut to `max` characters, the last one "…"; a surrogate pair is never split. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  if (isHighSurrogate(text.charCodeAt(end - 1))) end--;
  return `${text.slice(0, end)}…`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
