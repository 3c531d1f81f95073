import { describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../core/clock.js';
import { defineComponent, NEVER_ABORTED, type ComponentDefinition, type ResolvedAction, type User } from '../../core/component.js';
import { StoreUnavailableError } from '../../core/errors.js';
import { html } from '../../core/html.js';
import { memorySecurityEvents } from '../../ops/security-events.js';
import { createMemoryStore } from '../../store/memory/index.js';
import type { Store } from '../../store/types.js';
import { createActionContext, ok, type ActionContext, type Outcome } from '../types.js';
import { createRateLimitStage, type RateLimitStageOptions } from './index.js';
import { createRouteLimiter } from './route-limiter.js';

const T0 = Date.UTC(2026, 0, 15, 10, 30);
const T0_S = T0 / 1000;

const keep = { run: (s: { n: number }) => s };
const counter = defineComponent({
  name: 'counter',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: { increment: keep, decrement: keep },
  render: () => html``,
});
const payment = defineComponent({
  name: 'payment',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: { processPayment: { ...keep, rateLimit: 5, rateLimitWindow: 300 } },
  render: () => html``,
});
const search = defineComponent({
  name: 'search',
  initialState: { n: 0 },
  publicState: ['n'],
  actions: {
    query: { ...keep, rateLimit: 10, anonymousLimit: 3 },
    exact: { ...keep, rateLimit: 3, rateLimitWindow: 10, rateLimitAlgorithm: 'sliding-window' },
    single: { ...keep, rateLimit: 1, rateLimitWindow: 3600 },
  },
  render: () => html``,
});

const alice: User = { id: 'alice', email: 'alice@example.com', name: null };
const bob: User = { id: 'bob', email: 'bob@example.com', name: null };

/** A minimal action context: only what the stage reads is meaningful. */
function makeCtx(o: { component?: ComponentDefinition; action?: string | ResolvedAction; user?: User | null; ip?: string } = {}): ActionContext {
  const component = o.component ?? counter;
  const action = typeof o.action === 'object' ? o.action : component.actions.get(o.action ?? 'increment');
  if (action === undefined) throw new Error('test: unknown action');
  const user = o.user ?? null;
  const componentId = `${component.name}:main`;
  return createActionContext({
    request: { requestId: 'req-1', ip: o.ip ?? '203.0.113.7', method: 'POST', url: '/api/livecomponents/action', headers: { cookie: 'lc_session=SECRET' } },
    body: { componentId, action: action.name, params: {}, csrfToken: undefined, idempotencyKey: undefined },
    session: { id: 'SECRET', key: 'session-key', userId: user?.id ?? null, createdAt: T0 },
    user,
    component,
    action,
    componentContext: { user, componentId, instance: 'main', signal: NEVER_ABORTED },
  });
}

function setup(options: Partial<RateLimitStageOptions> = {}) {
  const clock = manualClock(T0);
  const store = createMemoryStore({ clock, sweepIntervalMs: 0 });
  const events = memorySecurityEvents();
  const stage = createRateLimitStage({ store, clock, events, ...options });
  const next = vi.fn((_ctx: ActionContext): Promise<Outcome> => Promise.resolve(ok({ html: '', state: {} })));
  const call = (o: Parameters<typeof makeCtx>[0] = {}) => {
    const ctx = makeCtx(o);
    return stage.run(ctx, next).then((outcome) => ({ outcome, headers: ctx.headers, ctx }));
  };
  /** Calls `times` times in sequence; returns how many were admitted. */
  const admitted = async (times: number, o: Parameters<typeof makeCtx>[0] = {}) => {
    let n = 0;
    for (let i = 0; i < times; i++) if ((await call(o)).outcome.type === 'ok') n++;
    return n;
  };
  return { clock, store, events, stage, next, call, admitted };
}

function errorOf(outcome: Outcome) {
  if (outcome.type !== 'error') throw new Error('expected a refusal');
  return outcome.error;
}

describe('rate-limit stage', () => {
  it('is named rate-limit and admits exactly 60 per 60 s by default, with exact headers', async () => {
    const { stage, call, admitted, clock } = setup();
    expect(stage.name).toBe('rate-limit');
    const first = await call();
    expect(first.headers).toEqual({
      'x-ratelimit-limit': '60',
      'x-ratelimit-remaining': '59',
      'x-ratelimit-reset': String(T0_S + 1),
      'ratelimit-policy': '"default";q=60;w=60',
      ratelimit: '"default";r=59;t=1',
    });
    expect(await admitted(60)).toBe(59);
    const refused = await call();
    expect(refused.headers).toEqual({
      'x-ratelimit-limit': '60',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(T0_S + 60),
      'ratelimit-policy': '"default";q=60;w=60',
      // `t`: when more quota comes (one token, in 1 s), as Retry-After says; full again only at the reset.
      ratelimit: '"default";r=0;t=1',
    });
    expect(errorOf(refused.outcome)).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED', statusCode: 429, fields: { retry_after: 1, limit: 60, window: 60 } });
    clock.advance(1_500);
    const later = await call();
    expect(later.outcome.type).toBe('ok');
    expect(later.headers).toMatchObject({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(T0_S + 61), ratelimit: '"default";r=0;t=1' });
    const again = await call();
    expect(again.headers).toMatchObject({ 'x-ratelimit-reset': String(T0_S + 61), ratelimit: '"default";r=0;t=1' });
    expect(errorOf(again.outcome).fields?.retry_after).toBe(1);
  });

  it('lets exactly 60 of 200 concurrent calls reach next', async () => {
    const { call, next } = setup();
    const outcomes = await Promise.all(Array.from({ length: 200 }, () => call()));
    expect(next).toHaveBeenCalledTimes(60);
    expect(outcomes.filter((o) => o.outcome.type === 'error')).toHaveLength(140);
  });

  it('applies per-action limits: 5 per 300 s, the sixth is a 429 with retry_after 60', async () => {
    const { call, admitted, events } = setup();
    expect(await admitted(5, { component: payment, action: 'processPayment' })).toBe(5);
    const sixth = await call({ component: payment, action: 'processPayment' });
    const error = errorOf(sixth.outcome);
    expect(error.statusCode).toBe(429);
    expect(error.fields).toEqual({ retry_after: 60, limit: 5, window: 300 });
    expect(error.headers).toEqual({ 'retry-after': '60' });
    expect(sixth.headers).toEqual({
      'x-ratelimit-limit': '5',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(T0_S + 300),
      'ratelimit-policy': '"default";q=5;w=300',
      ratelimit: '"default";r=0;t=60',
    });
    expect(events.events).toHaveLength(1);
    const [event] = events.events;
    expect(event).toMatchObject({ event: 'excess_rate_limit_exceeded', level: 'WARN', request: sixth.ctx.request });
    expect(event?.description).toContain('payment.processPayment');
    expect(event?.description).not.toContain('SECRET');
  });

  it('uses anonymousLimit for signed-out clients and rateLimit for users', async () => {
    const { admitted, call } = setup();
    expect(await admitted(12, { component: search, action: 'query' })).toBe(3);
    expect((await call({ component: search, action: 'query' })).headers['x-ratelimit-limit']).toBe('3');
    expect(await admitted(12, { component: search, action: 'query', user: alice })).toBe(10);
    expect((await call({ component: search, action: 'query', user: alice })).headers['x-ratelimit-limit']).toBe('10');
  });

  it('keeps separate budgets per action and per client', async () => {
    const { admitted } = setup();
    const single = { component: search, action: 'single' };
    expect(await admitted(3, single)).toBe(1);
    expect(await admitted(3, { component: search, action: 'query' })).toBe(3);
    expect(await admitted(3, { ...single, ip: '198.51.100.1' })).toBe(1);
    expect(await admitted(3, { ...single, user: alice })).toBe(1);
    expect(await admitted(3, { ...single, user: bob })).toBe(1);
    // The user budget follows the user, whatever the IP.
    expect(await admitted(1, { ...single, user: alice, ip: '198.51.100.99' })).toBe(0);
  });

  it('counts a signed-out IPv6 client by its /56: 200 addresses of one network share one budget of 5', async () => {
    const { call, next, store } = setup();
    const spy = vi.spyOn(store, 'rateLimit');
    const pay = { component: payment, action: 'processPayment' };
    // Any address a host of 2001:db8:ab:cd00::/56 may take, in its many spellings, concurrently.
    const ips = Array.from({ length: 200 }, (_, i) =>
      i % 3 === 0 ? `2001:db8:ab:cd${(i % 256).toString(16).padStart(2, '0')}::${i.toString(16)}` : i % 3 === 1 ? `2001:0db8:00ab:cd00:${i}::1` : `2001:db8:ab:cd00::${i}:0:1`,
    );
    const outcomes = await Promise.all(ips.map((ip) => call({ ...pay, ip })));
    expect(next).toHaveBeenCalledTimes(5);
    expect(outcomes.filter((o) => o.outcome.type === 'error')).toHaveLength(195);
    expect(new Set(spy.mock.calls.map(([key]) => key)).size).toBe(1);
    // The next network over, an IPv4 client and a signed-in user on that network have budgets of their own.
    expect(await call({ ...pay, ip: '2001:db8:ab:ce00::1' }).then((o) => o.outcome.type)).toBe('ok');
    expect(await call({ ...pay, ip: '203.0.113.7' }).then((o) => o.outcome.type)).toBe('ok');
    expect(await call({ ...pay, ip: '2001:db8:ab:cd00::1', user: alice }).then((o) => o.outcome.type)).toBe('ok');
  });

  it('ipv6PrefixLength sets the network size (128: each address alone); IPv4-mapped addresses count as IPv4', async () => {
    const single = { component: search, action: 'single' };
    const per64 = setup({ ipv6PrefixLength: 64 });
    expect(await per64.admitted(2, { ...single, ip: '2001:db8:0:1::1' })).toBe(1);
    expect(await per64.admitted(2, { ...single, ip: '2001:db8:0:1:ffff::2' })).toBe(0);
    expect(await per64.admitted(2, { ...single, ip: '2001:db8:0:2::1' })).toBe(1);
    const exact = setup({ ipv6PrefixLength: 128 });
    expect(await exact.admitted(2, { ...single, ip: '2001:db8::1' })).toBe(1);
    expect(await exact.admitted(2, { ...single, ip: '2001:db8::2' })).toBe(1);
    const mapped = setup();
    expect(await mapped.admitted(1, { ...single, ip: '203.0.113.9' })).toBe(1);
    expect(await mapped.admitted(1, { ...single, ip: '::ffff:203.0.113.9' })).toBe(0);
    expect(await mapped.admitted(1, { ...single, ip: '::ffff:cb00:7109' })).toBe(0);
    expect(await mapped.admitted(1, { ...single, ip: '203.0.113.10' })).toBe(1);
    for (const bad of [0, 31, 129, 56.5]) {
      expect(() => createRateLimitStage({ store: createMemoryStore({ sweepIntervalMs: 0 }), events: memorySecurityEvents(), ipv6PrefixLength: bad }), String(bad)).toThrow(TypeError);
    }
  });

  it('skips allowlisted IPv4 and IPv6 ranges entirely (no store call, no headers)', async () => {
    const { call, admitted, store } = setup({ allowlist: ['10.0.0.0/8', '2001:db8::/32', '192.168.1.7'] });
    const spy = vi.spyOn(store, 'rateLimit');
    const single = { component: search, action: 'single' };
    for (const ip of ['10.1.2.3', '10.255.255.255', '::ffff:10.9.9.9', '2001:db8::1', '2001:db8:ffff::5', '192.168.1.7']) {
      expect(await admitted(5, { ...single, ip }), ip).toBe(5);
    }
    expect(spy).not.toHaveBeenCalled();
    expect((await call({ ...single, ip: '10.1.2.3' })).headers).toEqual({});
    for (const ip of ['11.0.0.1', '2001:db9::1', '192.168.1.8', '::1']) {
      expect(await admitted(3, { ...single, ip }), ip).toBe(1);
    }
  });

  it('refuses malformed allowlist entries and defaults at construction', () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const events = memorySecurityEvents();
    for (const entry of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/8x', '::/129', 'localhost', '']) {
      expect(() => createRateLimitStage({ store, events, allowlist: [entry] }), entry).toThrow(TypeError);
    }
    expect(() => createRateLimitStage({ store, events, defaults: { limit: 0 } })).toThrow(TypeError);
    expect(() => createRateLimitStage({ store, events, defaults: { algorithm: 'leaky' as 'gcra' } })).toThrow(TypeError);
    expect(() => createRateLimitStage({ store, events, defaults: { windowSeconds: 1.5 } })).toThrow(TypeError);
    expect(() => createRateLimitStage({ store, events, defaults: { windowSeconds: 1e306 } })).toThrow(/whole number of seconds/);
    // Past what every store takes (2^40 ms, 2^31 − 1): refused here rather than by the store at each request.
    expect(() => createRateLimitStage({ store, events, defaults: { windowSeconds: 2 ** 40 / 1000 + 1 } })).toThrow(
      'Rate limit: defaults.windowSeconds must be a positive whole number of seconds, at most 1099511627 (about 34 years)',
    );
    expect(() => createRateLimitStage({ store, events, defaults: { limit: 2 ** 31 } })).toThrow('Rate limit: defaults.limit must be a positive integer, at most 2147483647');
    expect(() => createRateLimitStage({ store, events, defaults: { limit: 2 ** 31 - 1, windowSeconds: 1_099_511_627 } })).not.toThrow();
    // A route limiter (the auth API's per-endpoint limits) checks its routes with the same bounds.
    const route = (limit: number, windowSeconds: number) => () => createRouteLimiter({ name: '~auth', routes: { login: { limit, windowSeconds } }, store, events, algorithm: 'gcra' });
    expect(route(2 ** 31, 60)).toThrow('Rate limit: ~auth.login.limit must be a positive integer, at most 2147483647');
    expect(route(5, 1_099_511_628)).toThrow('Rate limit: ~auth.login.windowSeconds must be a positive whole number of seconds, at most 1099511627 (about 34 years)');
    expect(route(2 ** 31 - 1, 1_099_511_627)).not.toThrow();
  });

  it('honours the defaults option', async () => {
    const { admitted, call } = setup({ defaults: { limit: 2, windowSeconds: 10, algorithm: 'sliding-window' } });
    expect(await admitted(5)).toBe(2);
    expect((await call()).headers['ratelimit-policy']).toBe('"default";q=2;w=10');
  });

  it('is exact with the sliding-window algorithm', async () => {
    const { call, clock } = setup();
    const exact = { component: search, action: 'exact' };
    for (const at of [0, 2_500, 5_000]) {
      clock.set(T0 + at);
      expect((await call(exact)).outcome.type).toBe('ok');
    }
    clock.set(T0 + 6_000);
    const refused = await call(exact);
    expect(errorOf(refused.outcome).fields).toEqual({ retry_after: 4, limit: 3, window: 10 });
    expect(refused.headers).toMatchObject({ 'x-ratelimit-reset': String(T0_S + 15), ratelimit: '"default";r=0;t=4' });
    clock.set(T0 + 9_999);
    expect(errorOf((await call(exact)).outcome).fields?.retry_after).toBe(1);
    clock.set(T0 + 10_000);
    expect((await call(exact)).outcome.type).toBe('ok');
    expect(errorOf((await call(exact)).outcome).fields?.retry_after).toBe(3);
  });

  it('fails closed by default: the store error is rethrown and next is not called', async () => {
    const down = new StoreUnavailableError('redis is down');
    const store: Store = { ...createMemoryStore({ sweepIntervalMs: 0 }), rateLimit: () => Promise.reject(down) };
    const { call, next } = setup({ store });
    await expect(call()).rejects.toBe(down);
    expect(next).not.toHaveBeenCalled();
  });

  it('fails open when asked: onFailOpen hears the error and the request goes on', async () => {
    const down = new StoreUnavailableError('redis is down');
    const onFailOpen = vi.fn();
    const store: Store = { ...createMemoryStore({ sweepIntervalMs: 0 }), rateLimit: () => Promise.reject(down) };
    const { call, next } = setup({ store, failOpen: true, onFailOpen });
    const { outcome, headers } = await call();
    expect(outcome.type).toBe('ok');
    expect(next).toHaveBeenCalledTimes(1);
    expect(onFailOpen).toHaveBeenCalledWith(down);
    expect(headers).toEqual({});
  });

  it('resolves each action’s policy once', async () => {
    let reads = 0;
    const action: ResolvedAction = {
      name: 'custom',
      params: undefined,
      authorize: undefined,
      run: (s) => s,
      get rateLimit() {
        reads++;
        return 2;
      },
    };
    const { admitted } = setup();
    expect(await admitted(5, { action })).toBe(2);
    expect(reads).toBe(1);
  });
});

describe('rate-limit headers before the step (headersBeforeStep)', () => {
  const FIELDS = (remaining: number, used: number) => ({
    'x-ratelimit-limit': '60',
    'x-ratelimit-remaining': String(remaining),
    'x-ratelimit-reset': String(T0_S + used),
    'ratelimit-policy': '"default";q=60;w=60',
    ratelimit: `"default";r=${remaining};t=${used === 0 ? 0 : 1}`,
  });

  it("shows the budget of the request's address (IPv6 by network), never the claimed user's, charging nothing", async () => {
    const { stage, call } = setup();
    await call({ user: alice });
    await call({ ip: '2001:db8:aa:bb00::1' });
    await call({ ip: '2001:db8:aa:bb00::1' });
    for (let i = 0; i < 3; i++) {
      // No step was taken (the CSRF check failed): the user is only claimed by the cookie.
      const claimed = makeCtx({ user: alice, ip: '198.51.100.9' });
      await stage.headersBeforeStep(claimed);
      expect(claimed.headers).toEqual(FIELDS(60, 0));
      // Another address of the same /56 is the same anonymous client, whoever the cookie names.
      const sameNetwork = makeCtx({ user: bob, ip: '2001:db8:aa:bbff::7' });
      await stage.headersBeforeStep(sameNetwork);
      expect(sameNetwork.headers).toEqual(FIELDS(58, 2));
    }
    // The budgets were only read: the next steps are the second and the third.
    expect((await call({ user: alice })).headers).toEqual(FIELDS(58, 2));
    expect((await call({ ip: '2001:db8:aa:bb00::2' })).headers).toEqual(FIELDS(57, 3));
  });

  it('uses the decision its batch already took, keeps fields already there, and leaves out allowlisted clients', async () => {
    const { stage, store } = setup({ allowlist: ['192.0.2.0/24'] });
    const batch = vi.spyOn(store, 'batch');
    const prefetched = makeCtx({ user: alice });
    prefetched.prefetched = new Map([[stage, { allowed: true, limit: 60, remaining: 41, resetMs: 19_000, retryAfterMs: 0, nextMs: 1_000 }]]);
    await stage.headersBeforeStep(prefetched);
    expect(prefetched.headers).toEqual(FIELDS(41, 19));
    const stepped = makeCtx({ user: alice });
    stepped.headers['x-ratelimit-limit'] = '5';
    await stage.headersBeforeStep(stepped);
    expect(stepped.headers).toEqual({ 'x-ratelimit-limit': '5' });
    const allowlisted = makeCtx({ ip: '192.0.2.10' });
    await stage.headersBeforeStep(allowlisted);
    expect(allowlisted.headers).toEqual({});
    expect(batch).not.toHaveBeenCalled();
  });

  it('resolves without the fields when the store fails', async () => {
    const store: Store = { ...createMemoryStore({ sweepIntervalMs: 0 }), batch: () => Promise.reject(new StoreUnavailableError('down')) };
    const { stage } = setup({ store });
    const ctx = makeCtx({ user: alice });
    await expect(stage.headersBeforeStep(ctx)).resolves.toBeUndefined();
    expect(ctx.headers).toEqual({});
  });
});
