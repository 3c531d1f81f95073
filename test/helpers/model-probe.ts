/**
 * A model-based random probe of the reference app over HTTP (Fastify `inject`): several simulated
 * clients (sessions with cookies, some signed in, some anonymous) send a seeded sequence of page
 * views and actions — valid, foreign, stale and missing CSRF tokens; fresh, replayed, reused and
 * concurrent idempotency keys; valid, invalid and over-balance payments; concurrent counter clicks;
 * rate limits — and a model predicts every answer's status, code and public state (PROTOCOL §2–§3,
 * docs/security.md). The run stops at the first disagreement, naming the seed, the operation and
 * the operations before it; `MODEL_SEED` / `MODEL_OPS` replay or lengthen a run.
 *
 * Rate limits run on the store's real clock (Redis's own time on Redis), so the model keeps each
 * budget's GCRA arrival time as an interval [lo, hi] from the request's send and answer times: an
 * answer is refused only where no time in that span could give it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { prng } from './prng.js';

/** Where requests go: one app, or several sharing a store (`instance` picks one). */
export interface ProbeTarget {
  readonly instances: number;
  send(instance: number, request: InjectOptions): Promise<LightMyRequestResponse>;
  /** The app's origin (sign-in form posts carry it). */
  readonly origin: string;
  /**
   * The app's clock, when the test holds it (the memory store and the runtime on one manual clock):
   * the probe moves it on by up to `stepMs` before each operation, so budgets refill and
   * idempotency records expire (checked to the second). Without it, the real clock.
   */
  readonly clock?: { now(): number; advance(ms: number): void; stepMs: number };
}

type Component = 'counter' | 'order' | 'payment';
const PAGE_OF: Record<Component, string> = { counter: '/', order: '/orders', payment: '/payment' };
const ACTION_ROUTE = '/api/livecomponents/action';
const PASSWORD = 'correct horse battery staple';

/** The policies of PROTOCOL §2: limit per window (seconds); idempotency TTL. */
const POLICY: Record<string, { limit: number; window: number; ttl: number }> = {
  'counter.increment': { limit: 60, window: 60, ttl: 3600 },
  'counter.decrement': { limit: 60, window: 60, ttl: 3600 },
  'order.createOrder': { limit: 60, window: 60, ttl: 3600 },
  'payment.processPayment': { limit: 5, window: 300, ttl: 86_400 },
};

/** Every code docs/reference/errors.md lists. */
export const DOCUMENTED_CODES: ReadonlySet<string> = new Set(
  [...readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'reference', 'errors.md'), 'utf8').matchAll(/^\| \d{3} \| `([A-Z_]+)`/gm)].map((m) => m[1] as string),
);

interface Session {
  readonly name: string;
  readonly ip: string;
  /** The model's user label when signed in. */
  user: string | null;
  /** The components mounted in the current session id (a page view mounts; sign-in and sign-out start afresh). */
  mounted: Set<Component>;
  cookie: string;
  token: string;
  /** A token this session held before sign-in replaced its id (signed-in sessions), else a forged one. */
  staleToken: string;
  counter: number;
  orders: number;
  balance: number;
  /** Amounts of payments the app ran (answered cached: false). */
  paid: number[];
  /** Strict CSRF mode: unused tokens, oldest first, with their issue numbers; and tokens spent. */
  pool: { token: string; issued: number }[];
  spent: string[];
  issued: number;
}

interface IdemRecord {
  fingerprint: string;
  html: string;
  state: unknown;
  createdAt: string;
  /** When the record is gone (the run's time plus the action's idempotencyTTL). */
  expiresAt: number;
}

type TokenKind = 'valid' | 'foreign' | 'stale' | 'none';

interface ActionRequest {
  session: Session;
  component: Component;
  action: string;
  params: Record<string, unknown>;
  token: TokenKind;
  key?: string;
  /** A key PROTOCOL §3 refuses (400 IDEMPOTENCY_KEY_INVALID): too long, not ASCII, header and body disagreeing. */
  badKey?: 'long' | 'not-ascii' | 'disagree';
  instance: number;
}

/** A failed check: what was expected, what came. */
export class ModelMismatch extends Error {}

function fail(message: string): never {
  throw new ModelMismatch(message);
}

/** Counts of what the run did, for the report and for tests of the probe itself. */
export interface ProbeStats {
  ops: number;
  requests: number;
  byStatus: Record<string, number>;
  /** Answers by error code. */
  byCode: Record<string, number>;
  replays: number;
  ran: number;
  /** Idempotency records the model saw expire (on a clock the test holds). */
  expired: number;
}

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
    await probe.setUp();
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

/** The GCRA arrival time of one budget, known within [lo, hi] (ms). */
interface Bucket {
  lo: number;
  hi: number;
}

class Probe {
  readonly stats: ProbeStats = { ops: 0, requests: 0, byStatus: {}, byCode: {}, replays: 0, ran: 0, expired: 0 };
  current = '';
  private readonly rnd: () => number;
  private readonly sessions: Session[] = [];
  private readonly buckets = new Map<string, Bucket>();
  private readonly records = new Map<string, IdemRecord>();
  /** Keys already sent, by scope, for replays. */
  private readonly usedKeys = new Map<string, { key: string; component: Component; action: string; params: Record<string, unknown> }[]>();
  private keyCounter = 0;
  /** Session ids replaced by a sign-in or sign-out, with a token of theirs. */
  private readonly ghosts: { cookie: string; token: string; ip: string; user: string | null }[] = [];
  private readonly emails: string[];
  private signIns = 0;

  constructor(
    private readonly target: ProbeTarget,
    private readonly seed: number,
    private readonly strict: boolean,
  ) {
    this.rnd = prng(seed);
    this.emails = [`ada${seed}@example.com`, `bob${seed}@example.com`];
  }

  private int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  private chance(p: number): boolean {
    return this.rnd() < p;
  }

  private instance(): number {
    return this.int(this.target.instances);
  }

  private async send(instance: number, request: InjectOptions): Promise<LightMyRequestResponse> {
    const res = await this.target.send(instance, request);
    this.stats.requests++;
    this.stats.byStatus[res.statusCode] = (this.stats.byStatus[res.statusCode] ?? 0) + 1;
    if (res.statusCode >= 500) fail(`${request.method} ${request.url} answered ${res.statusCode}: ${res.body.slice(0, 500)}`);
    return res;
  }

  // --- set-up -------------------------------------------------------------------------------

  async setUp(): Promise<void> {
    // Two sessions of one user (shared budget and idempotency scope), one of another user, three
    // anonymous sessions: two behind one address (one budget), one alone.
    const users = this.emails;
    for (const [i, email] of users.entries()) {
      const res = await this.send(0, {
        method: 'POST',
        url: '/api/v1/auth/register',
        remoteAddress: `10.1.${i}.1`,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ email, password: PASSWORD }),
      });
      if (res.statusCode !== 201) fail(`register ${email}: ${res.statusCode} ${res.body}`);
    }
    const plan: { name: string; ip: string; user: number | null }[] = [
      { name: 'ada-1', ip: '10.1.0.1', user: 0 },
      { name: 'ada-2', ip: '10.1.0.2', user: 0 },
      { name: 'bob', ip: '10.1.1.1', user: 1 },
      { name: 'anon-a', ip: '10.2.0.1', user: null },
      { name: 'anon-b', ip: '10.2.0.1', user: null },
      { name: 'anon-c', ip: '10.2.0.3', user: null },
    ];
    for (const p of plan) {
      const login = await this.send(this.instance(), { method: 'GET', url: '/login', remoteAddress: p.ip });
      if (login.statusCode !== 200) fail(`GET /login: ${login.statusCode}`);
      let cookie = sessionCookie(login) ?? fail('GET /login set no session cookie');
      const first = tokenOf(login.body);
      let staleToken = forged(first);
      if (p.user !== null) {
        const formToken = /action="\/login"[\s\S]*?name="_csrf_token" value="([^"]+)"/.exec(login.body)?.[1] ?? fail('no sign-in form token');
        const signIn = await this.send(this.instance(), {
          method: 'POST',
          url: '/login',
          remoteAddress: p.ip,
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: this.target.origin },
          payload: new URLSearchParams({ _csrf_token: formToken, email: users[p.user] as string, password: PASSWORD }).toString(),
        });
        if (signIn.statusCode !== 303) fail(`sign-in of ${p.name}: ${signIn.statusCode} ${signIn.body.slice(0, 300)}`);
        const next = sessionCookie(signIn) ?? fail('sign-in set no new session cookie');
        if (next === cookie) fail('sign-in kept the session id');
        cookie = next;
        staleToken = first;
      }
      const session: Session = {
        name: p.name,
        ip: p.ip,
        user: p.user === null ? null : `u${p.user}`,
        cookie,
        token: '',
        staleToken,
        counter: 0,
        orders: 0,
        balance: 1000,
        paid: [],
        mounted: new Set(),
        pool: [],
        spent: [],
        issued: 0,
      };
      this.sessions.push(session);
      // Mount every component of the session (an action needs its instance mounted).
      for (const component of ['counter', 'order', 'payment'] as const) await this.pageView(session, component, this.instance());
    }
  }

  // --- operations ---------------------------------------------------------------------------

  private now(): number {
    return this.target.clock?.now() ?? Date.now();
  }

  /**
   * The completed record of `req`'s key in its scope, or undefined when there is none or it expired.
   * Within a second of its expiry either is right: `answer` (a replay or not) decides.
   */
  private recordFor(req: ActionRequest, answer: LightMyRequestResponse): IdemRecord | undefined {
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
      const req = this.actionRequest(s, 'counter', action, {});
      this.current = describe(req);
      await this.single(req);
    } else if (r < 0.32) {
      await this.switchUser(s);
    } else if (r < 0.34 && this.ghosts.length > 0) {
      await this.ghostAction();
    } else if (r < 0.4) {
      await this.counterBurst(s);
    } else if (r < 0.58) {
      const req = this.actionRequest(s, 'order', 'createOrder', this.orderParams());
      this.withKey(req);
      await this.mountMostly(s, req.component);
      this.current = describe(req);
      await this.single(req);
    } else if (r < 0.73) {
      const req = this.actionRequest(s, 'payment', 'processPayment', this.paymentParams(s));
      this.withKey(req);
      await this.mountMostly(s, req.component);
      this.current = describe(req);
      await this.single(req);
    } else if (r < 0.8) {
      await this.paymentBurst(s);
    } else if (r < 0.88) {
      await this.keyBurst(s);
    } else {
      await this.keyFromAnotherSession(s);
    }
    return this.current;
  }

  /** Mounts `component` in `s` when it is not (by a page view), mostly: else the action probes an unmounted instance. */
  private async mountMostly(s: Session, component: Component): Promise<void> {
    if (!s.mounted.has(component) && this.chance(0.7)) await this.pageView(s, component, this.instance());
  }

  /**
   * Signs an anonymous session in (as one of the two users) or a signed-in one out, through the
   * `/login` and `/logout` forms: a new session id, the old one and its tokens dead, no component
   * state carried over (docs/auth.md, "Browser sign-in for components").
   */
  private async switchUser(s: Session): Promise<void> {
    const instance = this.instance();
    const login = await this.send(instance, { method: 'GET', url: '/login', remoteAddress: s.ip, headers: { cookie: s.cookie } });
    if (login.statusCode !== 200) fail(`${s.name} GET /login: ${login.statusCode}`);
    const old = { cookie: s.cookie, token: tokenOf(login.body), ip: s.ip, user: s.user };
    const signingIn = s.user === null;
    // The login budget (5 a minute): a few sign-ins per run.
    if (signingIn && this.signIns >= 3) {
      this.current = `${s.name} GET /login (no more sign-ins this run)`;
      return;
    }
    const form = signingIn ? 'login' : 'logout';
    const formToken = new RegExp(`action="/${form}"[\\s\\S]*?name="_csrf_token" value="([^"]+)"`).exec(login.body)?.[1] ?? fail(`no /${form} form token`);
    const user = this.int(2);
    this.current = signingIn ? `${s.name} signs in as u${user}` : `${s.name} signs out`;
    const fields: Record<string, string> = { _csrf_token: formToken };
    if (signingIn) Object.assign(fields, { email: this.emails[user] as string, password: PASSWORD });
    const res = await this.send(this.instance(), {
      method: 'POST',
      url: `/${form}`,
      remoteAddress: s.ip,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: s.cookie, origin: this.target.origin },
      payload: new URLSearchParams(fields).toString(),
    });
    if (res.statusCode !== 303) fail(`${this.current}: ${res.statusCode} ${res.body.slice(0, 300)}`);
    if (signingIn) this.signIns++;
    const next = sessionCookie(res) ?? fail(`${this.current}: no new session cookie`);
    if (next === s.cookie) fail(`${this.current}: the session id was kept`);
    this.ghosts.push(old);
    s.cookie = next;
    s.staleToken = old.token;
    s.user = signingIn ? `u${user}` : null;
    s.mounted = new Set();
    s.counter = 0;
    s.orders = 0;
    s.balance = 1000;
    s.paid = [];
    s.pool = [];
    s.spent = [];
    await this.pageView(s, 'counter', this.instance());
  }

  /** An action with the cookie and a token of a session id a sign-in or sign-out replaced: 403. */
  private async ghostAction(): Promise<void> {
    const ghost = this.pick(this.ghosts);
    this.current = `an action of a replaced session id (${ghost.user ?? ghost.ip})`;
    const res = await this.send(this.instance(), {
      method: 'POST',
      url: ACTION_ROUTE,
      remoteAddress: ghost.ip,
      headers: { 'content-type': 'application/json', cookie: ghost.cookie, 'x-csrf-token': ghost.token },
      payload: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
    });
    const body = res.json() as { code?: string };
    if (res.statusCode !== 403 || body.code !== 'CSRF_TOKEN_INVALID') fail(`${this.current}: ${res.statusCode} ${res.body.slice(0, 300)}`);
    // A session found gone has spent one step of its client's budget (docs/security.md §2): perhaps.
    this.maybeCharge(`ip:${ghost.ip}|counter.increment`);
    if (ghost.user !== null) this.maybeCharge(`user:${ghost.user}|counter.increment`);
  }

  /** A step the app may or may not have taken: only the late end of the budget's arrival time moves. */
  private maybeCharge(bucket: string): void {
    const policy = POLICY[bucket.split('|')[1] as string] as { limit: number; window: number };
    const b = this.buckets.get(bucket) ?? { lo: -Infinity, hi: -Infinity };
    b.hi = Math.max(b.hi, this.now()) + (policy.window * 1000) / policy.limit;
    this.buckets.set(bucket, b);
  }

  private actionRequest(session: Session, component: Component, action: string, params: Record<string, unknown>): ActionRequest {
    const t = this.rnd();
    const token: TokenKind = t < 0.82 ? 'valid' : t < 0.88 ? 'foreign' : t < 0.94 ? 'stale' : 'none';
    return { session, component, action, params, token, instance: this.instance() };
  }

  private orderParams(): Record<string, unknown> {
    const r = this.rnd();
    if (r < 0.8) return { item: this.pick(['tea', 'coffee', 'bread', ' jam ', 'élan']) };
    if (r < 0.9) return { item: this.pick(['', '   ']) };
    return {};
  }

  private paymentParams(s: Session): Record<string, unknown> {
    const r = this.rnd();
    if (r < 0.6) return { amount: 1 + this.int(Math.max(1, Math.min(s.balance, 400))) };
    if (r < 0.75) return { amount: s.balance + 1 + this.int(50) };
    return { amount: this.pick([0, -5, 1.5, '10', null]) };
  }

  /** A fresh key (50 %), a key of this scope sent before (30 %: same or other params), or none. */
  private withKey(req: ActionRequest): void {
    const r = this.rnd();
    const used = this.usedKeys.get(scopeOf(req.session)) ?? [];
    if (r < 0.05) {
      req.badKey = this.pick(['long', 'not-ascii', 'disagree'] as const);
    } else if (r < 0.5 || (r < 0.8 && used.length === 0)) {
      req.key = this.freshKey();
    } else if (r < 0.8) {
      const u = this.pick(used);
      req.key = u.key;
      if (this.chance(0.6)) {
        req.component = u.component;
        req.action = u.action;
        req.params = u.params;
      }
    }
  }

  private freshKey(): string {
    return `k${this.seed}-${++this.keyCounter}`;
  }

  private async counterBurst(s: Session): Promise<void> {
    if (!s.mounted.has('counter')) await this.pageView(s, 'counter', this.instance());
    const n = 2 + this.int(4);
    const reqs: ActionRequest[] = Array.from({ length: n }, () => ({
      session: s,
      component: 'counter' as const,
      action: this.chance(0.6) ? 'increment' : 'decrement',
      params: {},
      token: 'valid' as const,
      instance: this.instance(),
    }));
    this.current = `${s.name} ${n} concurrent counter actions: ${reqs.map((q) => q.action).join(',')}`;
    const { answers, t0, t1 } = await this.sendAll(reqs);
    const start = s.counter;
    const admitted = this.admitGroup(reqs, answers, t0, t1);
    let inc = 0;
    let dec = 0;
    for (const [i, res] of answers.entries()) {
      if (!admitted[i]) continue;
      const req = reqs[i] as ActionRequest;
      this.expectStatus(req, res, 200);
      if (req.action === 'increment') inc++;
      else dec++;
    }
    const counts = answers.flatMap((res, i) => (admitted[i] ? [(res.json() as { state: { count: number } }).state.count] : []));
    for (const c of counts) if (c < start - dec || c > start + inc) fail(`a concurrent counter answered ${c}, outside [${start - dec}, ${start + inc}]`);
    if (dec === 0) {
      const expected = Array.from({ length: inc }, (_, i) => start + i + 1);
      if (!isDeepStrictEqual([...counts].sort((a, b) => a - b), expected)) fail(`concurrent increments answered ${counts.join(',')}, expected each of ${expected.join(',')} once`);
    }
    s.counter = start + inc - dec;
  }

  /**
   * 2–4 payments of one session at once, each with a key of its own or none, together often above
   * the balance: they run one at a time (the instance lock), so the balance never goes below 0 and
   * the answers form one serial order.
   */
  private async paymentBurst(s: Session): Promise<void> {
    if (!s.mounted.has('payment')) await this.pageView(s, 'payment', this.instance());
    const n = 2 + this.int(3);
    const reqs: ActionRequest[] = Array.from({ length: n }, () => {
      const req: ActionRequest = {
        session: s,
        component: 'payment',
        action: 'processPayment',
        params: { amount: 1 + this.int(Math.max(1, Math.ceil((s.balance * 2) / n))) },
        token: 'valid',
        instance: this.instance(),
      };
      if (this.chance(0.5)) req.key = this.freshKey();
      return req;
    });
    this.current = `${s.name} ${n} concurrent payments ${reqs.map((q) => `${String(q.params.amount)}${q.key === undefined ? '' : `/${q.key}`}`).join(',')} on balance ${s.balance}`;
    const { answers, t0, t1 } = await this.sendAll(reqs);
    const admitted = this.admitGroup(reqs, answers, t0, t1);
    const start = s.balance;
    const ran: { req: ActionRequest; res: LightMyRequestResponse; after: number }[] = [];
    const refused: ActionRequest[] = [];
    for (const [i, res] of answers.entries()) {
      const req = reqs[i] as ActionRequest;
      if (!admitted[i]) continue;
      if (res.statusCode === 200) ran.push({ req, res, after: (res.json() as { state: { balance: number } }).state.balance });
      else {
        this.expectError(req, res, 400, 'VALIDATION_FAILED');
        refused.push(req);
      }
    }
    // The serial order: balances strictly falling, each step one runner's amount.
    ran.sort((a, b) => b.after - a.after);
    let balance = start;
    for (const { req, after } of ran) {
      const amount = req.params.amount as number;
      if (balance - amount !== after) fail(`${this.current}: answers ${ran.map((x) => `${String(x.req.params.amount)}->${x.after}`).join(', ')} are no serial order from ${start}`);
      balance = after;
    }
    for (const req of refused) {
      if ((req.params.amount as number) <= balance) fail(`${this.current}: ${String(req.params.amount)} refused, but the balance never fell below ${balance}`);
    }
    // Apply to the model in that order (expectRun checks each answer's state again).
    for (const { req, res } of ran) this.expectRun(req, res);
  }

  /** 2–5 requests with one key at once, from this session or from other sessions of its scope. */
  private async keyBurst(s: Session): Promise<void> {
    const n = 2 + this.int(4);
    const payment = this.chance(0.5);
    const component: Component = payment ? 'payment' : 'order';
    const action = payment ? 'processPayment' : 'createOrder';
    const used = this.usedKeys.get(scopeOf(s)) ?? [];
    let key = this.freshKey();
    let params = payment ? this.paymentParams(s) : this.orderParams();
    if (used.length > 0 && this.chance(0.25)) {
      const u = this.pick(used);
      key = u.key;
      if (u.component === component) params = u.params;
    }
    // Mostly the sessions of this scope; now and then any session: each scope then runs the key once.
    const mates = this.chance(0.2) ? this.sessions : this.sessions.filter((o) => scopeOf(o) === scopeOf(s));
    for (const m of mates) if (!m.mounted.has(component)) await this.pageView(m, component, this.instance());
    const reqs: ActionRequest[] = Array.from({ length: n }, () => ({
      session: this.pick(mates),
      component,
      action,
      params,
      token: 'valid' as const,
      key,
      instance: this.instance(),
    }));
    this.current = `${n} concurrent ${component}.${action}(${JSON.stringify(params)}) key ${key} from ${reqs.map((q) => q.session.name).join(',')}`;
    const { answers, t0, t1 } = await this.sendAll(reqs);
    const admitted = this.admitGroup(reqs, answers, t0, t1);
    const live = answers.map((res, i) => ({ res, req: reqs[i] as ActionRequest })).filter((_, i) => admitted[i]);
    for (const scope of new Set(live.map(({ req }) => scopeOf(req.session)))) {
      this.settleKey(
        live.filter(({ req }) => scopeOf(req.session) === scope),
        key,
      );
    }
  }

  /** The answers of one scope to concurrent requests with one key (limiter passed): one run at most, replays of it, 409s. */
  private settleKey(live: { res: LightMyRequestResponse; req: ActionRequest }[], key: string): void {
    if (live.length === 0) return;
    const first = live[0]?.req as ActionRequest;
    const record = this.recordFor(first, live[0]?.res as LightMyRequestResponse);
    const fp = fingerprint(first);
    if (record !== undefined) {
      for (const { req, res } of live) {
        if (record.fingerprint === fp) this.expectReplay(req, res, record);
        else this.expectError(req, res, 422, 'IDEMPOTENCY_KEY_REUSED');
      }
      return;
    }
    // Sessions of one user hold their own instances: whether the action is refused (a payment over
    // the balance) depends on the session whose request claims the key first.
    const runners = live.filter(({ res }) => res.statusCode === 200 && (res.json() as { idempotency?: { cached?: boolean } }).idempotency?.cached === false);
    if (runners.length > 1) fail(`${live.length} concurrent requests with key ${key}: ${runners.length} ran (answered cached: false), expected at most 1`);
    const runner = runners[0];
    if (runner === undefined) {
      if (live.every(({ req }) => this.refusalOf(req) === null)) fail(`${live.length} concurrent requests with key ${key}: none ran; statuses ${live.map(({ res }) => res.statusCode).join(',')}`);
      let refused = 0;
      for (const { req, res } of live) {
        if (res.statusCode === 409) this.expectError(req, res, 409, 'IDEMPOTENCY_KEY_IN_USE');
        else {
          this.expectError(req, res, 400, this.refusalOf(req) ?? fail(`${describe(req)}: refused ${res.statusCode}, but its session's state allows it`));
          refused++;
        }
      }
      if (refused === 0) fail(`${live.length} concurrent requests with key ${key} and none ran: none was refused either, all answered 409`);
      return;
    }
    if (this.refusalOf(runner.req) !== null) fail(`${describe(runner.req)}: ran, but the model refuses it (${String(this.refusalOf(runner.req))})`);
    const refusals = new Map(live.map(({ req }) => [req, this.refusalOf(req)]));
    this.expectRun(runner.req, runner.res);
    const stored = this.records.get(recordKey(first)) as IdemRecord;
    for (const { req, res } of live) {
      if (res === runner.res) continue;
      if (res.statusCode === 409) this.expectError(req, res, 409, 'IDEMPOTENCY_KEY_IN_USE');
      else if (res.statusCode === 400) this.expectError(req, res, 400, refusals.get(req) ?? fail(`${describe(req)}: refused 400, but its session's state allowed it`));
      else this.expectReplay(req, res, stored);
    }
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

  private body(req: ActionRequest): InjectOptions {
    const headers: Record<string, string> = { 'content-type': 'application/json', cookie: req.session.cookie };
    const token = this.tokenFor(req);
    if (token !== undefined) headers['x-csrf-token'] = token;
    const envelope: Record<string, unknown> = { component_id: `${req.component}:main`, action: req.action, params: req.params };
    // The key as a bare header value, an RFC 8941 string, or the body field (PROTOCOL §3): one key.
    const via = req.key === undefined ? 0 : this.int(3);
    if (via === 1) headers['idempotency-key'] = req.key as string;
    else if (via === 2) headers['idempotency-key'] = `"${req.key as string}"`;
    if (via === 0 && req.key !== undefined) envelope.idempotency_key = req.key;
    if (req.badKey === 'long') headers['idempotency-key'] = 'k'.repeat(256);
    else if (req.badKey === 'not-ascii') envelope.idempotency_key = 'clé-1';
    else if (req.badKey === 'disagree') {
      headers['idempotency-key'] = 'one-key';
      envelope.idempotency_key = 'another-key';
    }
    return { method: 'POST', url: ACTION_ROUTE, remoteAddress: req.session.ip, headers, payload: JSON.stringify(envelope) };
  }

  private tokenFor(req: ActionRequest): string | undefined {
    switch (req.token) {
      case 'valid': {
        if (!this.strict) return req.session.token;
        const next = req.session.pool.pop() ?? fail(`${describe(req)}: no unused token left (the probe refills before sending)`);
        req.session.spent.push(next.token);
        return next.token;
      }
      case 'foreign':
        return this.pick(this.sessions.filter((o) => o !== req.session)).token;
      case 'stale':
        return this.strict && req.session.spent.length > 0 ? this.pick(req.session.spent) : req.session.staleToken;
      case 'none':
        return undefined;
    }
  }

  private async sendAll(reqs: ActionRequest[]): Promise<{ answers: LightMyRequestResponse[]; t0: number; t1: number }> {
    for (const req of reqs) if (req.key !== undefined) this.noteKey(req);
    if (this.strict) {
      for (const s of new Set(reqs.map((r) => r.session))) {
        const needed = reqs.filter((r) => r.session === s && r.token === 'valid').length;
        while (this.usable(s) < needed) await this.pageView(s, s.mounted.values().next().value ?? 'counter', this.instance());
      }
    }
    const bodies = reqs.map((req) => this.body(req));
    const t0 = this.now();
    const answers = await Promise.all(reqs.map((req, i) => this.send(req.instance, bodies[i] as InjectOptions)));
    const t1 = this.now();
    for (const [i, res] of answers.entries()) {
      const req = reqs[i] as ActionRequest;
      this.checkShape(req, res);
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
      this.expectError(req, res, 403, 'CSRF_TOKEN_INVALID');
      // Strict mode: a spent token is refused after its rate-limit step was taken (docs/security.md §1).
      if (this.strict && req.token === 'stale') this.maybeCharge(`${rateClient(req.session)}|${req.component}.${req.action}`);
      return;
    }
    if (!this.admitGroup([req], answers, t0, t1)[0]) return;
    if (req.badKey !== undefined) {
      this.expectError(req, res, 400, 'IDEMPOTENCY_KEY_INVALID');
      return;
    }
    if (req.key !== undefined) {
      const record = this.recordFor(req, res);
      if (record !== undefined) {
        if (record.fingerprint === fingerprint(req)) this.expectReplay(req, res, record);
        else this.expectError(req, res, 422, 'IDEMPOTENCY_KEY_REUSED');
        return;
      }
    }
    // The instance is loaded after validation (docs/security.md: … → validation → state load → …):
    // one never mounted in this session id answers 404 only to params the schema takes.
    if (!req.session.mounted.has(req.component) && !this.schemaRefuses(req)) {
      this.expectError(req, res, 404, 'COMPONENT_NOT_FOUND');
      return;
    }
    const refusal = this.refusalOf(req);
    if (refusal !== null) {
      this.expectError(req, res, 400, refusal);
      return;
    }
    this.expectRun(req, res);
  }

  /** Whether the action's schema refuses `req`'s params (PROTOCOL §2). */
  private schemaRefuses(req: ActionRequest): boolean {
    if (req.component === 'order') {
      const item = req.params.item;
      return !(typeof item === 'string' && item.trim().length > 0);
    }
    if (req.component === 'payment') {
      const amount = req.params.amount;
      return typeof amount !== 'number' || !Number.isInteger(amount) || amount <= 0;
    }
    return false;
  }

  /** The code the app must refuse `req` with for its params and the state (not counting limits and keys), or null. */
  private refusalOf(req: ActionRequest): string | null {
    if (this.schemaRefuses(req)) return 'VALIDATION_FAILED';
    if (req.component === 'payment') return (req.params.amount as number) > req.session.balance ? 'VALIDATION_FAILED' : null;
    return null;
  }

  /** The action ran: 200, the model's new state, cached: false; the model moves on. */
  private expectRun(req: ActionRequest, res: LightMyRequestResponse): void {
    this.expectStatus(req, res, 200);
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

  private expectReplay(req: ActionRequest, res: LightMyRequestResponse, record: IdemRecord): void {
    this.expectStatus(req, res, 200);
    const body = res.json() as { html: string; state: unknown; idempotency?: { key: string; cached: boolean; ttl: number; created_at: string } };
    const meta = body.idempotency;
    const policy = POLICY[`${req.component}.${req.action}`] as { ttl: number };
    if (meta?.cached !== true || meta.key !== req.key || meta.created_at !== record.createdAt || !(meta.ttl > 0 && meta.ttl <= policy.ttl)) {
      fail(`${describe(req)}: a replay answered idempotency ${JSON.stringify(meta)}; expected cached true, key ${req.key}, created_at ${record.createdAt}, 0 < ttl <= ${policy.ttl}`);
    }
    // The remaining ttl, to the second (only known on a clock the test holds).
    if (this.target.clock !== undefined && Math.abs(meta.ttl - (record.expiresAt - this.now()) / 1000) > 1) {
      fail(`${describe(req)}: a replay's ttl ${meta.ttl}, the record has ${(record.expiresAt - this.now()) / 1000} s left`);
    }
    if (body.html !== record.html) fail(`${describe(req)}: the replay's html differs from the original:\n${body.html}\n---\n${record.html}`);
    if (!isDeepStrictEqual(body.state, record.state)) fail(`${describe(req)}: the replay's state ${JSON.stringify(body.state)}, original ${JSON.stringify(record.state)}`);
    if (res.headers['idempotent-replayed'] !== 'true') fail(`${describe(req)}: a replay without Idempotent-Replayed: true`);
    this.stats.replays++;
  }

  private expectStatus(req: ActionRequest, res: LightMyRequestResponse, status: number): void {
    if (res.statusCode !== status) fail(`${describe(req)}: status ${res.statusCode}, model ${status}: ${res.body.slice(0, 400)}`);
    if (status === 200) {
      const body = res.json() as { csrf_token?: unknown; html?: unknown };
      if (typeof body.csrf_token !== 'string' || typeof body.html !== 'string') fail(`${describe(req)}: a 200 without html or csrf_token`);
      if (!body.html.includes(`data-lc-id="${req.component}:main"`)) fail(`${describe(req)}: html without its root element: ${body.html.slice(0, 200)}`);
      req.session.token = body.csrf_token;
    }
  }

  private expectError(req: ActionRequest, res: LightMyRequestResponse, status: number, code: string): void {
    const got = res.statusCode === 200 ? undefined : (res.json() as { code?: string }).code;
    if (res.statusCode !== status || got !== code) fail(`${describe(req)}: ${res.statusCode} ${got ?? ''}, model ${status} ${code}: ${res.body.slice(0, 400)}`);
  }

  /** PROTOCOL §3's shapes: the error envelope, the rate-limit headers, 429's fields. */
  private checkShape(req: ActionRequest, res: LightMyRequestResponse): void {
    const policy = POLICY[`${req.component}.${req.action}`] as { limit: number; window: number };
    if (res.headers['cache-control'] !== 'no-store') fail(`${describe(req)}: Cache-Control ${String(res.headers['cache-control'])}`);
    if (res.statusCode !== 200) {
      const body = res.json() as Record<string, unknown>;
      if (typeof body.error !== 'string' || typeof body.code !== 'string' || typeof body.request_id !== 'string') fail(`${describe(req)}: error body ${res.body}`);
      this.stats.byCode[body.code] = (this.stats.byCode[body.code] ?? 0) + 1;
      if (!DOCUMENTED_CODES.has(body.code)) fail(`${describe(req)}: code ${body.code} is not in docs/reference/errors.md`);
      if (res.headers['x-request-id'] !== body.request_id) fail(`${describe(req)}: X-Request-Id ${String(res.headers['x-request-id'])} != request_id ${body.request_id}`);
      if (res.statusCode === 429) {
        const retry = body.retry_after;
        if (body.code !== 'RATE_LIMIT_EXCEEDED' || !Number.isInteger(retry) || (retry as number) < 1 || body.limit !== policy.limit || body.window !== policy.window) {
          fail(`${describe(req)}: 429 body ${res.body}, expected retry_after >= 1, limit ${policy.limit}, window ${policy.window}`);
        }
        if (res.headers['retry-after'] !== String(retry)) fail(`${describe(req)}: Retry-After ${String(res.headers['retry-after'])} != retry_after ${String(retry)}`);
        // RateLimit's t is the wait for more quota: on a 429, Retry-After (docs/security.md §2).
        const t = /;t=(\d+)/.exec(String(res.headers.ratelimit))?.[1];
        if (t !== String(retry) || res.headers['x-ratelimit-remaining'] !== '0') fail(`${describe(req)}: 429 with RateLimit ${String(res.headers.ratelimit)}, X-RateLimit-Remaining ${String(res.headers['x-ratelimit-remaining'])}; expected t=${String(retry)}, 0`);
      }
    }
    if (res.statusCode === 403) return; // the address's budget (docs/security.md §2), not this client's
    const limit = res.headers['x-ratelimit-limit'];
    const remaining = Number(res.headers['x-ratelimit-remaining']);
    if (limit !== String(policy.limit) || !Number.isInteger(remaining) || remaining < 0 || remaining > policy.limit || !/^\d+$/.test(String(res.headers['x-ratelimit-reset']))) {
      fail(`${describe(req)}: rate-limit headers ${JSON.stringify({ limit, remaining: res.headers['x-ratelimit-remaining'], reset: res.headers['x-ratelimit-reset'] })}, limit ${policy.limit}`);
    }
    if (res.headers['ratelimit-policy'] === undefined || res.headers.ratelimit === undefined) fail(`${describe(req)}: no RateLimit-Policy / RateLimit`);
  }

  // --- rate limits --------------------------------------------------------------------------

  /**
   * Which of `reqs` (sent at once within [t0, t1], valid tokens) the limiter admitted (anything
   * but 429), checked against GCRA: per budget, the admissions must be possible one after another,
   * and a refusal possible after them. Requests with other tokens never reach the limiter.
   */
  private admitGroup(reqs: ActionRequest[], answers: LightMyRequestResponse[], t0: number, t1: number): boolean[] {
    const admitted = answers.map((res, i) => (reqs[i] as ActionRequest).token === 'valid' && res.statusCode !== 429);
    const byBucket = new Map<string, number[]>();
    for (const [i, req] of reqs.entries()) {
      if (req.token !== 'valid') continue;
      const k = `${rateClient(req.session)}|${req.component}.${req.action}`;
      byBucket.set(k, [...(byBucket.get(k) ?? []), i]);
    }
    for (const [k, indices] of byBucket) {
      const policy = POLICY[k.split('|')[1] as string] as { limit: number; window: number };
      const T = (policy.window * 1000) / policy.limit;
      const slack = policy.window * 1000 - T;
      const b = this.buckets.get(k) ?? { lo: -Infinity, hi: -Infinity };
      const yes = indices.filter((i) => admitted[i]).length;
      for (let j = 0; j < yes; j++) {
        // Admitted at some t in [t0, t1] needs TAT - t <= slack: impossible if even the latest t fails.
        if (b.lo - t1 > slack + 1) fail(`${k}: admission ${j + 1} of ${yes} in a group of ${indices.length}, but the model's budget is spent (arrival ${b.lo - t1} ms ahead of the latest possible time, slack ${slack})`);
        b.lo = Math.max(b.lo, t0) + T;
        b.hi = Math.max(b.hi, t1) + T;
      }
      if (indices.length === 1 && yes === 1) {
        // X-RateLimit-Remaining after this admission: floor((depth - (TAT - t)) / T), t in [t0, t1]
        // (one more either way for the store's rounding to its grid).
        const depth = policy.window * 1000;
        const low = Math.max(0, Math.floor((depth - (b.hi - t0)) / T) - 1);
        const high = Math.min(policy.limit - 1, Math.floor((depth - (b.lo - t1)) / T) + 1);
        const i = indices[0] as number;
        const told = Number((answers[i] as LightMyRequestResponse).headers['x-ratelimit-remaining']);
        if (!(told >= low && told <= high)) fail(`${k}: X-RateLimit-Remaining ${told} after an admission, the model allows ${low}..${high}`);
      }
      if (yes < indices.length && b.hi - t0 <= slack - 1) {
        fail(`${k}: ${indices.length - yes} of ${indices.length} refused with 429, but the model's budget still had room after ${yes} admissions`);
      }
      this.buckets.set(k, b);
    }
    return admitted;
  }

  // --- pages and the end --------------------------------------------------------------------

  private async pageView(s: Session, component: Component, instance: number): Promise<void> {
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

/** The idempotency scope (docs/security.md §3): the user when signed in, else the session id (a sign-in or sign-out starts a new one). */
function scopeOf(s: Session): string {
  return s.user ?? `session:${s.cookie}`;
}

/** The rate-limit client (PROTOCOL §2): the user, else the address. */
function rateClient(s: Session): string {
  return s.user === null ? `ip:${s.ip}` : `user:${s.user}`;
}

function recordKey(req: ActionRequest): string {
  return `${scopeOf(req.session)}|${req.key as string}`;
}

function fingerprint(req: ActionRequest): string {
  return JSON.stringify([req.component, req.action, req.params]);
}

function describe(req: ActionRequest): string {
  const key = req.badKey !== undefined ? ` bad key (${req.badKey})` : req.key === undefined ? '' : ` key=${req.key}`;
  return `${req.session.name}@${req.instance} ${req.component}.${req.action}(${JSON.stringify(req.params)}) token=${req.token}${key}`;
}

function sessionCookie(res: LightMyRequestResponse): string | undefined {
  const set = res.headers['set-cookie'];
  const lines = Array.isArray(set) ? set : set === undefined ? [] : [set];
  return lines.map((c) => c.split(';')[0] as string).find((c) => c.startsWith('lc_session='));
}

function tokenOf(body: string): string {
  return /<meta name="csrf-token" content="([^"]+)"/.exec(body)?.[1] ?? fail('no csrf-token meta tag in the page');
}

/** A token of the right shape whose last character is changed. */
function forged(token: string): string {
  const last = token.at(-1) === 'A' ? 'B' : 'A';
  return `${token.slice(0, -1)}${last}`;
}

function renderedValue(component: Component, body: string): number {
  const pattern = component === 'counter' ? /<output data-count[^>]*>(-?\d+)<\/output>/ : component === 'order' ? /<output data-orders>(\d+)<\/output>/ : /<output data-balance>(-?\d+)<\/output>/;
  const m = pattern.exec(body);
  return m === null ? fail(`no rendered ${component} value in the page`) : Number(m[1]);
}
