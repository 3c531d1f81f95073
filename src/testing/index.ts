/**
 * `livecomponents/testing`: mount a component and call its actions in a Vitest test, through the
 * very pipeline HTTP requests take (CSRF, rate limit, idempotency, validation, authorization,
 * sealed state) — on an in-memory store with throwaway keys.
 *
 * @example
 * const counter = await mountComponent(counterDef, { count: 0 });
 * const next = await callAction(counter, 'increment');
 * expect(next.state.count).toBe(1);
 */
import { randomBytes } from 'node:crypto';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { ComponentDefinition, StateShape, User } from '../core/component.js';
import { LiveError } from '../core/errors.js';
import { parseComponentId } from '../core/registry.js';
import type { ActionSuccessBody, ErrorBody, IdempotencyMeta } from '../core/wire.js';
import { memorySecurityEvents, type SecurityEvent } from '../ops/security-events.js';
import type { LiveRuntime } from '../runtime/index.js';
import { createLiveComponents, type LiveComponentsOptions } from '../runtime/setup.js';
import type { Session } from '../session/types.js';
import { createMemoryStore } from '../store/memory/index.js';

/** A mounted instance, or the result of an action on it (which can be called again). */
export interface MountedComponent<S extends StateShape = StateShape, A = Record<string, StandardSchemaV1 | undefined>> {
  readonly id: string;
  readonly definition: ComponentDefinition<S, A>;
  /** Rendered root element. */
  readonly html: string;
  /** Public state, as the browser sees it. */
  readonly state: Partial<S>;
  /** Present when the call carried an idempotency key. */
  readonly idempotency?: IdempotencyMeta;
  readonly harness: TestHarness;
  /** The session it was mounted in (`harness.signIn` replaces the harness's session). */
  readonly session: Session;
}

export interface CallOptions {
  idempotencyKey?: string;
  /** Send this CSRF token instead of a valid one. */
  csrfToken?: string;
  /** Client IP for rate limiting. @default '127.0.0.1' */
  ip?: string;
  headers?: Record<string, string>;
}

export interface TestHarness {
  readonly runtime: LiveRuntime;
  readonly session: Session;
  /** Security events emitted so far. */
  readonly events: SecurityEvent[];
  /** The full (private included) state of an instance: for assertions only. */
  fullState(id: string): Promise<StateShape | undefined>;
  /**
   * Signs `user` in: the session is replaced, as a real sign-in replaces it, so mount the
   * components after signing in (an instance mounted before belongs to the old session).
   */
  signIn(user: User): Promise<void>;
  /**
   * A deploy of new code: a harness over the same store, keys, session and users, serving
   * `components` (say, a component whose state `version` was raised). The states this harness
   * stored are read by the new definitions, through their `migrate`, as after a real deploy.
   * @example
   * const before = await createTestHarness([todoV1]);
   * await mountComponent(todoV1, { items: ['milk'] }, { harness: before, instance: 'main' });
   * const after = await before.redeploy([todoV2]);
   * const todo = await mountComponent(todoV2, undefined, { harness: after, instance: 'main' }); // migrated
   */
  redeploy(components: readonly ComponentDefinition[]): Promise<TestHarness>;
}

/** An action without a schema receives `{}` whatever is sent: params for it are a mistake, refused here. */
type ParamsInput<P> = P extends StandardSchemaV1 ? StandardSchemaV1.InferInput<P> : Record<string, never> | undefined;

/**
 * `callAction`'s arguments after the action's name. The params may be left out (they are sent as `{}`)
 * only when `{}` is a valid input: for `{ by: number }` leaving them out would compile and then fail
 * the schema with `VALIDATION_FAILED`, while `callAction(c, 'add', {})` did not compile.
 */
type CallArgs<P> =
  Record<never, never> extends ParamsInput<P> ? [params?: ParamsInput<P>, options?: CallOptions] : [params: ParamsInput<P>, options?: CallOptions];

/** Builds a harness around one session; `mountComponent` makes one for you when none is given. */
export async function createTestHarness(
  components: readonly ComponentDefinition[],
  options: Partial<LiveComponentsOptions> = {},
): Promise<TestHarness> {
  // Chosen here, not by createLiveComponents, so that `redeploy` can hand them to the next harness.
  const shared: Partial<LiveComponentsOptions> = {
    stateKeys: randomBytes(32).toString('base64'),
    sessionSecret: randomBytes(32).toString('base64'),
    ...options,
    store: options.store ?? createMemoryStore({ clock: options.clock }),
  };
  return harnessOf(components, shared, new Map(), null);
}

async function harnessOf(
  components: readonly ComponentDefinition[],
  options: Partial<LiveComponentsOptions>,
  users: Map<string, User>,
  existing: Session | null,
): Promise<TestHarness> {
  const recorder = memorySecurityEvents();
  const runtime = await createLiveComponents({
    components,
    appOrigin: 'http://localhost',
    resolveUser: async (id) => users.get(id) ?? null,
    ...options,
    // `harness.events` sees every event, and so does a sink of the caller's own.
    events: options.events === undefined ? recorder : { emit: (event) => (recorder.emit(event), options.events!.emit(event)) },
  });
  let session = existing ?? (await runtime.sessions.create());
  return {
    runtime,
    get session() {
      return session;
    },
    events: recorder.events,
    async fullState(id) {
      const loaded = await runtime.states.load(session, id);
      return loaded.type === 'found' ? loaded.state : undefined;
    },
    async signIn(user) {
      users.set(user.id, user);
      session = await runtime.sessions.regenerate(session, user.id);
    },
    redeploy: (next) => harnessOf(next, options, users, session),
  };
}

/**
 * Mounts `definition` as `<name>:<instance>`, the fields of `initialState` over the definition's (as
 * `view.mount` does; a field the definition lacks is refused).
 * @param options.instance @default 'test'
 */
export async function mountComponent<S extends StateShape, A>(
  definition: ComponentDefinition<S, A>,
  initialState?: Partial<S>,
  options: { instance?: string; harness?: TestHarness } = {},
): Promise<MountedComponent<S, A>> {
  const harness = options.harness ?? (await createTestHarness([definition as unknown as ComponentDefinition]));
  const id = `${definition.name}:${options.instance ?? 'test'}`;
  if (harness.runtime.registry.get(definition.name) !== definition) {
    throw new TypeError(`Component "${definition.name}" is not among the components given to createTestHarness: add it to its list`);
  }
  if (parseComponentId(id) === null) {
    throw new TypeError(`Invalid instance ${JSON.stringify(options.instance)}: 1 to 64 letters, digits, "_" or "-"`);
  }
  // Mounting finds an instance already there: its state, not this `initialState`, would be what the
  // test goes on with (a harness shared across tests).
  if (initialState !== undefined && Object.keys(initialState).length > 0 && (await harness.runtime.states.load(harness.session, id)).type === 'found') {
    throw new TypeError(`"${id}" is already mounted in this harness, so initialState would be ignored: pass another instance, or a new harness`);
  }
  // Merged over the definition's initialState by the runtime, as `view.mount` does in production.
  const html = await harness.runtime.mount(harness.session, id, initialState as StateShape | undefined);
  const loaded = await harness.runtime.states.load(harness.session, id);
  const publicState = loaded.type === 'found' ? pick(definition, loaded.state) : {};
  return { id, definition, html, state: publicState as Partial<S>, harness, session: harness.session };
}

/**
 * Calls `action` with `params` through the whole pipeline, the params sent as JSON (a `Date` arrives as
 * its ISO string, as from a real client). Resolves the new html and public state;
 * rejects with the `LiveError` the HTTP route would have answered (its `code`, `statusCode`, fields),
 * except that an exception behind a 5xx (the action's own bug, a timeout) is rethrown as it is: HTTP
 * answers it as 500 `INTERNAL_ERROR`, whatever `statusCode` it carries.
 */
export async function callAction<S extends StateShape, A, K extends keyof A & string>(
  component: MountedComponent<S, A>,
  action: K,
  ...[params, options = {}]: CallArgs<A[K]>
): Promise<MountedComponent<S, A>> {
  const { harness } = component;
  const token = options.csrfToken ?? (await harness.runtime.csrf.issue(harness.session));
  // Header names as Node gives them to the pipeline: lower case (`Origin` would be ignored, not checked).
  const headers: Record<string, string> = { 'x-csrf-token': token };
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
  if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
  const res = await harness.runtime.handleAction(
    { requestId: `test-${Math.random().toString(36).slice(2)}`, ip: options.ip ?? '127.0.0.1', method: 'POST', url: '/api/livecomponents/action', headers },
    { component_id: component.id, action, params: params ?? {} },
    harness.session,
  );
  if (res.failure !== undefined) throw res.failure;
  if (res.status !== 200) {
    const body = res.body as ErrorBody;
    const { error, code, request_id: _r, csrf_token: _t, ...fields } = body;
    // The usual cause in a test: an instance mounted before `harness.signIn`, which replaced the session.
    const hint = code === 'COMPONENT_NOT_FOUND' && component.session !== harness.session ? ' (it was mounted before harness.signIn replaced the session: mount it again)' : '';
    throw new LiveError(code as LiveError['code'], { message: `${error}${hint}`, fields, headers: res.headers });
  }
  const body = res.body as ActionSuccessBody;
  return { ...component, html: body.html, state: body.state as Partial<S>, idempotency: body.idempotency };
}

function pick(def: { publicState: readonly string[] }, state: StateShape): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of def.publicState) out[f] = state[f];
  return out;
}
