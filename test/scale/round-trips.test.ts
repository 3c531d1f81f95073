/**
 * Store round trips per action on Redis, counted by the store's `onRoundTrip` hook: one batch
 * before the action and one after, whatever the outcome (ARCHITECTURE: at most two). Strict CSRF
 * mode too: the token's nonce is spent in the first batch, the response's token placed in the second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counter } from '../../examples/demo/components/counter.js';
import type { ComponentDefinition } from '../../src/core/component.js';
import { SESSION_COOKIE } from '../../src/core/wire.js';
import type { LiveRuntime, RuntimeResponse } from '../../src/runtime/index.js';
import type { Session } from '../../src/session/types.js';
import { createMemoryStore } from '../../src/store/memory/index.js';
import { createRedisStore } from '../../src/store/redis/index.js';
import { demoApp, testRuntime, type TestClient } from '../helpers/demo.js';
import { REDIS_AVAILABLE, useRedisServer } from '../redis/server.js';

/** The round trips of the store, as its `onRoundTrip` hook reports them (both suites share it). */
let trips: string[] = [];

/**
 * How far apart the requests of a burst start: at once, a few microtasks apart, one turn of the
 * event loop apart. Each spacing interleaves the steps of concurrent requests differently (one
 * request's spend between another's spend and its claim, its claim answered before another's…).
 */
const SPACINGS: readonly (() => Promise<void>)[] = [
  () => Promise.resolve(),
  async () => {
    for (let i = 0; i < 2; i++) await Promise.resolve();
  },
  async () => {
    for (let i = 0; i < 3; i++) await Promise.resolve();
  },
  () => new Promise((resolve) => setImmediate(resolve)),
];

/**
 * Bursts of `n` concurrent actions through `runtime.handleAction` that share ONE `Session` object (as
 * a transport that reads the cookie once may send them), one burst per spacing of `SPACINGS`, each
 * action on an instance of its own so they run side by side, each with its own strict-mode token:
 * all pass, each answer's token is its own, works once (again all side by side on the one object),
 * and is refused after; then no slot of the session stays reserved. `around`: told when each first
 * burst starts and when it is answered (to count its round trips).
 */
async function burstsOnOneSession(
  runtime: LiveRuntime,
  session: Session,
  n: number,
  maxOutstanding: number,
  around?: { start: () => void; end: () => void },
): Promise<void> {
  for (const [round, spacing] of SPACINGS.entries()) {
    const ids = Array.from({ length: n }, (_, i) => `counter:r${round}i${i}`);
    await Promise.all(ids.map((id) => runtime.mount(session, id)));
    const tokens: string[] = [];
    for (let i = 0; i < n; i++) tokens.push(await runtime.csrf.issue(session));
    const send = (token: string, i: number): Promise<RuntimeResponse> =>
      runtime.handleAction(
        { requestId: `r${round}-${i}`, ip: '192.0.2.70', method: 'POST', url: '/api/livecomponents/action', headers: { 'x-csrf-token': token } },
        { component_id: ids[i], action: 'increment', params: {} },
        session,
      );
    around?.start();
    const sent: Promise<RuntimeResponse>[] = [];
    for (let i = 0; i < n; i++) {
      sent.push(send(tokens[i] as string, i));
      await spacing();
    }
    const first = await Promise.all(sent);
    around?.end();
    expect(first.map((r) => r.status), `spacing ${round}`).toEqual(tokens.map(() => 200));
    const fresh = first.map((r) => (r.body as { csrf_token: string }).csrf_token);
    expect(new Set(fresh).size).toBe(n);
    const again = await Promise.all(fresh.map(send));
    expect(again.map((r) => r.status), `spacing ${round}`).toEqual(fresh.map(() => 200));
    expect(again.map((r) => (r.body as unknown as { state: { count: number } }).state.count)).toEqual(fresh.map(() => 2));
    const replayed = await Promise.all(fresh.map(send));
    expect(replayed.map((r) => r.status)).toEqual(fresh.map(() => 403));
  }
  // No slot stays reserved in this process: the newest maxOutstanding tokens, placed one after the
  // other, all work (a slot left reserved is never chosen: the last would push out the first).
  const pages: string[] = [];
  for (let i = 0; i < maxOutstanding; i++) pages.push(await runtime.csrf.issue(session));
  const checks: string[] = [];
  for (const t of pages) checks.push(await runtime.csrf.check(session, t));
  expect(checks).toEqual(pages.map(() => 'valid'));
}

/** The round trips `work` made, after checking the status of its answer. */
async function count(work: () => Promise<{ statusCode: number }>, status: number): Promise<string[]> {
  trips = [];
  const res = await work();
  expect(res.statusCode).toBe(status);
  return trips;
}

describe.skipIf(!REDIS_AVAILABLE)('round trips per action on Redis', () => {
  const redis = useRedisServer();
  let demo: Awaited<ReturnType<typeof demoApp>>;

  // The app's store for all the tests (closed with the app): not one of redis.open's, closed after each test.
  beforeAll(async () => {
    demo = await demoApp({}, { store: createRedisStore({ url: redis.server.url, onRoundTrip: (op) => void trips.push(op) }) });
  });
  afterAll(async () => {
    await demo?.app.close();
  });


  it('uses two round trips for an action, with or without an idempotency key, and on refusals', async () => {
    const c: TestClient = await demo.client('/orders', '192.0.2.50');
    expect(await count(() => c.action('order:main', 'createOrder', { item: 'a' }), 200)).toEqual(['batch', 'batch']);
    const keyed = { headers: { 'idempotency-key': 'rt-1' } };
    expect(await count(() => c.action('order:main', 'createOrder', { item: 'b' }, keyed), 200)).toEqual(['batch', 'batch']);
    // A replay answers from the first batch alone.
    expect((await count(() => c.action('order:main', 'createOrder', { item: 'b' }, keyed), 200)).length).toBeLessThanOrEqual(2);
    // A validation failure releases its claim in the second batch.
    const bad = { headers: { 'idempotency-key': 'rt-2' } };
    expect(await count(() => c.action('order:main', 'createOrder', { item: '' }, bad), 400)).toEqual(['batch', 'batch']);
    // …so the same key then runs.
    expect((await c.action('order:main', 'createOrder', { item: 'c' }, bad)).statusCode).toBe(200);
  });

  it('keeps a rate-limited request within two round trips and releases its claim', async () => {
    const c = await demo.client('/payment', '192.0.2.51');
    for (let i = 0; i < 5; i++) expect((await c.action('payment:main', 'processPayment', { amount: 1 })).statusCode).toBe(200);
    const keyed = { headers: { 'idempotency-key': 'rt-limited' } };
    expect((await count(() => c.action('payment:main', 'processPayment', { amount: 1 }, keyed), 429)).length).toBeLessThanOrEqual(2);
    // The claim was taken back: the same session from another address (another budget) runs the key at once.
    const res = await demo.app.inject({
      method: 'POST',
      url: '/api/livecomponents/action',
      remoteAddress: '192.0.2.52',
      headers: { 'content-type': 'application/json', cookie: c.cookie, 'x-csrf-token': c.token, 'idempotency-key': 'rt-limited' },
      payload: JSON.stringify({ component_id: 'payment:main', action: 'processPayment', params: { amount: 1 } }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().idempotency.cached).toBe(false);
  });

  /**
   * The Redis commands `work` made run (those inside the batch scripts included, each script call
   * itself left out), by name, from `INFO commandstats`.
   */
  async function commandsDuring(work: () => Promise<{ statusCode: number }>, status: number): Promise<Record<string, number>> {
    await redis.admin.config('RESETSTAT');
    expect((await work()).statusCode).toBe(status);
    const info = await redis.admin.info('commandstats');
    const calls: Record<string, number> = {};
    for (const [, name, n] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      if (!['evalsha', 'eval', 'script|load', 'config|resetstat', 'info'].includes(name as string)) calls[name as string] = Number(n);
    }
    return calls;
  }

  it('runs thirteen Redis commands for an action with an idempotency key, inside its two script calls', async () => {
    const c = await demo.client('/orders', '192.0.2.54');
    // The client's rate-limit state exists from here on, as in steady traffic.
    expect((await c.action('order:main', 'createOrder', { item: 'a' })).statusCode).toBe(200);
    const calls = await commandsDuring(() => c.action('order:main', 'createOrder', { item: 'b' }, { headers: { 'idempotency-key': 'rt-cmds' } }), 200);
    // Before: session GET; GCRA TIME (Redis's clock) + GET + SET; idempotency claim SET NX GET; instance lock SET NX GET;
    // state GET. After: state SET; the claim replaced by its record, GET + SET (no DEL, no
    // second claim); the lock released, GET + DEL; the session renewed, PEXPIRE (on every action:
    // a renewal that only extends a live record, so a signed-out session is never written back).
    expect(calls).toEqual({ get: 5, set: 5, del: 1, time: 1, pexpire: 1 });
  });

  it('reads and renews the session of a page view in one round trip', async () => {
    const c = await demo.client('/', '192.0.2.55');
    // The session batch (GET + PEXPIRE), then the mount of its one component.
    expect(await count(() => demo.app.inject({ url: '/', remoteAddress: '192.0.2.55', headers: { cookie: c.cookie } }), 200)).toEqual(['batch', 'batch']);
  });

  it('refuses a bad CSRF token in one round trip: a read-only peek for its rate-limit headers, no write', async () => {
    const c = await demo.client('/', '192.0.2.53');
    // Once no round trip at all; now one batch holding one `rateLimitPeek`, for the headers only.
    expect(await count(() => c.action('counter:main', 'increment', {}, { headers: { 'x-csrf-token': 'v1.forged' } }), 403)).toEqual(['batch']);
    // The peek reads (GCRA: TIME, Redis's clock, + GET) and writes nothing.
    const calls = await commandsDuring(() => c.action('counter:main', 'increment', {}, { headers: { 'x-csrf-token': 'v1.forged' } }), 403);
    expect(calls).toEqual({ get: 1, time: 1 });
  });

  it('refuses a session that is gone with the step of its first batch: no round trip more than before', async () => {
    const c = await demo.client('/', '192.0.2.56');
    await redis.admin.flushdb();
    const refused = await count(() => c.action('counter:main', 'increment', {}), 403);
    // The first batch (session GET, rate-limit step, state read, instance lock claim), then the lock's release.
    expect(refused).toEqual(['batch', 'batch']);
  });
});

describe.skipIf(!REDIS_AVAILABLE)("round trips per action on Redis, strict CSRF mode (rotation 'per-action')", () => {
  const redis = useRedisServer();
  let demo: Awaited<ReturnType<typeof demoApp>>;

  beforeAll(async () => {
    const store = createRedisStore({ url: redis.server.url, onRoundTrip: (op) => void trips.push(op) });
    // A budget the concurrency test below does not run out of.
    demo = await demoApp({}, { store, csrf: { rotation: 'per-action' }, rateLimit: { limit: 1000 } });
  });
  afterAll(async () => {
    await demo?.app.close();
  });


  /** A new page view of `c`'s session: one more outstanding token of it. */
  async function pageToken(c: TestClient, path: string): Promise<string> {
    const page = await demo.app.inject({ url: path, headers: { cookie: c.cookie } });
    expect(page.statusCode).toBe(200);
    const token = /<meta name="csrf-token" content="([^"]+)"/.exec(page.body)?.[1];
    if (token === undefined) throw new Error('no csrf token in the page');
    return token;
  }

  it('uses two round trips for an action and for a spent token, one (a read-only peek) for a forged one', async () => {
    const c = await demo.client('/', '192.0.2.60');
    const used = c.token;
    // The token spent in the first batch, the response's token placed in the second.
    expect(await count(() => c.action('counter:main', 'increment', {}), 200)).toEqual(['batch', 'batch']);
    // …and that token works: the claim of the freed slot won.
    expect(await count(() => c.action('counter:main', 'increment', {}), 200)).toEqual(['batch', 'batch']);
    // A refusal after the token verified hands out a fresh token the same way.
    const refused = await c.action('order:main', 'createOrder', { item: '' });
    expect(refused.statusCode).toBe(400);
    c.token = refused.json().csrf_token;
    expect(await count(() => c.action('counter:main', 'increment', {}), 200)).toEqual(['batch', 'batch']);
    // A used token: refused from the first batch; the second renews the session and takes back the claims.
    const replay = await count(() => c.action('counter:main', 'increment', {}, { headers: { 'x-csrf-token': used } }), 403);
    expect(replay).toEqual(['batch', 'batch']);
    // A forged one (the HMAC fails) spends nothing: one batch, the rate-limit peek of its headers.
    const forged = c.token.slice(0, -2) + (c.token.endsWith('AA') ? 'BA' : 'AA');
    expect(await count(() => c.action('counter:main', 'increment', {}, { headers: { 'x-csrf-token': forged } }), 403)).toEqual(['batch']);
    expect(await count(() => c.action('counter:main', 'increment', {}, { headers: { 'x-csrf-token': 'v1.forged' } }), 403)).toEqual(['batch']);
    expect((await c.action('counter:main', 'increment', {})).statusCode).toBe(200);
  });

  it('refuses a replayed token after claiming its idempotency key and instance lock in the same batch, and releases both', async () => {
    const c = await demo.client('/orders', '192.0.2.61');
    const used = c.token;
    expect((await c.action('order:main', 'createOrder', { item: 'a' })).statusCode).toBe(200);
    const keyed = { headers: { 'idempotency-key': 'strict-replay', 'x-csrf-token': used } };
    const refused = await count(() => c.action('order:main', 'createOrder', { item: 'b' }, keyed), 403);
    expect(refused).toEqual(['batch', 'batch']);
    // The same key with a valid token runs at once (the claim and the lock were released, not left
    // to expire: a held claim answers 409, a held lock waits seconds and then 503).
    const res = await c.action('order:main', 'createOrder', { item: 'b' }, { headers: { 'idempotency-key': 'strict-replay' } });
    expect(res.statusCode).toBe(200);
    expect(res.json().idempotency.cached).toBe(false);
  });

  it('passes 20 concurrent actions of one session, each with its own token, in two round trips each; every token returned works once', async () => {
    const c = await demo.client('/', '192.0.2.62');
    const tokens = [c.token];
    for (let i = 1; i < 20; i++) tokens.push(await pageToken(c, '/'));
    // Twenty instances of the session, so the actions run side by side (one instance's go one at a time).
    const { runtime } = demo.app.livecomponents;
    const session = runtime.sessions.fromCookie(new RegExp(`${SESSION_COOKIE.plain}=([^;]+)`).exec(c.cookie)?.[1]);
    if (session === null) throw new Error('test: no session cookie');
    const ids = tokens.map((_, i) => `counter:c${i}`);
    await Promise.all(ids.map((id) => runtime.mount(session, id)));
    const send = (token: string, i: number) =>
      demo.app.inject({
        method: 'POST',
        url: '/api/livecomponents/action',
        remoteAddress: '192.0.2.62',
        headers: { 'content-type': 'application/json', cookie: c.cookie, 'x-csrf-token': token },
        payload: JSON.stringify({ component_id: ids[i], action: 'increment', params: {} }),
      });
    trips = [];
    const answers = await Promise.all(tokens.map(send));
    expect(answers.map((r) => r.statusCode)).toEqual(tokens.map(() => 200));
    expect(trips).toEqual(tokens.map(() => ['batch', 'batch']).flat());
    const fresh = answers.map((r) => r.json().csrf_token as string);
    expect(new Set(fresh).size).toBe(20);
    const again = await Promise.all(fresh.map(send));
    expect(again.map((r) => r.statusCode)).toEqual(fresh.map(() => 200));
    expect(again.map((r) => r.json().state.count)).toEqual(fresh.map(() => 2));
    const replayed = await Promise.all(fresh.map(send));
    expect(replayed.map((r) => r.statusCode)).toEqual(fresh.map(() => 403));
  });

  it('passes bursts of 20 concurrent actions through handleAction sharing ONE Session object, two round trips each; every token returned works once, no slot stays reserved', async () => {
    const { runtime } = demo.app.livecomponents;
    const session = await runtime.sessions.create();
    const bursts: string[][] = [];
    await burstsOnOneSession(runtime, session, 20, 32, { start: () => void (trips = []), end: () => void bursts.push(trips.splice(0)) });
    expect(bursts).toEqual(SPACINGS.map(() => Array.from({ length: 40 }, () => 'batch')));
  });
});

describe("one Session object shared by concurrent strict-mode actions (rotation 'per-action'), on memory", () => {
  it('passes bursts of 20 concurrent actions through handleAction sharing ONE Session object; every token returned works once, no slot stays reserved', async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    const runtime = await testRuntime([counter as unknown as ComponentDefinition], store, { csrf: { rotation: 'per-action', maxOutstanding: 24 }, rateLimit: { limit: 1000 } });
    try {
      await burstsOnOneSession(runtime, await runtime.sessions.create(), 20, 24);
    } finally {
      await store.close();
    }
  });
});
