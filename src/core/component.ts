/**
 * Defining a component: a name, a typed initial state, the state fields that may leave the server,
 * actions whose params are checked by a Standard Schema, and `render(state)`.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { positiveSeconds, rateLimitCount, rateLimitSeconds } from '../pipeline/options.js';
import type { SafeHtml } from './html.js';
import { isPlainObject, jsonStateProblem } from './json-state.js';

/** The signed-in user as components see it (`ctx.user`). */
export interface User {
  readonly id: string;
  readonly email: string;
  readonly name: string | null;
}

export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/**
 * Component state: JSON data, checked at run time (`jsonStateProblem`: a `Date`, `Set`, class
 * instance… is refused where it is defined, mounted or returned by an action). Not in the type: a
 * conditional type over `S` cannot be satisfied by a type parameter, and would refuse every generic
 * component factory (`function listOf<T extends StateShape>(initialState: T)`).
 */
export type StateShape = Record<string, unknown>;

/** What an action, its `authorize` rule and `render` see of the request. */
export interface ComponentContext {
  /** The signed-in user, or `null` for an anonymous session. */
  readonly user: User | null;
  /** Full instance id, for example `counter:main`. */
  readonly componentId: string;
  /** The part after the colon, for example `main`. */
  readonly instance: string;
  /**
   * Aborted when the action runs past the runtime's `actionTimeoutMs` (its request has then been
   * answered 500): pass it on to outside calls (`fetch(url, { signal: ctx.signal })`) so they stop
   * too. Also aborted when an async `authorize` runs past that limit (the params schema, `authorize` and
   * the action share it). Never aborted in `render`.
   */
  readonly signal: AbortSignal;
}

/** The signal of a context no deadline applies to (rendering on mount, the auth routes' limits). */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

/** Per-action security options (PROTOCOL §2; enforced by the pipeline stages). */
export interface ActionOptions {
  /**
   * Requests admitted per client per window.
   * @default 60
   */
  rateLimit?: number;
  /**
   * Window of `rateLimit`, in seconds.
   * @default 60
   */
  rateLimitWindow?: number;
  /**
   * Limit for signed-out clients (same window); defaults to `rateLimit`.
   */
  anonymousLimit?: number;
  /**
   * `gcra` (token bucket, O(1) state) or `sliding-window` (exact: never more than `rateLimit` in any
   * trailing window).
   * @default 'gcra'
   */
  rateLimitAlgorithm?: 'gcra' | 'sliding-window';
  /**
   * Seconds a completed result stays replayable for the same idempotency key.
   * @default 3600
   */
  idempotencyTTL?: number;
  /**
   * Refuse the call (400 `IDEMPOTENCY_KEY_REQUIRED`) when no idempotency key is sent.
   * @default false
   */
  requireIdempotencyKey?: boolean;
}

/** What `run` and `authorize` get: the schema's output, or `{}` (typed `Record<string, never>`) without one. */
type ParamsOf<P> = P extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<P> : Record<string, never>;

/**
 * The schema inferred for one action: nothing is inferred (`unknown`) for an action without `params`,
 * which means no schema. Without this mapping, that `unknown` failed `defineComponent`'s constraint and
 * TypeScript fell back to `Record<string, StandardSchemaV1 | undefined>` for every action: params
 * typed `unknown` inside `run`, and any action name accepted by `callAction`.
 */
type SchemaOf<P> = P extends StandardSchemaV1 ? P : undefined;

export interface ActionDefinition<S extends StateShape, P extends StandardSchemaV1 | undefined> extends ActionOptions {
  /** Schema of the params (any Standard Schema library: zod, valibot, arktype…). Omitted: no params. */
  params?: P;
  /**
   * Who may call this action. Returning `false` answers 401 `UNAUTHENTICATED` when the session is
   * signed out and 403 `FORBIDDEN` when it is signed in.
   * @example authorize: (ctx) => ctx.user !== null
   */
  authorize?: (ctx: ComponentContext, state: DeepReadonly<S>, params: ParamsOf<P>) => boolean | Promise<boolean>;
  /** Returns the new state; never mutates the one it gets. */
  run: (state: DeepReadonly<S>, params: ParamsOf<P>, ctx: ComponentContext) => S | Promise<S>;
}

/**
 * `A` maps each action name to its `params` schema, or to `undefined` (or `unknown`, as inferred for
 * an action without `params`) when it has none.
 */
export interface ComponentSpec<S extends StateShape, A extends Record<string, unknown>> {
  /** Lower-case name used in ids (`counter` in `counter:main`). */
  name: string;
  /** State of a newly mounted instance (copied for each mount). */
  initialState: S;
  /** State fields sent to the browser; every other field stays on the server. */
  publicState: readonly (keyof S & string)[];
  /** Each action's params are typed from its own schema; `params` may be omitted (no params). */
  actions: { [K in keyof A]: ActionDefinition<S, SchemaOf<A[K]>> };
  /** The component's inner HTML; the framework wraps it in the `data-lc-id` root element. */
  render: (state: DeepReadonly<S>, ctx: ComponentContext) => SafeHtml;
  /**
   * The version of the state's shape, an integer from 1. Raise it in the deploy that changes the
   * shape, and give `migrate`: each instance's stored state carries the version it was written with.
   * @default 1
   */
  version?: number;
  /**
   * Turns a stored state of ANY earlier `version` (`fromVersion`, from 1 up) into the current shape,
   * in one call: a visitor away since version 1 comes back at version 3 with a version-1 state, so
   * apply every step from `fromVersion` on (`if (from < 2) s = v1to2(s); if (from < 3) s = v2to3(s)`).
   * Called when a page view or an action reads such a state, before `authorize`, the action and
   * `render` see it; the result is stored with the current version. It may run more than once for one
   * instance (concurrent readers), so it must be synchronous, pure and deterministic (no random ids).
   * Required when `version` > 1.
   * @example migrate: (old, from) => ({ entries: (old as { items: string[] }).items })
   */
  migrate?: (state: unknown, fromVersion: number) => S;
}

/** An action as the pipeline sees it: looked up in a `Map`, so only declared actions exist. */
export interface ResolvedAction extends ActionOptions {
  readonly name: string;
  readonly params: StandardSchemaV1 | undefined;
  readonly authorize: ((ctx: ComponentContext, state: unknown, params: unknown) => boolean | Promise<boolean>) | undefined;
  readonly run: (state: unknown, params: unknown, ctx: ComponentContext) => unknown;
}

export interface ComponentDefinition<S extends StateShape = StateShape, A = Record<string, StandardSchemaV1 | undefined>> {
  /** Type-only: the action param schemas, so test helpers can type `callAction` params. */
  readonly '~actions'?: A;
  readonly name: string;
  readonly initialState: S;
  readonly publicState: readonly string[];
  readonly actions: ReadonlyMap<string, ResolvedAction>;
  /** The state's shape version (`ComponentSpec.version`); absent means 1. */
  readonly version?: number;
  /** Present when `version` > 1 (`ComponentSpec.migrate`). */
  readonly migrate?: (state: unknown, fromVersion: number) => S;
  // Method syntax on purpose: it keeps definitions of any state assignable to `ComponentDefinition`.
  render(state: DeepReadonly<S>, ctx: ComponentContext): SafeHtml;
}

export const COMPONENT_NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;
export const INSTANCE_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** `INSTANCE_RE` in words, for the errors that refuse an id (docs/components.md, "Instance ids"). */
export const INSTANCE_RULE = 'an instance id is 1 to 64 ASCII letters, digits, "_" or "-"';
const ACTION_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * @example
 * const counter = defineComponent({
 *   name: 'counter',
 *   initialState: { count: 0 },
 *   publicState: ['count'],
 *   actions: { increment: { run: (s) => ({ count: s.count + 1 }) } },
 *   render: (s) => html`<button data-lc-action="increment">${s.count}</button>`,
 * });
 */
export function defineComponent<S extends StateShape, A extends Record<string, unknown>, K extends string = Extract<keyof A, string>>(
  // `K`, the action names, is inferred from the actions object's keys on their own: when no action
  // has a schema and a `run` names its params, TypeScript infers nothing for `A` (it falls back to
  // `Record<string, unknown>`), and the names would be lost with it. The schemas: `A[N]`, `unknown`
  // (no schema) in that case.
  spec: ComponentSpec<S, A> & { actions: Record<K, unknown> },
): ComponentDefinition<S, { [N in K]: SchemaOf<A[N]> }> {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('defineComponent takes an object: { name, initialState, publicState, actions, render }');
  if (typeof spec.name !== 'string' || !COMPONENT_NAME_RE.test(spec.name)) {
    throw new TypeError(`Component name ${JSON.stringify(spec.name) ?? String(spec.name)} must be a string matching ${COMPONENT_NAME_RE}`);
  }
  if (!isPlainObject(spec.initialState)) {
    throw new TypeError(`Component "${spec.name}": initialState must be a plain object (the state of a new instance), got ${kindOf(spec.initialState)}`);
  }
  if (!Array.isArray(spec.publicState) || !spec.publicState.every((field) => typeof field === 'string')) {
    throw new TypeError(`Component "${spec.name}": publicState must be an array of initialState's field names (\`[]\` for none), got ${kindOf(spec.publicState)}`);
  }
  for (const field of spec.publicState) {
    if (!Object.hasOwn(spec.initialState, field)) {
      throw new TypeError(`Component "${spec.name}": public field "${field}" is not in initialState`);
    }
  }
  const stateProblem = jsonStateProblem(spec.initialState);
  if (stateProblem !== null) throw new TypeError(`Component "${spec.name}": initialState must be JSON (it is stored as JSON): ${stateProblem}`);
  if (typeof spec.render !== 'function') throw new TypeError(`Component "${spec.name}": render must be a function`);
  const version = spec.version ?? 1;
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new TypeError(`Component "${spec.name}": version must be an integer from 1 (the version of its state's shape), got ${typeof version === 'number' ? version : kindOf(version)}`);
  }
  if (spec.migrate !== undefined && typeof spec.migrate !== 'function') throw new TypeError(`Component "${spec.name}": migrate must be a function`);
  // Without it, every state stored by an earlier version would fail on every page view and action.
  if (version > 1 && spec.migrate === undefined) {
    throw new TypeError(`Component "${spec.name}": version ${version} needs migrate(state, fromVersion), which turns a state stored by an earlier version into the current shape`);
  }
  const actions = new Map<string, ResolvedAction>();
  for (const [name, def] of actionEntries(spec.name, spec.actions) as [string, ActionDefinition<S, StandardSchemaV1 | undefined>][]) {
    if (!ACTION_NAME_RE.test(name)) throw new TypeError(`Component "${spec.name}": action name "${name}" is not allowed`);
    // Checked here rather than found out by every call (a 500 each), or ignored (a key required by "yes").
    const where = `Component "${spec.name}", action "${name}"`;
    if (typeof def !== 'object' || def === null) throw new TypeError(`${where} must be an object { run, params?, authorize?, … }, got ${kindOf(def)}`);
    if (typeof def.run !== 'function') throw new TypeError(`Component "${spec.name}": action "${name}" has no run()`);
    if (def.params !== undefined && typeof (def.params as Partial<StandardSchemaV1> | null)?.['~standard']?.validate !== 'function') {
      throw new TypeError(`${where}: params must be a Standard Schema (zod, valibot, arktype…)`);
    }
    if (def.authorize !== undefined && typeof def.authorize !== 'function') throw new TypeError(`${where}: authorize must be a function`);
    if (def.rateLimitAlgorithm !== undefined && def.rateLimitAlgorithm !== 'gcra' && def.rateLimitAlgorithm !== 'sliding-window') {
      throw new TypeError(`${where}: rateLimitAlgorithm must be 'gcra' or 'sliding-window'`);
    }
    if (def.requireIdempotencyKey !== undefined && typeof def.requireIdempotencyKey !== 'boolean') {
      throw new TypeError(`${where}: requireIdempotencyKey must be true or false`);
    }
    // The bounds every store accepts (src/store/checks.ts), checked here: the stage would refuse a
    // larger policy only per request, a 500 on every call of the action.
    if (def.rateLimit !== undefined) rateLimitCount(where, 'rateLimit', def.rateLimit);
    if (def.rateLimitWindow !== undefined) rateLimitSeconds(where, 'rateLimitWindow', def.rateLimitWindow);
    if (def.anonymousLimit !== undefined) rateLimitCount(where, 'anonymousLimit', def.anonymousLimit);
    if (def.idempotencyTTL !== undefined) positiveSeconds(where, 'idempotencyTTL', def.idempotencyTTL);
    actions.set(
      name,
      Object.freeze({
        name,
        params: def.params,
        authorize: def.authorize as ResolvedAction['authorize'],
        run: def.run as ResolvedAction['run'],
        rateLimit: def.rateLimit,
        rateLimitWindow: def.rateLimitWindow,
        anonymousLimit: def.anonymousLimit,
        rateLimitAlgorithm: def.rateLimitAlgorithm,
        idempotencyTTL: def.idempotencyTTL,
        requireIdempotencyKey: def.requireIdempotencyKey,
      }),
    );
  }
  return Object.freeze({
    name: spec.name,
    initialState: spec.initialState,
    publicState: Object.freeze([...spec.publicState]),
    actions,
    render: spec.render,
    version,
    ...(spec.migrate === undefined ? {} : { migrate: spec.migrate }),
  });
}

/**
 * The actions of a spec, each an own enumerable string key of a plain object. Anything else would be
 * dropped without a word by `Object.entries`: an action named `__proto__` in an object literal (it
 * sets the prototype instead), actions inherited through `Object.create`, symbol or non-enumerable keys.
 */
function actionEntries(component: string, actions: unknown): [string, unknown][] {
  if (!isPlainObject(actions)) {
    const kind = kindOf(actions);
    const hint = kind === 'an object with another prototype' ? ` (its prototype is not Object.prototype: an action named "__proto__" in an object literal sets the prototype, and inherited actions are not read)` : '';
    throw new TypeError(`Component "${component}": actions must be a plain object of actions ({} for none), got ${kind}${hint}`);
  }
  const entries = Object.entries(actions);
  const hidden = Reflect.ownKeys(actions).find((key) => typeof key === 'symbol' || !Object.prototype.propertyIsEnumerable.call(actions, key));
  if (hidden !== undefined) throw new TypeError(`Component "${component}": action ${String(hidden)} is a symbol or non-enumerable key: actions are the object's own enumerable string keys`);
  return entries;
}

/** What a wrong value is, for an error message. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value !== 'object') return typeof value;
  if (isPlainObject(value)) return 'an object';
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== '' && name !== 'Object' ? `a ${name}` : 'an object with another prototype';
}

/** Picks the fields a component declared public. */
export function publicStateOf(def: Pick<ComponentDefinition, 'publicState'>, state: StateShape): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of def.publicState) out[field] = state[field];
  return out;
}
