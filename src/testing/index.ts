/**
 * `livecomponents/testing`: mount a component and call its actions in a Vitest test, through the
 * very pipeline HTTP requests take (CSRF, rate limit, idempotency, validation, authorization,
 * sealed state, the action route's body limit) — on an in-memory store with throwaway keys. What it
 * resolves is what a client receives: the answer's JSON, parsed.
 *
 * @example
 * const counter = await mountComponent(counterDef, { count: 0 });
 * const next = await callAction(counter, 'increment');
 * expect(next.state.count).toBe(1);
 */
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { publicStateOf, type ComponentDefinition, type StateShape, type User } from '../core/component.js';
import { LiveError } from '../core/errors.js';
import { parseComponentId } from '../core/registry.js';
import { BODY, type ActionSuccessBody, type ErrorBody, type IdempotencyMeta } from '../core/wire.js';
import { serializeActionBody } from '../http/action-json.js';
import { actionBodyLimitOf } from '../http/plugin.js';
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
  /** Sent as the `Idempotency-Key` header; a string (anything else is a `TypeError`). */
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
  /** Largest action body `callAction` sends, in bytes, as the plugin's `actionBodyLimit`. */
  readonly actionBodyLimit: number;
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

/** `createTestHarness`'s options: `createLiveComponents`' (all optional), and the plugin's body limit. */
export interface TestHarnessOptions extends Partial<LiveComponentsOptions> {
  /**
   * Largest action body accepted, in bytes, as the plugin's `actionBodyLimit` (give the same value):
   * `callAction` with a larger body rejects with 413 `PAYLOAD_TOO_LARGE`, as the route answers it,
   * before any stage runs. A positive integer.
   * @default ACTION_BODY_LIMIT (1 MiB, PROTOCOL §3)
   */
  actionBodyLimit?: number;
}

/** Builds a harness around one session; `mountComponent` makes one for you when none is given. */
export async function createTestHarness(components: readonly ComponentDefinition[], options: TestHarnessOptions = {}): Promise<TestHarness> {
  const { actionBodyLimit, ...runtimeOptions } = options;
  // Chosen here, not by createLiveComponents, so that `redeploy` can hand them to the next harness.
  const shared: Partial<LiveComponentsOptions> = {
    stateKeys: randomBytes(32).toString('base64'),
    sessionSecret: randomBytes(32).toString('base64'),
    ...runtimeOptions,
    store: options.store ?? createMemoryStore({ clock: options.clock }),
  };
  return harnessOf(components, shared, actionBodyLimitOf(actionBodyLimit, 'createTestHarness'), new Map(), null);
}

async function harnessOf(
  components: readonly ComponentDefinition[],
  options: Partial<LiveComponentsOptions>,
  actionBodyLimit: number,
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
    actionBodyLimit,
    events: recorder.events,
    async fullState(id) {
      const loaded = await runtime.states.load(session, id);
      return loaded.type === 'found' ? loaded.state : undefined;
    },
    async signIn(user) {
      users.set(user.id, user);
      session = await runtime.sessions.regenerate(session, user.id);
    },
    redeploy: (next) => harnessOf(next, options, actionBodyLimit, users, session),
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
  const served = harness.runtime.registry.get(definition.name);
  if (served === undefined) {
    throw new TypeError(`Component "${definition.name}" is not among the components given to createTestHarness: add it to its list`);
  }
  if (served !== definition) {
    throw new TypeError(
      `This harness serves another definition named "${definition.name}" than the one given (a factory called twice, or the definition from before a redeploy): pass mountComponent the very object given to createTestHarness (or to redeploy)`,
    );
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
  // As JSON gives it: a public field the state lacks is absent, not `undefined` (as after an action).
  const publicState = loaded.type === 'found' ? asReceived(publicStateOf(definition, loaded.state)) : {};
  return { id, definition, html, state: publicState as Partial<S>, harness, session: harness.session };
}

/**
 * Calls `action` with `params` through the whole pipeline, the params sent as JSON (a `Date` arrives as
 * its ISO string, as from a real client). Resolves the new html and public state as a client receives
 * them (the answer's JSON, parsed: `-0` is `0`, a field set to `undefined` is absent). Rejects with the
 * `LiveError` the HTTP route would have answered (its `code`, `statusCode`, fields) — 413
 * `PAYLOAD_TOO_LARGE` for a body over the harness's `actionBodyLimit`, before any stage runs —
 * except that an exception behind a 5xx (the action's own bug, a timeout) is rethrown as it is: HTTP
 * answers it as 500 `INTERNAL_ERROR`, whatever `statusCode` it carries.
 */
export async function callAction<S extends StateShape, A, K extends keyof A & string>(
  component: MountedComponent<S, A>,
  action: K,
  ...[params, options = {}]: CallArgs<A[K]>
): Promise<MountedComponent<S, A>> {
  const { harness } = component;
  const key: unknown = options.idempotencyKey;
  // A number would reach the pipeline as a header that is not one string, and be refused as a repeated header.
  if (key !== undefined && typeof key !== 'string') throw new TypeError(`callAction: idempotencyKey must be a string, got ${typeof key}`);
  const body = { [BODY.componentId]: component.id, [BODY.action]: action, [BODY.params]: params ?? {} };
  // The route's limit applies before anything else is read or checked: no CSRF token is issued here.
  if (overLimit(body, harness.actionBodyLimit)) throw new LiveError('PAYLOAD_TOO_LARGE');
  const token = options.csrfToken ?? (await harness.runtime.csrf.issue(harness.session));
  // Header names as Node gives them to the pipeline: lower case (`Origin` would be ignored, not checked).
  const headers: Record<string, string> = { 'x-csrf-token': token };
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
  if (key !== undefined) headers['idempotency-key'] = key;
  const res = await harness.runtime.handleAction(
    { requestId: `test-${Math.random().toString(36).slice(2)}`, ip: options.ip ?? '127.0.0.1', method: 'POST', url: '/api/livecomponents/action', headers },
    body,
    harness.session,
  );
  if (res.failure !== undefined) throw res.failure;
  // The route's own serializer, then parsed: the answer as a client reads it.
  const answer = JSON.parse(serializeActionBody(res.body)) as unknown;
  if (res.status !== 200) {
    const { error, code, request_id: _r, csrf_token: _t, ...fields } = answer as ErrorBody;
    throw new LiveError(code as LiveError['code'], { message: `${error}${hintFor(code, component, action)}`, fields, headers: res.headers });
  }
  const success = answer as ActionSuccessBody;
  return { ...component, html: success.html, state: success.state as Partial<S>, idempotency: success.idempotency };
}

/** What the harness adds to a refusal's sentence: the cause a test most likely has. */
function hintFor(code: string, component: MountedComponent<StateShape, unknown>, action: string): string {
  const { harness } = component;
  // An instance mounted before `harness.signIn`, which replaced the session.
  if (code === 'COMPONENT_NOT_FOUND' && component.session !== harness.session) return ' (it was mounted before harness.signIn replaced the session: mount it again)';
  if (code !== 'ACTION_NOT_FOUND') return '';
  // A JS caller, or a cast past `callAction`'s types: name what was asked and what there is.
  const name = component.definition.name;
  const actions = [...(harness.runtime.registry.get(name)?.actions.keys() ?? [])];
  const list = actions.length === 0 ? 'it has none' : `its actions: ${actions.map((a) => JSON.stringify(a)).join(', ')}`;
  return ` ("${name}" has no action ${JSON.stringify(action)}; ${list})`;
}

/**
 * Whether `body` is over `limit` bytes as the route counts it: Fastify refuses a request whose body is
 * longer than the limit (413), counting the bytes of the JSON text the browser runtime sends, which is
 * exactly `JSON.stringify` of this object (client/transport.ts; the idempotency key goes in a header).
 * A body with no JSON text (a cycle, a BigInt) is left to the pipeline, which refuses it as a client
 * could never send it.
 */
function overLimit(body: Record<string, unknown>, limit: number): boolean {
  let text: string | undefined;
  try {
    text = JSON.stringify(body) as string | undefined;
  } catch {
    return false;
  }
  return text !== undefined && Buffer.byteLength(text, 'utf8') > limit;
}

/** `value` as a client receives it: its JSON text, parsed. */
function asReceived(value: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}
