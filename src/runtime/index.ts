/**
 * The runtime: everything an app needs to serve components, built once at start-up — registry,
 * sessions, sealed state, the ordered security pipeline. The Fastify plugin (`src/http`) and the
 * testing helpers (`src/testing`) both drive this one object, so tests run the same pipeline as HTTP.
 */
import { INSTANCE_RULE, NEVER_ABORTED, type ComponentContext, type ComponentDefinition, type User } from '../core/component.js';
import { type Clock, systemClock } from '../core/clock.js';
import { LiveError, isLiveError, messageOf } from '../core/errors.js';
import { isPlainObject, jsonStateProblem } from '../core/json-state.js';
import { listFirst } from '../core/list-first.js';
import { createRegistry, parseComponentId, type ComponentRegistry } from '../core/registry.js';
import type { ActionSuccessBody, ErrorBody } from '../core/wire.js';
import type { SecurityEventSink } from '../ops/security-events.js';
import { oneAtATime } from './one-at-a-time.js';
import { composePipeline, type Pipeline } from '../pipeline/pipeline.js';
import { createExecutor, renderComponent } from '../pipeline/execute/index.js';
import { ActionComponentContext } from '../pipeline/execute/component-context.js';
import { migrateState, stateVersionOf } from '../pipeline/state/migrate.js';
import { createStateRepository, DEFAULT_MAX_STATE_BYTES, type StateRepository, type StateSealer } from '../pipeline/state/repository.js';
import { createActionContext, type ActionBody, type Outcome, type RequestInfo } from '../pipeline/types.js';
import { createSessionManager, type SessionManager } from '../session/index.js';
import type { Session } from '../session/types.js';
import type { Store } from '../store/types.js';
import { parseActionBody } from './action-body.js';
import { actionTimeoutOf, buildStages, csrfOriginsOf, type SecurityOptions } from './stages.js';
import { createNewSessionLimiter } from '../pipeline/rate-limit/new-sessions.js';
import { trustedOrigins as normalisedOrigins, type CsrfService } from '../pipeline/csrf/index.js';
import { checkSource } from '../pipeline/csrf/origins.js';
import { guardOptionalObserver } from '../ops/observer-guard.js';

export interface RuntimeOptions extends SecurityOptions {
  components: readonly ComponentDefinition[];
  store: Store;
  /** Seals component state at rest. */
  sealer: StateSealer;
  /** Issues and verifies CSRF tokens. */
  csrf: CsrfService;
  events: SecurityEventSink;
  clock?: Clock;
  /** Session idle lifetime in ms, a whole number from 1000 (1 s) to 100 years (refused at start-up otherwise). @default 86_400_000 */
  sessionTtlMs?: number;
  /** Largest state one instance may store (its JSON, UTF-8 bytes); see `StateRepositoryOptions`. @default 1 MiB */
  maxStateBytes?: number;
  /** Looks up the signed-in user of a session. @default no users (every session is anonymous) */
  resolveUser?: (userId: string) => Promise<User | null>;
  /** Told about every action that reached a known component action (metrics). Must not throw. */
  onActionDone?: (report: ActionReport) => void;
  /**
   * Told about failures of store work done after the answer or outside any request: the after-action
   * batch of a refused action, the take-back of a refused first batch, and a background retry of
   * their lock and claim releases that gave up (src/pipeline/prefetch). A throw (or a rejected
   * promise) from it is swallowed: it never reaches a request.
   * @default console.error
   */
  onBackgroundError?: (error: unknown) => void;
}

/** One finished action, for metrics: `outcome` is `ok` or the error code. */
export interface ActionReport {
  component: string;
  action: string;
  outcome: 'ok' | string;
  durationMs: number;
}

/** A response the HTTP layer (or a test helper) sends as it is. */
export interface RuntimeResponse<B = ActionSuccessBody | ErrorBody> {
  status: number;
  body: B;
  headers: Record<string, string>;
  /**
   * The error behind a 5xx answer (a component's bug, an action past its time limit, a store that
   * is down), which the answer does not show: the HTTP layer logs it, the testing helpers rethrow it.
   */
  failure?: unknown;
}

export interface HandleActionOptions {
  /**
   * `body` is what the action route's JSON parser produced (src/http/json-body.ts), which refused a
   * text nested deeper than `MAX_BODY_DEPTH` or holding more than `MAX_BODY_VALUES` values before
   * parsing it: not checked again. Otherwise `body` is encoded as JSON and checked the same way.
   * @default false
   */
  bodyScanned?: boolean;
}

export interface LiveRuntime {
  readonly registry: ComponentRegistry;
  readonly sessions: SessionManager;
  readonly states: StateRepository;
  readonly csrf: CsrfService;
  readonly store: Store;
  readonly events: SecurityEventSink;
  /**
   * The exact `Origin` values the action route's CSRF stage trusts: `appOrigin` and `allowedOrigins`,
   * normalised (`scheme://host[:port]`, lower case, default port dropped), resolved once at start-up.
   * Form handlers check against the same set (`app.livecomponents.verifyForm`).
   * @example new Set(['https://app.example.com', 'https://admin.example.com'])
   */
  readonly trustedOrigins: ReadonlySet<string>;
  /**
   * Runs one action request through the whole pipeline. `session` is what the cookie claims
   * (`sessions.fromCookie`); the pipeline verifies it against the store in its first round trip.
   */
  handleAction(request: RequestInfo, body: unknown, session: Session | null, options?: HandleActionOptions): Promise<RuntimeResponse>;
  /**
   * The CSRF stage's source check alone (`Sec-Fetch-Site: cross-site`, an `Origin` not trusted), for
   * an action request that names no action: its 403 `CSRF_TOKEN_INVALID`, with the stage's
   * `malicious_csrf` event, or `null` when the source passes (the pipeline checks the rest). The
   * plugin calls it for a body that is not JSON (a form, `text/plain`: what a browser posts
   * cross-site without asking) before reading it, and for a JSON body the parser refuses (400, 413,
   * 415); `handleAction` for JSON that is no action. Answered first, those got the parser's status
   * and no CSRF event.
   */
  refuseForeignSource(request: RequestInfo): RuntimeResponse<ErrorBody> | null;
  /**
   * Mounts (or finds) an instance in a session and renders it. `initialState`: fields over the
   * component's `initialState` (only its fields), for an instance not mounted yet. `user` is the session's user when the
   * caller has it already (a page view looks it up once for all its components); else looked up.
   * `request`: the page request, for the security event when the stored state fails verification
   * (its source IP, user agent and URI); page views pass it.
   */
  mount(session: Session, componentId: string, initialState?: Record<string, unknown>, user?: User | null, request?: RequestInfo): Promise<string>;
  /** Renders an instance in its initial state (`initialState` as for `mount`) without storing anything (a page view without a stored session). */
  renderInitial(componentId: string, initialState?: Record<string, unknown>): string;
  userOf(session: Session): Promise<User | null>;
  /**
   * A new stored session for the signed-out client of `request` (a page view without one), within
   * `newSessionLimit`: one step of its budget and the session's write in ONE store round trip,
   * the write guarded by the step (`setIfAllowed`: stored only when admitted), so a refused client
   * stores nothing. Two round trips on a store that cannot guard it (Redis Cluster; a store that
   * refuses the guarded batch with a `TypeError` or does not confirm the write) or with
   * `rateLimit.failOpen`; one, the write, without a step (limit off, allowlisted or loopback
   * client). Refused: `session` is `null` and `error` the 429 `RATE_LIMIT_EXCEEDED` to answer, with
   * `Retry-After` and the rate-limit fields in its `headers` (`excess_rate_limit_exceeded` was logged). Resolves once the
   * session is stored; rejects only when the store fails (and not `rateLimit.failOpen`).
   */
  startSession(request: RequestInfo): Promise<StartedSession>;
  /**
   * Stops the runtime's background work: the retries of lock and claim releases a failed batch left
   * (their timers never keep the process alive anyway), and, for a runtime `createLiveComponents`
   * made without `events`, the close of the security logger it made (its pending flood summaries
   * written, docs/logging.md). It does not close the store: whoever opened
   * it closes it, after this. Idempotent. Called by whoever made the runtime (never by the Fastify
   * plugin: one runtime may serve several apps).
   */
  close(): void;
}

/** What `startSession` resolves: the new session, stored, or the 429 refusing it (nothing stored). */
export type StartedSession = { readonly session: Session; readonly error: null } | { readonly session: null; readonly error: LiveError };

/** How many registered names an "Unknown component" message lists. */
const LISTED_NAMES = 20;

/** What a request refused before its body was read is taken to name: nothing. */
const UNREAD_BODY: ActionBody = Object.freeze({ componentId: '', action: '', params: Object.freeze({}), csrfToken: undefined, idempotencyKey: undefined });

export function createRuntime(options: RuntimeOptions): LiveRuntime {
  const clock = options.clock ?? systemClock;
  const registry = createRegistry(options.components);
  const sessions = createSessionManager({ store: options.store, clock, ttlMs: options.sessionTtlMs });
  const states = createStateRepository({ store: options.store, sealer: options.sealer, ttlMs: sessions.ttlMs, maxStateBytes: options.maxStateBytes });
  refuseOversizedInitialStates(options.components, options.maxStateBytes ?? DEFAULT_MAX_STATE_BYTES);
  const { csrf, events, resolveUser } = options;
  // An observer (metrics): a throw or a rejected promise from it never becomes the answer of an action
  // that already ran and stored its state; reported at most once a minute (guardObserver).
  const onActionDone = guardOptionalObserver('onActionDone', options.onActionDone);
  const origins = csrfOriginsOf(options);
  const trustedOrigins = normalisedOrigins(origins.appOrigin, origins.allowed ?? []);
  // Aborted by `close()`: the prefetch stage's background retries stop.
  const closing = new AbortController();
  const onBackgroundError = swallowing(options.onBackgroundError ?? ((error) => console.error('livecomponents background store work failed', error)));
  const { stages, csrfScreen, rateLimit } = buildStages({ ...options, clock, states, sessions, onBackgroundError, signal: closing.signal });
  const actionTimeoutMs = actionTimeoutOf(options);
  const pipeline: Pipeline = composePipeline(stages, createExecutor({ timeoutMs: actionTimeoutMs }));
  const serialized = oneAtATime();
  const newSessionStep = createNewSessionLimiter({
    limit: options.newSessionLimit,
    allowlist: options.rateLimit?.allowlist,
    ipv6PrefixLength: options.rateLimit?.ipv6PrefixLength,
    failOpen: options.rateLimit?.failOpen,
    onFailOpen: options.rateLimit?.onFailOpen,
    store: options.store,
    events,
    clock,
  });

  async function startSession(request: RequestInfo): Promise<StartedSession> {
    const { session, write } = sessions.prepare();
    const admission = await newSessionStep(request, write);
    return admission.allowed ? { session, error: null } : { session: null, error: admission.error };
  }

  async function userOf(session: Session): Promise<User | null> {
    return session.userId !== null && resolveUser !== undefined ? resolveUser(session.userId) : null;
  }

  function refuseForeignSource(request: RequestInfo): RuntimeResponse<ErrorBody> | null {
    if (checkSource(request.headers, trustedOrigins) === null) return null;
    // The stage's own check, so the event and its description are the stage's: the source comes first there.
    const refused = csrfScreen({ request, body: UNREAD_BODY, session: sessions.ephemeral() });
    return errorResponse(refused?.type === 'error' ? refused.error : new LiveError('CSRF_TOKEN_INVALID'), request.requestId, {});
  }

  async function handleAction(request: RequestInfo, rawBody: unknown, maybeSession: Session | null, opts?: HandleActionOptions): Promise<RuntimeResponse> {
    const body = parseActionBody(rawBody, opts?.bodyScanned === true);
    // No action named, so no token checked (it may be in the body); but a source the CSRF stage
    // refuses is refused whatever the body (PROTOCOL §3: CSRF first): 403 and its `malicious_csrf`.
    if (body instanceof LiveError) return refuseForeignSource(request) ?? errorResponse(body, request.requestId, {});
    // Without a session no token can verify: an ephemeral session lets the CSRF checks refuse it.
    const session = maybeSession ?? sessions.ephemeral();
    const id = parseComponentId(body.componentId);
    const component = id === null ? undefined : registry.get(id.name);
    const action = component?.actions.get(body.action);
    if (id === null || component === undefined || action === undefined) {
      // CSRF is the first check (PROTOCOL §3), an unknown name included: a cross-site request or a
      // bad token is a 403 and a `malicious_csrf` event whatever it names. Nothing else runs.
      const refused = csrfScreen({ request, body, session });
      const error = refused?.type === 'error' ? refused.error : new LiveError(component === undefined ? 'COMPONENT_NOT_FOUND' : 'ACTION_NOT_FOUND');
      return errorResponse(error, request.requestId, {});
    }
    // Awaited only when there is a user to look up: an anonymous session goes on at once.
    const user = session.userId !== null && resolveUser !== undefined ? await resolveUser(session.userId) : null;
    const componentContext = new ActionComponentContext(user, body.componentId, id.instance, actionTimeoutMs);
    const ctx = createActionContext({ request, body, session, user, component, action, componentContext });
    const started = onActionDone === undefined ? 0 : performance.now();
    let outcome: Outcome;
    let failure: unknown;
    try {
      // Without a cookie the CSRF stage refuses at once: nothing to order.
      outcome = await (maybeSession === null ? pipeline(ctx) : serialized(`${session.key}\u0000${body.componentId}`, () => pipeline(ctx)));
    } catch (error) {
      // An action may throw a LiveError on purpose (e.g. VALIDATION_FAILED that depends on state).
      if (isLiveError(error) && error.statusCode < 500) outcome = { type: 'error', error };
      else {
        // A bug, a timeout, a store outage: answered without detail, logged by the caller. Only our
        // own errors pick the status: an outside library's error may carry a `statusCode` (a payment
        // SDK's 402 for a declined card) that says nothing about this request.
        failure = error === undefined ? new Error('The action threw undefined') : error;
        outcome = { type: 'error', error: isLiveError(error) ? error : new LiveError('INTERNAL_ERROR', { cause: error }) };
      }
    }
    const code = outcome.type === 'ok' ? 'ok' : outcome.error.code;
    onActionDone?.({ component: component.name, action: action.name, outcome: code, durationMs: performance.now() - started });
    if (outcome.type === 'error') {
      // Every answer for a known action carries its rate-limit fields (PROTOCOL §3), a refusal before
      // the rate-limit step too (CSRF, a session that is gone, strict mode's spent token): the step its
      // batch took, else a read-only peek that charges nothing. Not after a store failure (503): no
      // numbers can be known, and another call would only wait on a store that just failed.
      if (outcome.error.code !== 'SERVICE_UNAVAILABLE') await rateLimit.headersBeforeStep(ctx);
      const res: RuntimeResponse<ErrorBody> = errorResponse(outcome.error, request.requestId, ctx.headers);
      if (failure !== undefined) res.failure = failure;
      // Once its token verified, a refused or failed action still hands the page a usable token
      // (strict mode used up the one it sent); a request whose token did not verify gets none.
      if (ctx.csrfVerified) {
        try {
          res.body.csrf_token = ctx.csrfToken ?? (await csrf.issue(session));
        } catch {
          // The store is failing (strict mode keeps tokens there): the answer goes without one.
        }
      }
      return res;
    }
    const { html, state, idempotency } = outcome.result;
    const success: ActionSuccessBody = { html, state, csrf_token: ctx.csrfToken ?? (await csrf.issue(session)) };
    if (idempotency !== undefined) success.idempotency = idempotency;
    return { status: 200, body: success, headers: ctx.headers };
  }

  /**
   * The component and a fresh copy of its initial state, with the fields of `initialState` over it
   * (as `mountComponent` of livecomponents/testing does: one behaviour in tests and in production);
   * throws for an unknown id, and for a field the component's `initialState` does not have (a typo,
   * or a field that would reach `render` and actions that never expect it).
   */
  function initialOf(componentId: string, initialState?: Record<string, unknown>) {
    const id = parseComponentId(componentId);
    const component = id === null ? undefined : registry.get(id.name);
    if (id === null || component === undefined) throw new TypeError(unknownIdMessage(componentId));
    if (initialState === undefined) return { id, component, initial: structuredClone(component.initialState) };
    if (!isPlainObject(initialState)) throw new TypeError(`The initial state given for "${componentId}" must be a plain object of ${component.name}'s initialState fields`);
    const problem = jsonStateProblem(initialState);
    if (problem !== null) throw new TypeError(`The initial state given for "${componentId}" must be JSON (it is stored as JSON): ${problem}`);
    const merged: Record<string, unknown> = { ...component.initialState };
    for (const key of Object.keys(initialState)) {
      if (!Object.hasOwn(component.initialState, key)) {
        throw new TypeError(`The initial state given for "${componentId}" has "${key}", which ${component.name}'s initialState does not: only its fields can be given`);
      }
      // A field given as undefined keeps the default: `view.mount(id, { page: request.query.page })`
      // without that query would have stored no `page` at all, breaking every later action.
      if (initialState[key] !== undefined) merged[key] = initialState[key];
    }
    return { id, component, initial: structuredClone(merged) };
  }

  /**
   * Why `componentId` names no instance. "Unknown component" only when its name is not registered: a
   * malformed instance of a registered one (`counter:a b`, `counter:`) says what an instance id is.
   * An unknown name lists the registered ones (a typo, `countr:main`, shows at once). For the
   * developer only: this goes to the exception `view.mount` and `renderInitial` throw, whose page
   * answers the generic 500 and logs it; the action route answers its own 404 `COMPONENT_NOT_FOUND`
   * with the registry's sentence, so a client never learns the names.
   */
  function unknownIdMessage(componentId: string): string {
    const colon = componentId.indexOf(':');
    const name = colon < 0 ? componentId : componentId.slice(0, colon);
    if (registry.get(name) === undefined) return `Unknown component "${componentId}" (${registeredNames()})`;
    if (colon < 0) return `Invalid component id ${JSON.stringify(componentId)}: a component id is "${name}:<instance>", and ${INSTANCE_RULE}`;
    return `Invalid instance id ${JSON.stringify(componentId.slice(colon + 1))} in ${JSON.stringify(componentId)}: ${INSTANCE_RULE}`;
  }

  /** "registered components: a, b, …" in name order, the first LISTED_NAMES then "…and N more". */
  function registeredNames(): string {
    const names = [...registry.all()].map((c) => c.name).sort();
    if (names.length === 0) return 'no component is registered';
    return `registered components: ${listFirst(names, LISTED_NAMES, '…and')}`;
  }

  async function mount(
    session: Session,
    componentId: string,
    initialState?: Record<string, unknown>,
    user?: User | null,
    request?: RequestInfo,
  ): Promise<string> {
    const { id, component, initial } = initialOf(componentId, initialState);
    const version = stateVersionOf(component);
    const loaded = await states.mount(session, componentId, initial, version);
    // Tampered or unreadable state: log it and start the instance afresh rather than fail the page.
    // Sealed with a key this instance does not have: not tampering but a key rotation rolling out (the
    // new key reached other instances first). The page shows the initial state, and the stored state
    // stays for the instances that can open it; overwriting it would lose the user's data for good.
    let state = loaded.type === 'found' ? loaded.state : initial;
    // A state of an earlier deploy's shape is migrated (stored below, once it rendered). A migration
    // that fails, or a state of a later version (a rolled-back deploy), throws: the page fails (500)
    // with a log naming the instance and both versions, and the state stays in the store.
    const migrated = loaded.type === 'found' && loaded.version !== version;
    if (migrated) state = migrateState(component, componentId, loaded.state, loaded.version);
    if (loaded.type === 'invalid') {
      const keep = loaded.reason === 'unknown_key';
      events.emit({
        event: 'crypt_decrypt_fail',
        level: 'WARN',
        description: `Stored state of ${componentId} failed verification (${loaded.reason}); ${keep ? 'shown afresh, kept for the instances that have its key' : 'mounted afresh'}`,
        request,
      });
      if (!keep) await states.save(session, componentId, initial, version);
    }
    const cc: ComponentContext = { user: user === undefined ? await userOf(session) : user, componentId, instance: id.instance, signal: NEVER_ABORTED };
    let rendered: string;
    try {
      rendered = renderComponent(component, state, cc);
    } catch (error) {
      // A state read from the store (not this mount's fresh one) that no longer renders: most often
      // a state of an earlier deploy, whose shape the component has since changed. The page fails
      // (500) and the state is kept, as for any render failure: the log says whose it is and where
      // it came from, since the exception alone names neither.
      if (loaded.type !== 'found' || state === initial || isLiveError(error)) throw error;
      throw new Error(
        `The stored state of ${componentId} (read from the store, kept there) failed to render: ${messageOf(error)}. ` +
          `If ${component.name}'s state changed shape since it was stored (a deploy), raise its version and give it migrate (docs/components.md)`,
        { cause: error },
      );
    }
    // Stored in the current version only if it is still the state read (a strict replace of the blob
    // read, as the re-seal after a key rotation): an action that wrote the instance meanwhile keeps
    // its state, and one deleted meanwhile (its session signed out) stays deleted.
    if (migrated) await states.replace(session, componentId, loaded.blob, state, version);
    return rendered;
  }

  function renderInitial(componentId: string, initialState?: Record<string, unknown>): string {
    const { id, component, initial } = initialOf(componentId, initialState);
    return renderComponent(component, initial, { user: null, componentId, instance: id.instance, signal: NEVER_ABORTED });
  }

  const close = (): void => closing.abort();
  return { registry, sessions, states, csrf, store: options.store, events, trustedOrigins, handleAction, refuseForeignSource, mount, renderInitial, userOf, startSession, close };
}

/**
 * `onBackgroundError` as the pipeline calls it: from a request's flush (a throw there would turn its
 * refusal into a 500) and from promise handlers and timers (a throw or a rejected promise there would
 * be an unhandled rejection, which ends the process). So whatever it throws is dropped.
 */
function swallowing(report: (error: unknown) => void): (error: unknown) => void {
  return (error) => {
    try {
      const result: unknown = report(error);
      if (result instanceof Promise) result.catch(() => {});
    } catch {
      // The report itself failed: nothing better to tell it to.
    }
  };
}

/**
 * A component whose own initialState is over `maxStateBytes` could never be mounted: refused at
 * start-up, naming it, rather than answering every page view that shows it with a 500.
 */
function refuseOversizedInitialStates(components: readonly ComponentDefinition[], maxBytes: number): void {
  for (const component of components) {
    const bytes = Buffer.byteLength(JSON.stringify(component.initialState));
    if (bytes > maxBytes) {
      throw new TypeError(`Runtime: the initialState of component "${component.name}" is ${bytes} bytes as JSON, over maxStateBytes (${maxBytes}): it could never be mounted`);
    }
  }
}

export function errorResponse(error: LiveError, requestId: string, headers: Record<string, string>): RuntimeResponse<ErrorBody> {
  const body: ErrorBody = { error: error.publicMessage, code: error.code, request_id: requestId };
  if (error.fields !== undefined) Object.assign(body, error.fields);
  return { status: error.statusCode, body, headers: error.headers === undefined ? headers : { ...headers, ...error.headers } };
}
