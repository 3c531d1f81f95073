/**
 * Checks the shape of an action request body (PROTOCOL §3) before any stage runs. Anything that
 * is not the documented shape answers 400 `INVALID_REQUEST`, naming the field.
 */
import { LiveError } from '../core/errors.js';
import { BODY } from '../core/wire.js';
import type { ActionBody } from '../pipeline/types.js';

/**
 * Deepest nesting accepted in a body, the envelope object included (`{"params":{}}` is 2 levels):
 * deeper input is refused before schemas or hashing recurse. The JSON body parser (json-body.ts)
 * applies the same bound to the text before parsing it, so a hostile body never gets parsed.
 */
export const MAX_BODY_DEPTH = 32;

/** The refusal's sentence, the same whether the parser's pre-scan or `parseActionBody` finds it. */
export function tooDeepMessage(max: number): string {
  return `The body is nested deeper than ${max} levels.`;
}

export function parseActionBody(body: unknown): ActionBody | LiveError {
  if (!isPlainObject(body)) return invalid('The body must be a JSON object.');
  if (depthExceeds(body, MAX_BODY_DEPTH)) return invalid(tooDeepMessage(MAX_BODY_DEPTH));
  const componentId = body[BODY.componentId];
  const action = body[BODY.action];
  const params = body[BODY.params];
  const csrfToken = body[BODY.csrfToken];
  const idempotencyKey = body[BODY.idempotencyKey];
  if (typeof componentId !== 'string' || componentId === '') return invalid(`"${BODY.componentId}" must be a non-empty string.`);
  if (typeof action !== 'string' || action === '') return invalid(`"${BODY.action}" must be a non-empty string.`);
  if (params !== undefined && params !== null && !isPlainObject(params)) return invalid(`"${BODY.params}" must be an object.`);
  if (csrfToken !== undefined && typeof csrfToken !== 'string') return invalid(`"${BODY.csrfToken}" must be a string.`);
  if (idempotencyKey !== undefined && typeof idempotencyKey !== 'string') {
    return new LiveError('IDEMPOTENCY_KEY_INVALID', { message: `"${BODY.idempotencyKey}" must be a string.` });
  }
  return {
    componentId,
    action,
    params: (params ?? {}) as Record<string, unknown>,
    csrfToken,
    idempotencyKey,
  };
}

function invalid(message: string): LiveError {
  return new LiveError('INVALID_REQUEST', { message });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Iterative, so hostile nesting cannot overflow the stack here. */
export function depthExceeds(root: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (typeof value !== 'object' || value === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(value)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
