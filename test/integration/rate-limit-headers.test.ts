/**
 * PROTOCOL §3: rate-limit headers on every action response — refusals before the rate-limit step
 * included (CSRF, a session that is gone, strict mode's spent token), with the true numbers of the
 * client and action, and without charging the budget (a forged-token request must not spend a
 * signed-in user's budget). On memory and on Redis (its own server), on a manual clock, so every
 * header value is exact: GCRA 60 per 60 s, one request back per second, so after `used` steps at
 * one instant the budget shows `60 - used` remaining, a reset `used` seconds on, and `t=1`.
 */
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counter } from '../../examples/demo/components/counter.js';
import { manualClock } from '../../src/core/clock.js';
import { livecomponents } from '../../src/http/plugin.js';
import { serverOptions } from '../../src/http/server-options.js';
import type { LiveRuntime } from '../../src/runtime/index.js';
import type { LiveComponentsOptions } from '../../src/runtime/setup.js';
import type { Session } from '../../src/session/types.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import type { Store } from '../../src/store/types.js';
import { testRuntime } from '../helpers/demo.js';
import { REDIS_AVAILABLE, startRedis, useRedisServer } from '../redis/server.js';
import { waitUntil } from '../helpers/wait-until.js';

const ORIGIN = 'http://localhost:3000';
const FIELDS = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'ratelimit-policy', 'ratelimit'] as const;

function fields(res: LightMyRequestResponse): Record<string, unknown> {
  return Object.fromEntries(FIELDS.map((name) => [name, res.headers[name]]));
}

interface Harness {
  app: FastifyInstance;
  runtime: LiveRuntime;
  clock: ReturnType<typeof manualClock>;
  /** The five fields of the budget of a client that took `used` steps at the clock's instant. */
  budget(used: number): Record<string, string>;
  /** A stored session (of `userId`, or anonymous) with `counter:main` mounted, its cookie and a token. */
  session(userId: string | null): Promise<{ session: Session; cookie: string; token: string }>;
  send(opts: { cookie?: string; token?: string; headers?: Record<string, string>; ip?: string }): Promise<LightMyRequestResponse>;
}

async function harness(store: Store, options: Partial<LiveComponentsOptions> = {}): Promise<Harness> {
  const clock = manualClock();
  const runtime = await testRuntime([counter], store, {
    clock,
    appOrigin: ORIGIN,
    resolveUser: (id) => Promise.resolve({ id, email: `${id}@example.com`, name: id }),
    ...options,
  });
  const app = Fastify(serverOptions());
  await app.register(livecomponents, { runtime });
  await app.ready();
  const cookieName = app.livecomponents.cookie.name;
  return {
    app,
    runtime,
    clock,
    budget(used) {
      const remaining = String(60 - used);
      return {
        'x-ratelimit-limit': '60',
        'x-ratelimit-remaining': remaining,
        'x-ratelimit-reset': String(clock.now() / 1000 + used),
        'ratelimit-policy': '"default";q=60;w=60',
        ratelimit: `"default";r=${remaining};t=${used === 0 ? 0 : 1}`,
      };
    },
    async session(userId) {
      const session = await runtime.sessions.regenerate(null, userId);
      await runtime.mount(session, 'counter:main');
      return { session, cookie: `${cookieName}=${session.id}`, token: await runtime.csrf.issue(session) };
    },
    send({ cookie, token, headers = {}, ip = '198.51.100.1' }) {
      return app.inject({
        method: 'POST',
        url: '/api/livecomponents/action',
        remoteAddress: ip,
        headers: {
          'content-type': 'application/json',
          ...(cookie === undefined ? {} : { cookie }),
          ...(token === undefined ? {} : { 'x-csrf-token': token }),
          ...headers,
        },
        payload: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
      });
    },
  };
}

function refusedWithBudget(res: LightMyRequestResponse, expected: Record<string, string>): void {
  expect(res.statusCode).toBe(403);
  expect(res.json().code).toBe('CSRF_TOKEN_INVALID');
  expect(fields(res)).toEqual(expected);
}

function admittedWithBudget(res: LightMyRequestResponse, expected: Record<string, string>): void {
  expect(res.statusCode).toBe(200);
  expect(fields(res)).toEqual(expected);
}

const backends: [string, () => Promise<{ store: () => Store; stop(): Promise<void> }>][] = [
  ['memory', async () => ({ store: () => createMemoryStore({ sweepIntervalMs: 0 }), stop: async () => {} })],
];
if (REDIS_AVAILABLE) {
  backends.push([
    'redis',
    async () => {
      const server = await startRedis();
      return { store: () => createRedisStore({ url: server.url, rateLimitClock: 'caller' }), stop: () => server.stop() };
    },
  ]);
}

describe.each(backends)('rate-limit headers on refusals before the rate-limit step (%s)', (_name, open) => {
  let backend: Awaited<ReturnType<typeof open>>;
  let h: Harness;
  let strict: Harness;
  let users = 0;
  const user = () => `user-${++users}`;

  beforeAll(async () => {
    backend = await open();
    h = await harness(backend.store());
    strict = await harness(backend.store(), { csrf: { rotation: 'per-action' } });
  });
  afterAll(async () => {
    await h?.app.close();
    await strict?.app.close();
    await backend?.stop();
  });

  /** Refusals of a signed-in user's request (cookie `a`, token `a.token`) that need no store. */
  const refusals: [string, (a: { cookie: string; token: string }, other: { token: string }) => Parameters<Harness['send']>[0]][] = [
    ['no token', (a) => ({ cookie: a.cookie })],
    ['a forged token', (a) => ({ cookie: a.cookie, token: 'v1.forged' })],
    ['a tampered token', (a) => ({ cookie: a.cookie, token: a.token.slice(0, -2) + (a.token.endsWith('AA') ? 'BA' : 'AA') })],
    ["another session's token", (a, other) => ({ cookie: a.cookie, token: other.token })],
    ['a cross-site Origin', (a) => ({ cookie: a.cookie, token: a.token, headers: { origin: 'https://evil.example' } })],
    ['Sec-Fetch-Site: cross-site', (a) => ({ cookie: a.cookie, token: a.token, headers: { 'sec-fetch-site': 'cross-site' } })],
    ['two token headers', (a) => ({ cookie: a.cookie, token: a.token, headers: { 'x-csrf-token': [a.token, a.token] as unknown as string } })],
  ];

  let addresses = 0;
  /** An address of its own per test: its anonymous budget starts full. */
  const address = () => `192.0.2.${++addresses}`;

  for (const [what, request] of refusals) {
    it(`refuses ${what} with the budget of its address in all five fields, charging nothing`, async () => {
      const ip = address();
      const a = await h.session(user());
      const other = await h.session(user());
      admittedWithBudget(await h.send({ ...a, ip }), h.budget(1));
      // The cookie is unverified (the CSRF check failed): the address's budget, untouched, not the user's.
      refusedWithBudget(await h.send({ ...request(a, other), ip }), h.budget(0));
      refusedWithBudget(await h.send({ ...request(a, other), ip }), h.budget(0));
      // The next action is the user's second step: the two refusals took none, of either budget.
      admittedWithBudget(await h.send({ ...a, ip }), h.budget(2));
      const anonymous = await h.session(null);
      admittedWithBudget(await h.send({ ...anonymous, ip }), h.budget(1));
    });
  }

  it("never shows a user's budget to a cookie that only names the user", async () => {
    const id = user();
    const victim = await h.session(id);
    for (let used = 1; used <= 3; used++) admittedWithBudget(await h.send(victim), h.budget(used));
    // Anyone can write a cookie naming a user id (the session part is then unknown to the store).
    const forged = victim.cookie.replace(/=[^.]+\./, `=${'A'.repeat(22)}.`);
    expect(forged).not.toBe(victim.cookie);
    for (const token of ['v1.forged', victim.token, undefined]) {
      refusedWithBudget(await h.send({ cookie: forged, token, ip: address() }), h.budget(0));
    }
    admittedWithBudget(await h.send(victim), h.budget(4));
  });

  it('refuses a request without a session cookie with the budget of its IP, charging nothing', async () => {
    const ip = '198.51.100.77';
    const anonymous = await h.session(null);
    admittedWithBudget(await h.send({ ...anonymous, ip }), h.budget(1));
    refusedWithBudget(await h.send({ token: anonymous.token, ip }), h.budget(1));
    refusedWithBudget(await h.send({ cookie: anonymous.cookie, ip }), h.budget(1));
    admittedWithBudget(await h.send({ ...anonymous, ip }), h.budget(2));
  });

  it("leaves a signed-in user's budget exactly as it was after 50 forged requests from a cross-site page", async () => {
    const victim = await h.session(user());
    admittedWithBudget(await h.send(victim), h.budget(1));
    for (let i = 0; i < 50; i++) {
      const res = await h.send({
        cookie: victim.cookie,
        token: i % 2 === 0 ? 'v1.forged' : undefined,
        headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
        ip: '203.0.113.66',
      });
      // The budget of the address they come from, untouched too.
      refusedWithBudget(res, h.budget(0));
    }
    admittedWithBudget(await h.send(victim), h.budget(2));
  });

  it('refuses a session that is gone with the numbers of the step its first batch took (charged: one step)', async () => {
    const id = user();
    const gone = await h.session(id);
    admittedWithBudget(await h.send(gone), h.budget(1));
    await h.runtime.sessions.destroy(gone.session);
    // The session read and the rate-limit step travel in one batch: the step is taken, and shown.
    refusedWithBudget(await h.send(gone), h.budget(2));
    const again = await h.session(id);
    admittedWithBudget(await h.send(again), h.budget(3));
  });

  it("refuses strict mode's spent token with the numbers of the step its batch took (charged: one step)", async () => {
    const a = await strict.session(user());
    const first = await strict.send(a);
    admittedWithBudget(first, strict.budget(1));
    // The spent token: its single use and the rate-limit step share the first batch.
    refusedWithBudget(await strict.send(a), strict.budget(2));
    // A forged token in strict mode: refused before the store, charging nothing (its address's budget shown).
    refusedWithBudget(await strict.send({ cookie: a.cookie, token: 'v1.forged', ip: address() }), strict.budget(0));
    admittedWithBudget(await strict.send({ cookie: a.cookie, token: first.json().csrf_token }), strict.budget(3));
  });

  it('keeps the fields of a refusal after the rate-limit step as they were (the step itself)', async () => {
    const a = await h.session(user());
    const res = await h.send({ ...a, headers: {} });
    admittedWithBudget(res, h.budget(1));
    // An unmounted instance: 404 from the state stage, after the step (which it shows).
    const missing = await h.app.inject({
      method: 'POST',
      url: '/api/livecomponents/action',
      remoteAddress: '198.51.100.1',
      headers: { 'content-type': 'application/json', cookie: a.cookie, 'x-csrf-token': a.token },
      payload: JSON.stringify({ component_id: 'counter:elsewhere', action: 'increment', params: {} }),
    });
    expect(missing.statusCode).toBe(404);
    expect(fields(missing)).toEqual(h.budget(2));
  });

  it('answers requests naming no known action without the fields (no policy applies)', async () => {
    const a = await h.session(user());
    for (const [componentId, action] of [
      ['nothing:main', 'increment'],
      ['counter:main', 'explode'],
    ]) {
      for (const token of [a.token, 'v1.forged']) {
        const res = await h.app.inject({
          method: 'POST',
          url: '/api/livecomponents/action',
          remoteAddress: '198.51.100.1',
          headers: { 'content-type': 'application/json', cookie: a.cookie, 'x-csrf-token': token },
          payload: JSON.stringify({ component_id: componentId, action, params: {} }),
        });
        expect(res.statusCode).toBe(token === a.token ? 404 : 403);
        expect(fields(res)).toEqual(Object.fromEntries(FIELDS.map((name) => [name, undefined])));
      }
    }
  });
});

describe('rate-limit headers for allowlisted clients', () => {
  it('leaves them out, refusals included, and reads nothing from the store for them', async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const h = await harness(store, { rateLimit: { allowlist: ['198.51.100.0/24'] } });
    try {
      const a = await h.session('user-allowed');
      const none = Object.fromEntries(FIELDS.map((name) => [name, undefined]));
      const ok = await h.send(a);
      expect(ok.statusCode).toBe(200);
      expect(fields(ok)).toEqual(none);
      let batches = 0;
      const batch = store.batch.bind(store);
      store.batch = (ops) => (batches++, batch(ops));
      for (const request of [{ cookie: a.cookie }, { cookie: a.cookie, token: 'v1.forged' }, { ...a, headers: { origin: 'https://evil.example' } }]) {
        const res = await h.send(request);
        expect(res.statusCode).toBe(403);
        expect(fields(res)).toEqual(none);
      }
      expect(batches).toBe(0);
    } finally {
      await h.app.close();
    }
  });
});

describe.skipIf(!REDIS_AVAILABLE)('rate-limit headers when Redis is down', () => {
  const redis = useRedisServer();
  let h: Harness;

  beforeAll(async () => {
    h = await harness(createRedisStore({ url: redis.server.url, rateLimitClock: 'caller', commandTimeoutMs: 200 }));
  });
  afterAll(async () => {
    await h?.app.close();
  });

  it('answers 503 without the fields, and a CSRF refusal without them (its peek failed), then works again', async () => {
    const a = await h.session('user-down');
    admittedWithBudget(await h.send(a), h.budget(1));
    const none = Object.fromEntries(FIELDS.map((name) => [name, undefined]));
    // Hanging (the peek runs out of time), then gone (the peek fails at once).
    redis.server.pause();
    const hanging = await h.send({ cookie: a.cookie, token: 'v1.forged' });
    expect(hanging.statusCode).toBe(403);
    expect(fields(hanging)).toEqual(none);
    redis.server.resume();
    await redis.server.kill();
    const down = await h.send(a);
    expect(down.statusCode).toBe(503);
    expect(down.json().code).toBe('SERVICE_UNAVAILABLE');
    expect(fields(down)).toEqual(none);
    const refused = await h.send({ cookie: a.cookie, token: 'v1.forged' });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('CSRF_TOKEN_INVALID');
    expect(fields(refused)).toEqual(none);
    // Back up (an empty Redis: the session is gone, and the step of that refusal is the first).
    await redis.server.restart();
    await waitUntil('the store to answer health() again', () => h.runtime.store.health().then(() => true, () => false));
    const fresh = await h.session('user-down');
    admittedWithBudget(await h.send(fresh), h.budget(1));
  });
});
