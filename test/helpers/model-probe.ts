/**
 * A model-based random probe of the reference app over HTTP (Fastify `inject`): several simulated
 * clients (sessions with cookies, some signed in, some anonymous) send a seeded sequence of page
 * views and actions — valid, foreign, stale and missing CSRF tokens; fresh, replayed, reused and
 * concurrent idempotency keys; valid, invalid and over-balance payments; concurrent counter clicks;
 * rate limits — and a model predicts every answer's status, code and public state (PROTOCOL §2–§3,
 * docs/security.md). The run stops at the first disagreement, naming the seed, the operation and
 * the operations before it; `MODEL_SEED` / `MODEL_OPS` replay or lengthen a run.
 *
 * This file is the driver: the run loop, the choice of operations, one request and its model, the
 * final check. Beside it: model-probe-model.ts (sessions, requests, policies), model-probe-budgets.ts
 * (the GCRA budgets), model-probe-answers.ts (answer shapes and codes), model-probe-requests.ts
 * (tokens, params, keys, the wire form), model-probe-sessions.ts (sign-in and sign-out),
 * model-probe-bursts.ts (concurrent operations).
 */
import { isDeepStrictEqual } from 'node:util';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { checkShape, expectError, expectReplay, expectStatus } from './model-probe-answers.js';
import { Budgets } from './model-probe-budgets.js';
import { counterBurst, keyBurst, paymentBurst } from './model-probe-bursts.js';
import {
  describe,
  fail,
  fingerprint,
  PAGE_OF,
  POLICY,
  rateClient,
  recordKey,
  refusalOf,
  renderedValue,
  schemaRefuses,
  scopeOf,
  sessionCookie,
  tokenOf,
  type ActionRequest,
  type Component,
  type IdemRecord,
  type ProbeStats,
  type ProbeTarget,
  type Session,
} from './model-probe-model.js';
import { actionRequest, orderParams, paymentParams, wireRequest, withKey } from './model-probe-requests.js';
import { ghostAction, setUpSessions, switchUser } from './model-probe-sessions.js';
import { prng } from './prng.js';

export { DOCUMENTED_CODES } from './model-probe-answers.js';
export { ModelMismatch, type ProbeStats, type ProbeTarget } from './model-probe-model.js';

export interface ProbeOptions {
  seed: number;
  ops: number;
  /** Trace lines kept for the failure message. @default 30 */
  traceLength?: number;
  /**
   * The app runs `csrf: { rotation: 'per-action' }` (single-use tokens): each valid request takes an
   * unused token of its session (the newest: the app must keep at least the 200 newest, so give it
   * `maxOutstanding: 256`), a spent one is refused, and every answer after a verified token brings
   * a fresh one. @default false
   */
  strictCsrf?: boolean;
}

/**
 * Runs the probe against `target` and resolves with its counts; rejects with the seed, the
 * failing operation and the trace before it at the first disagreement.
 */
export async function runModelProbe(target: ProbeTarget, options: ProbeOptions): Promise<ProbeStats> {
  const probe = new Probe(target, options.seed, options.strictCsrf ?? false);
  const trace: string[] = [];
  const keep = options.traceLength ?? 30;
  let op = -1;
  try {
    await setUpSessions(probe);
    for (op = 0; op < options.ops; op++) {
      const line = await probe.step();
      trace.push(`#${op} ${line}`);
      if (trace.length > keep) trace.shift();
    }
    op = -2;
    await probe.finalChecks();
  } catch (error) {
    const where = op === -1 ? 'set-up' : op === -2 ? 'final checks' : `operation #${op} (${probe.current})`;
    const message = error instanceof Error ? error.message : String(error);
    const wrapped = new Error(
      `model probe failed, seed ${options.seed} (replay: MODEL_SEED=${options.seed} MODEL_OPS=${options.ops}), at ${where}:\n${message}\n-- last operations:\n${trace.join('\n')}`,
    );
    wrapped.cause = error;
    throw wrapped;
  }
  return probe.stats;
}

/** One run's state and its model; the operation files (sessions, bursts) drive it through what is not private. */
export class Probe {
  readonly stats: ProbeStats = { ops: 0, requests: 0, byStatus: {}, byCode: {}, replays: 0, ran: 0, expired: 0 };
  current = '';
  readonly rnd: () => number;
  readonly sessions: Session[] = [];
  readonly budgets = new Budgets();
  readonly records = new Map<string, IdemRecord>();
  /** Keys already sent, by scope, for replays. */
  readonly usedKeys = new Map<string, { key: string; component: Component; action: string; params: Record<string, unknown> }[]>();
  private keyCounter = 0;
  /** Session ids replaced by a sign-in or sign-out, with a token of theirs. */
  readonly ghosts: { cookie: string; token: string; ip: string; user: string | null }[] = [];
  readonly emails: string[];
  signIns = 0;

  constructor(
    readonly target: ProbeTarget,
    private readonly seed: number,
    readonly strict: boolean,
  ) {
    this.rnd = prng(seed);
    this.emails = [`ada${seed}@example.com`, `bob${seed}@example.com`];
  }

  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  chance(p: number): boolean {
    return this.rnd() < p;
  }

  instance(): number {
    return this.int(this.target.instances);
  }

  async send(instance: number, request: InjectOptions): Promise<LightMyRequestResponse> {
    const res = await this.target.send(instance, request);
    this.stats.requests++;
    this.stats.byStatus[res.statusCode] = (this.stats.byStatus[res.statusCode] ?? 0) + 1;
    if (res.statusCode >= 500) fail(`${request.method} ${request.url} answered ${res.statusCode}: ${res.body.slice(0, 500)}`);
    return res;
  }

  // --- operations ---------------------------------------------------------------------------

  now(): number {
    return this.target.clock?.now() ?? Date.now();
  }

  /**
   * The completed record of `req`'s key in its scope, or undefined when there is none or it expired.
   * Within a second of its expiry either is right: `answer` (a replay or not) decides.
   */
  recordFor(req: ActionRequest, answer: LightMyRequestResponse): IdemRecord | undefined {
    const key = recordKey(req);
    const record = this.records.get(key);
    if (record === undefined) return undefined;
    const now = this.now();
    const replayed = answer.statusCode === 200 && (answer.json() as { idempotency?: { cached?: boolean } }).idempotency?.cached === true;
    const gone = now >= record.expiresAt + 1000 || (now >= record.expiresAt - 1000 && !replayed && answer.statusCode !== 422);
    if (!gone) return record;
    this.records.delete(key);
    this.stats.expired++;
    return undefined;
  }

  async step(): Promise<string> {
    this.stats.ops++;
    const clock = this.target.clock;
    if (clock !== undefined) clock.advance(this.int(clock.stepMs));
    const r = this.rnd();
    const s = this.pick(this.sessions);
    if (r < 0.08) {
      const component = this.pick(['counter', 'order', 'payment'] as const);
      this.current = `${s.name} GET ${PAGE_OF[component]}`;
      await this.pageView(s, component, this.instance());
    } else if (r < 0.3) {
      const action = this.chance(0.6) ? 'increment' : 'decrement';
      await this.mountMostly(s, 'counter');
      const req = actionRequest(this, s, 'counter', action, {});
      this.current = describe(req);
      await this.single(req);
    } else if (r < 0.32) {
      await switchUser(this, s);
    } else if (r < 0.34 && this.ghosts.length > 0) {
      await ghostAction(this);
    } else if (r < 0.4) {
      await counterBurst(this, s);
    } else if (r < 0.58) {
      const req = actionRequest(this, s, 'order', 'createOrder', orderParams(this));
      withKey(this, req);
      await this.mountMostly(s, req.component);
      this.current = describe(req);
      await this.single(req);
    } else if (r < 0.73) {
      const req = actionRequest(this, s, 'payment', 'processPayment', paymentParams(this, s));
      withKey(this, req);
      await this.mountMostly(s, req.component);
      this.current = describe(req);
      await this.single(req);
    } else if (r < 0.8) {
      await paymentBurst(this, s);
    } else if (r < 0.88) {
      await keyBurst(this, s);
    } else {
      await this.keyFromAnotherSession(s);
    }
    return this.current;
  }

  /** Mounts `component` in `s` when it is not (by a page view), mostly: else the action probes an unmounted instance. */
  private async mountMostly(s: Session, component: Component): Promise<void> {
    if (!s.mounted.has(component) && this.chance(0.7)) await this.pageView(s, component, this.instance());
  }

  /** A key no request of this run sent yet. */
  freshKey(): string {
    return `k${this.seed}-${++this.keyCounter}`;
  }

  /** A key this scope used, sent by a session of another scope: it runs its own request. */
  private async keyFromAnotherSession(s: Session): Promise<void> {
    const owners = [...this.usedKeys.entries()].filter(([scope, keys]) => scope !== scopeOf(s) && keys.length > 0);
    if (owners.length === 0) {
      this.current = `${s.name} (no foreign key yet) GET /`;
      await this.pageView(s, 'counter', this.instance());
      return;
    }
    const [, keys] = this.pick(owners);
    const u = this.pick(keys);
    if (!s.mounted.has(u.component)) await this.pageView(s, u.component, this.instance());
    const req: ActionRequest = { session: s, component: u.component, action: u.action, params: u.params, token: 'valid', key: u.key, instance: this.instance() };
    this.current = `${describe(req)} (a key of another scope)`;
    await this.single(req);
  }

  // --- one request --------------------------------------------------------------------------

  async sendAll(reqs: ActionRequest[]): Promise<{ answers: LightMyRequestResponse[]; t0: number; t1: number }> {
    for (const req of reqs) if (req.key !== undefined) this.noteKey(req);
    if (this.strict) {
      for (const s of new Set(reqs.map((r) => r.session))) {
        const needed = reqs.filter((r) => r.session === s && r.token === 'valid').length;
        while (this.usable(s) < needed) await this.pageView(s, s.mounted.values().next().value ?? 'counter', this.instance());
      }
    }
    const bodies = reqs.map((req) => wireRequest(this, req));
    const t0 = this.now();
    const answers = await Promise.all(reqs.map((req, i) => this.send(req.instance, bodies[i] as InjectOptions)));
    const t1 = this.now();
    for (const [i, res] of answers.entries()) {
      const req = reqs[i] as ActionRequest;
      checkShape(req, res, this.stats);
      if (!this.strict) continue;
      const fresh = (res.json() as { csrf_token?: unknown }).csrf_token;
      // Every answer after a verified token brings a fresh one (docs/security.md §1, strict mode).
      if (req.token === 'valid' && res.statusCode !== 403 && typeof fresh !== 'string') fail(`${describe(req)}: a ${res.statusCode} after a verified token without a fresh csrf_token`);
      if (typeof fresh === 'string') this.issue(req.session, fresh);
    }
    return { answers, t0, t1 };
  }

  /** Strict mode: a token the app issued to `s`; only the newest 200 are used (it keeps `maxOutstanding`). */
  private issue(s: Session, token: string): void {
    s.pool.push({ token, issued: ++s.issued });
    s.pool = s.pool.filter((t) => t.issued > s.issued - 200);
  }

  private usable(s: Session): number {
    return s.pool.length;
  }

  private async single(req: ActionRequest): Promise<void> {
    const { answers, t0, t1 } = await this.sendAll([req]);
    const res = answers[0] as LightMyRequestResponse;
    if (req.token !== 'valid') {
      expectError(req, res, 403, 'CSRF_TOKEN_INVALID');
      // Strict mode: a spent token is refused after its rate-limit step was taken (docs/security.md §1).
      if (this.strict && req.token === 'stale') this.budgets.maybeCharge(`${rateClient(req.session)}|${req.component}.${req.action}`, this.now());
      return;
    }
    if (!this.budgets.admitGroup([req], answers, t0, t1)[0]) return;
    if (req.badKey !== undefined) {
      expectError(req, res, 400, 'IDEMPOTENCY_KEY_INVALID');
      return;
    }
    if (req.key !== undefined) {
      const record = this.recordFor(req, res);
      if (record !== undefined) {
        if (record.fingerprint === fingerprint(req)) this.replay(req, res, record);
        else expectError(req, res, 422, 'IDEMPOTENCY_KEY_REUSED');
        return;
      }
    }
    // The instance is loaded after validation (docs/security.md: … → validation → state load → …):
    // one never mounted in this session id answers 404 only to params the schema takes.
    if (!req.session.mounted.has(req.component) && !schemaRefuses(req)) {
      expectError(req, res, 404, 'COMPONENT_NOT_FOUND');
      return;
    }
    const refusal = refusalOf(req);
    if (refusal !== null) {
      expectError(req, res, 400, refusal);
      return;
    }
    this.expectRun(req, res);
  }

  /** The action ran: 200, the model's new state, cached: false; the model moves on. */
  expectRun(req: ActionRequest, res: LightMyRequestResponse): void {
    expectStatus(req, res, 200);
    const s = req.session;
    const body = res.json() as { html: string; state: unknown; csrf_token: string; idempotency?: { key: string; cached: boolean; ttl: number; created_at: string } };
    let expected: unknown;
    if (req.component === 'counter') expected = { count: (s.counter += req.action === 'increment' ? 1 : -1) };
    else if (req.component === 'order') expected = { orders: ++s.orders };
    else {
      const amount = req.params.amount as number;
      s.balance -= amount;
      s.paid.push(amount);
      expected = { balance: s.balance };
    }
    if (!isDeepStrictEqual(body.state, expected)) fail(`${describe(req)}: state ${JSON.stringify(body.state)}, model ${JSON.stringify(expected)}`);
    this.stats.ran++;
    if (req.key === undefined) {
      if (body.idempotency !== undefined) fail(`${describe(req)}: idempotency metadata without a key`);
      return;
    }
    const policy = POLICY[`${req.component}.${req.action}`] as { ttl: number };
    const meta = body.idempotency;
    if (meta === undefined || meta.cached !== false || meta.key !== req.key || meta.ttl !== policy.ttl || typeof meta.created_at !== 'string') {
      fail(`${describe(req)}: idempotency ${JSON.stringify(meta)}, expected key ${req.key}, cached false, ttl ${policy.ttl}`);
    }
    if (res.headers['idempotent-replayed'] !== undefined) fail(`${describe(req)}: a first run answered Idempotent-Replayed`);
    this.records.set(recordKey(req), { fingerprint: fingerprint(req), html: body.html, state: body.state, createdAt: meta.created_at, expiresAt: this.now() + policy.ttl * 1000 });
  }

  // --- rate limits --------------------------------------------------------------------------

  /** `res` replays `record` (its ttl checked to the second on a clock the test holds). */
  replay(req: ActionRequest, res: LightMyRequestResponse, record: IdemRecord): void {
    expectReplay(req, res, record, this.stats, this.target.clock?.now());
  }

  // --- pages and the end --------------------------------------------------------------------

  async pageView(s: Session, component: Component, instance: number): Promise<void> {
    const res = await this.send(instance, { method: 'GET', url: PAGE_OF[component], remoteAddress: s.ip, headers: { cookie: s.cookie } });
    if (res.statusCode !== 200) fail(`${s.name} GET ${PAGE_OF[component]}: ${res.statusCode}`);
    const set = sessionCookie(res);
    if (set !== undefined && set !== s.cookie) fail(`${s.name} GET ${PAGE_OF[component]}: the page replaced the session cookie`);
    s.token = tokenOf(res.body);
    if (this.strict) this.issue(s, s.token);
    s.mounted.add(component);
    if (!res.body.includes(`data-lc-id="${component}:main"`)) fail(`${s.name} GET ${PAGE_OF[component]}: no ${component}:main root`);
    const shown = renderedValue(component, res.body);
    const model = component === 'counter' ? s.counter : component === 'order' ? s.orders : s.balance;
    if (shown !== model) fail(`${s.name} GET ${PAGE_OF[component]}: the page shows ${shown}, the model ${model}`);
  }

  async finalChecks(): Promise<void> {
    this.current = 'final page views';
    for (const s of this.sessions) {
      for (const component of ['counter', 'order', 'payment'] as const) await this.pageView(s, component, this.instance());
      if (s.balance < 0) fail(`${s.name}: balance ${s.balance} below 0`);
      const expected = 1000 - s.paid.reduce((a, b) => a + b, 0);
      if (s.balance !== expected) fail(`${s.name}: balance ${s.balance}, 1000 minus the payments that ran is ${expected}`);
    }
  }

  private noteKey(req: ActionRequest): void {
    const scope = scopeOf(req.session);
    const list = this.usedKeys.get(scope) ?? [];
    if (!list.some((u) => u.key === req.key && u.component === req.component && isDeepStrictEqual(u.params, req.params))) {
      list.push({ key: req.key as string, component: req.component, action: req.action, params: req.params });
    }
    this.usedKeys.set(scope, list);
  }
}
