/**
 * The model probe's vocabulary (test/helpers/model-probe.ts): the target it drives, the simulated
 * sessions and action requests, the policies of PROTOCOL §2, what the model predicts of params
 * and state alone, and reading pages and cookies. No I/O and no randomness here.
 */
import type { InjectOptions, LightMyRequestResponse } from 'fastify';

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

export type Component = 'counter' | 'order' | 'payment';
export const PAGE_OF: Record<Component, string> = { counter: '/', order: '/orders', payment: '/payment' };
export const ACTION_ROUTE = '/api/livecomponents/action';
export const PASSWORD = 'correct horse battery staple';

/** The policies of PROTOCOL §2: limit per window (seconds); idempotency TTL. */
export const POLICY: Record<string, { limit: number; window: number; ttl: number }> = {
  'counter.increment': { limit: 60, window: 60, ttl: 3600 },
  'counter.decrement': { limit: 60, window: 60, ttl: 3600 },
  'order.createOrder': { limit: 60, window: 60, ttl: 3600 },
  'payment.processPayment': { limit: 5, window: 300, ttl: 86_400 },
};

/** Every code docs/reference/errors.md lists. */
export interface Session {
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

export interface IdemRecord {
  fingerprint: string;
  html: string;
  state: unknown;
  createdAt: string;
  /** When the record is gone (the run's time plus the action's idempotencyTTL). */
  expiresAt: number;
}

export type TokenKind = 'valid' | 'foreign' | 'stale' | 'none';

export interface ActionRequest {
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

export function fail(message: string): never {
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

/** The idempotency scope (docs/security.md §3): the user when signed in, else the session id (a sign-in or sign-out starts a new one). */
export function scopeOf(s: Session): string {
  return s.user ?? `session:${s.cookie}`;
}

/** The rate-limit client (PROTOCOL §2): the user, else the address. */
export function rateClient(s: Session): string {
  return s.user === null ? `ip:${s.ip}` : `user:${s.user}`;
}

export function recordKey(req: ActionRequest): string {
  return `${scopeOf(req.session)}|${req.key as string}`;
}

export function fingerprint(req: ActionRequest): string {
  return JSON.stringify([req.component, req.action, req.params]);
}

export function describe(req: ActionRequest): string {
  const key = req.badKey !== undefined ? ` bad key (${req.badKey})` : req.key === undefined ? '' : ` key=${req.key}`;
  return `${req.session.name}@${req.instance} ${req.component}.${req.action}(${JSON.stringify(req.params)}) token=${req.token}${key}`;
}

export function sessionCookie(res: LightMyRequestResponse): string | undefined {
  const set = res.headers['set-cookie'];
  const lines = Array.isArray(set) ? set : set === undefined ? [] : [set];
  return lines.map((c) => c.split(';')[0] as string).find((c) => c.startsWith('lc_session='));
}

export function tokenOf(body: string): string {
  return /<meta name="csrf-token" content="([^"]+)"/.exec(body)?.[1] ?? fail('no csrf-token meta tag in the page');
}

/** A token of the right shape whose last character is changed. */
export function forged(token: string): string {
  const last = token.at(-1) === 'A' ? 'B' : 'A';
  return `${token.slice(0, -1)}${last}`;
}

export function renderedValue(component: Component, body: string): number {
  const pattern = component === 'counter' ? /<output data-count[^>]*>(-?\d+)<\/output>/ : component === 'order' ? /<output data-orders>(\d+)<\/output>/ : /<output data-balance>(-?\d+)<\/output>/;
  const m = pattern.exec(body);
  return m === null ? fail(`no rendered ${component} value in the page`) : Number(m[1]);
}

/** Whether the action's schema refuses `req`'s params (PROTOCOL §2). */
export function schemaRefuses(req: ActionRequest): boolean {
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
export function refusalOf(req: ActionRequest): string | null {
  if (schemaRefuses(req)) return 'VALIDATION_FAILED';
  if (req.component === 'payment') return (req.params.amount as number) > req.session.balance ? 'VALIDATION_FAILED' : null;
  return null;
}
