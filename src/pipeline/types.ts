/**
 * The action pipeline: an ordered list of stages built once at start-up (see `pipeline.ts`).
 * Each stage gets the context and `next`, and returns an `Outcome`: expected failures are
 * values (`{ type: 'error' }`), `throw` is for bugs and broken infrastructure only.
 */
import type { ComponentContext, ComponentDefinition, ResolvedAction, StateShape, User } from '../core/component.js';
import type { LiveError } from '../core/errors.js';
import type { IdempotencyMeta } from '../core/wire.js';
import type { Session } from '../session/types.js';

/** Facts about the HTTP request that stages may use. */
export interface RequestInfo {
  readonly requestId: string;
  /** Client IP as resolved under the `TRUST_PROXY` setting. */
  readonly ip: string;
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** The parsed action body (already checked for shape by the HTTP layer). */
export interface ActionBody {
  readonly componentId: string;
  readonly action: string;
  /** Raw params as sent (a plain object). */
  readonly params: Readonly<Record<string, unknown>>;
  /** `_csrf_token` body field, if sent. */
  readonly csrfToken: string | undefined;
  /** `idempotency_key` body field, if sent. */
  readonly idempotencyKey: string | undefined;
}

export interface ActionContext {
  readonly request: RequestInfo;
  readonly body: ActionBody;
  readonly session: Session;
  readonly user: User | null;
  readonly component: ComponentDefinition;
  readonly action: ResolvedAction;
  /** What the action, `authorize` and `render` see. */
  readonly componentContext: ComponentContext;
  /** Params after validation (the schema's output); set by the validate stage. */
  params: unknown;
  /** The instance's current state; set by the state stage before `authorize` and `execute`. */
  state: StateShape | undefined;
  /** Response headers stages add (rate-limit fields, `Idempotent-Replayed`…). */
  readonly headers: Record<string, string>;
}

/** A successful action, before the fresh CSRF token is added. */
export interface ActionResult {
  html: string;
  state: Record<string, unknown>;
  idempotency?: IdempotencyMeta;
  /** New full state, for the state stage to persist (never sent to the client). */
  nextState?: StateShape;
}

export type Outcome = { readonly type: 'ok'; readonly result: ActionResult } | { readonly type: 'error'; readonly error: LiveError };

/**
 * Calls the rest of the pipeline. It takes the context as an argument so the chain of stages is
 * composed once at start-up, with no closure created per request.
 */
export type Next = (ctx: ActionContext) => Promise<Outcome>;

export interface Stage {
  /** Stage name for logs and metrics. */
  readonly name: string;
  run(ctx: ActionContext, next: Next): Promise<Outcome>;
}

export function ok(result: ActionResult): Outcome {
  return { type: 'ok', result };
}

export function fail(error: LiveError): Outcome {
  return { type: 'error', error };
}
