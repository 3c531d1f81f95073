/**
 * The action pipeline: an ordered list of stages built once at start-up (see `pipeline.ts`).
 * Each stage gets the context and `next`, and returns an `Outcome`: expected failures are
 * values (`{ type: 'error' }`), `throw` is for bugs and broken infrastructure only.
 */
import type { ComponentContext, ComponentDefinition, ResolvedAction, StateShape, User } from '../core/component.js';
import type { LiveError } from '../core/errors.js';
import type { IdempotencyMeta } from '../core/wire.js';
import type { Session } from '../session/types.js';
import type { StoreOp, StoreOpResult } from '../store/types.js';

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
  /**
   * Set by the CSRF stage once the request's token verified: from then on every answer, a failure
   * too, hands the page a fresh token (strict mode has just used up the one it sent).
   */
  csrfVerified: boolean;
  /**
   * The CSRF token the answer carries, when a stage placed it already (strict mode: the claim in the
   * after-action batch won); else the runtime issues one. Set only once `csrfVerified`.
   */
  csrfToken?: string;
  /**
   * Results of the ops stages prepared (see `Stage.prepare`), fetched together in one store round
   * trip; `null` when no prefetch ran (a stage then calls the store itself).
   */
  prefetched?: Map<Stage, StoreOpResult> | null;
  /**
   * Writes flushed together in one round trip after the action (new state, idempotency record).
   * `null` when no prefetch ran: a stage then writes directly.
   */
  deferred?: StoreOp[] | null;
  /**
   * Deferred ops whose result a stage needs (see `deferWithResult`), each with the function that is
   * told that result once the after-action batch has been sent.
   */
  deferredResults?: Map<StoreOp, DeferredDone>;
  /**
   * What a stage worked out for this request and needs again later (the idempotency claim, with its
   * random lock, is made in `prepare` and used in `run`), keyed by stage. Created by the first stage
   * that keeps something; it goes with the request, where a WeakMap keyed by the context would cost
   * the garbage collector an entry per request.
   */
  stageData?: Map<Stage, unknown>;
  /**
   * Claims that must last until the action ends, registered by the stage holding them (the
   * idempotency claim). A stage that makes the request wait (the instance lock, while another
   * process holds it) renews them before letting it go on: the wait may outlast their TTL, and a
   * retry could then claim the key and run the action a second time.
   */
  heldClaims?: HeldClaim[];
}

/** A claimed store key (`value` is this request's own) and what to answer when it was lost. */
export interface HeldClaim {
  readonly key: string;
  readonly value: string;
  readonly ttlMs: number;
  /** The refusal when another request holds the key by the time it is renewed. */
  readonly lost: () => LiveError;
}

/** What an action's context starts from; the fields stages fill in later start empty. */
export type ActionContextInit = Pick<ActionContext, 'request' | 'body' | 'session' | 'user' | 'component' | 'action' | 'componentContext'>;

/**
 * A new context for one request: the runtime's and the auth routes' (which run the rate-limit stage
 * alone). Every field is set here, those stages fill in later too, so all contexts share one shape.
 */
export function createActionContext(init: ActionContextInit): ActionContext {
  return {
    request: init.request,
    body: init.body,
    session: init.session,
    user: init.user,
    component: init.component,
    action: init.action,
    componentContext: init.componentContext,
    params: undefined,
    state: undefined,
    headers: {},
    csrfVerified: false,
    csrfToken: undefined,
    prefetched: null,
    deferred: null,
    deferredResults: undefined,
    stageData: undefined,
  };
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

/** A store op a stage needs before it runs, and how to take it back if the stage never runs. */
export interface PreparedOp {
  readonly op: StoreOp;
  /** Flushed after the action when the pipeline stopped before this stage (e.g. release a claim). */
  readonly undo?: StoreOp;
}

/**
 * Told the result of a deferred op (see `deferWithResult`): the op's result, or `undefined` when the
 * after-action batch failed (the op may or may not have run). Called exactly once per op queued; it
 * must not throw. Made once with its stage, not per request.
 */
export type DeferredDone = (ctx: ActionContext, result: StoreOpResult | undefined) => void;

export interface Stage {
  /** Stage name for logs and metrics. */
  readonly name: string;
  /**
   * The store op this stage will need, known before any stage runs. The prefetch stage gathers the
   * ops of every later stage and sends them in ONE round trip (ARCHITECTURE: at most two per action).
   */
  prepare?(ctx: ActionContext): PreparedOp | null;
  run(ctx: ActionContext, next: Next): Promise<Outcome>;
}

export function ok(result: ActionResult): Outcome {
  return { type: 'ok', result };
}

export function fail(error: LiveError): Outcome {
  return { type: 'error', error };
}

/** The result prefetched for `stage`, removed from the context (what is left had no stage run it). */
export function takePrefetched(ctx: ActionContext, stage: Stage): StoreOpResult | undefined {
  const map = ctx.prefetched;
  if (map == null) return undefined;
  const result = map.get(stage);
  map.delete(stage);
  return result;
}

/**
 * What `stage` works out once per request and needs again later (in `prepare`, then in `run`):
 * `make(ctx)` the first time, the same value after. `make` must not return `undefined`; pass a
 * function made once with the stage, not a closure per call (this is on every action's path).
 */
export function stageValue<T>(ctx: ActionContext, stage: Stage, make: (ctx: ActionContext) => T): T {
  const data = (ctx.stageData ??= new Map());
  let value = data.get(stage) as T | undefined;
  if (value === undefined) {
    value = make(ctx);
    data.set(stage, value);
  }
  return value;
}

/**
 * Queues `op` for the after-action batch (`ctx.deferred`), and `done` is told its result once that
 * batch has been sent (the prefetch stage calls it, after the batch and before it answers). Returns
 * `false`, queuing nothing, when no prefetch runs: the stage then calls the store itself.
 */
export function deferWithResult(ctx: ActionContext, op: StoreOp, done: DeferredDone): boolean {
  const deferred = ctx.deferred;
  if (deferred == null) return false;
  deferred.push(op);
  (ctx.deferredResults ??= new Map()).set(op, done);
  return true;
}
