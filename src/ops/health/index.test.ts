import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../core/clock.js';
import { sendError } from '../../http/error-mapping.js';
import { memorySecurityEvents } from '../security-events.js';
import { createLifecycleState, HEALTH_CONTENT_TYPE, registerHealth, type HealthCheck, type HealthOptions, type LifecycleState } from './index.js';

const TOKEN = 'health-token-0123456789abcdef';

/** A check whose answer the test sets, counting its calls. */
interface Controlled {
  calls: number;
  answer: () => Promise<void>;
  check: HealthCheck;
}

function controlled(name: string, measurement?: string): Controlled {
  const c: Controlled = {
    calls: 0,
    answer: () => Promise.resolve(),
    check: { name, measurement, componentType: 'datastore', check: () => (c.calls++, c.answer()) },
  };
  return c;
}

let app: FastifyInstance;
afterEach(() => app?.close());

async function build(
  checks: HealthCheck[],
  extra: Partial<HealthOptions> = {},
  started = true,
  setup: (app: FastifyInstance) => void = () => undefined,
): Promise<LifecycleState> {
  const state = createLifecycleState();
  state.startupDone = started;
  app = Fastify();
  setup(app);
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  registerHealth(app, { checks, state, clock: manualClock(Date.UTC(2026, 0, 15, 10, 30)), ...extra });
  await app.ready();
  return state;
}

const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });

describe('liveness and start-up', () => {
  it('live answers 200 pass whatever the state and the dependencies, without running a check', async () => {
    const store = controlled('store');
    store.answer = () => Promise.reject(new Error('down'));
    const state = await build([store.check], {}, false);
    state.shuttingDown = true;
    const res = await get('/health/live');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(`${HEALTH_CONTENT_TYPE}; charset=utf-8`);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toEqual({ status: 'pass' });
    expect(store.calls).toBe(0);
  });

  it('startup answers 503 until startupDone, then 200', async () => {
    const state = await build([], {}, false);
    const before = await get('/health/startup');
    expect(before.statusCode).toBe(503);
    expect(before.json()).toEqual({ status: 'fail', notes: ['starting up'] });
    state.startupDone = true;
    const after = await get('/health/startup');
    expect(after.statusCode).toBe(200);
    expect(after.json()).toEqual({ status: 'pass' });
  });
});

describe('readiness', () => {
  it('is 200 with every check passing, each reading in the health+json shape', async () => {
    const store = controlled('store');
    const sql = controlled('sql');
    await build([store.check, sql.check]);
    const res = await get('/health/ready');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.status).toBe('pass');
    expect(Object.keys(body.checks)).toEqual(['store:responsiveness', 'sql:responsiveness']);
    const [reading] = body.checks['store:responsiveness'];
    expect(reading).toEqual({
      status: 'pass',
      componentType: 'datastore',
      observedValue: expect.any(Number),
      observedUnit: 'ms',
      time: '2026-01-15T10:30:00.000Z',
    });
    expect([store.calls, sql.calls]).toEqual([1, 1]);
  });

  it('is 503 before start-up is done, without touching the dependencies', async () => {
    const store = controlled('store');
    await build([store.check], {}, false);
    const res = await get('/health/ready');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'fail', notes: ['starting up'] });
    expect(store.calls).toBe(0);
  });

  it('turns 503 the moment shutdown begins, without touching the dependencies', async () => {
    const store = controlled('store');
    const state = await build([store.check]);
    expect((await get('/health/ready')).statusCode).toBe(200);
    state.shuttingDown = true;
    const res = await get('/health/ready');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'fail', notes: ['shutting down'] });
    expect(store.calls).toBe(1);
  });

  it('is 503 when one check fails; the error text stays hidden without the token', async () => {
    const store = controlled('store');
    const sql = controlled('sql');
    sql.answer = () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.5:5432'));
    await build([store.check, sql.check], { token: TOKEN });
    const res = await get('/health/ready');
    expect(res.statusCode).toBe(503);
    const body = res.json();
    expect(body.status).toBe('fail');
    expect(body.checks['store:responsiveness'][0].status).toBe('pass');
    expect(body.checks['sql:responsiveness'][0].status).toBe('fail');
    expect(res.body).not.toContain('ECONNREFUSED');
  });

  it('fails a check that does not answer within timeoutMs', async () => {
    const hung = controlled('redis');
    hung.answer = () => new Promise<void>(() => undefined);
    await build([hung.check], { timeoutMs: 20, token: TOKEN });
    const res = await get('/health/ready', { authorization: `Bearer ${TOKEN}` });
    expect(res.statusCode).toBe(503);
    const [reading] = res.json().checks['redis:responsiveness'];
    expect(reading.status).toBe('fail');
    expect(reading.output).toBe('timed out after 20 ms');
  });
});

describe('/health', () => {
  it('shows the internal error text only to a caller holding the token', async () => {
    const sql = controlled('sql', 'connections');
    sql.answer = () => Promise.reject(new Error('password authentication failed'));
    await build([sql.check], { token: TOKEN, version: '1.2.3', serviceId: 'lc-demo' });
    const anonymous = await get('/health');
    expect(anonymous.statusCode).toBe(503);
    expect(anonymous.json()).toEqual({
      status: 'fail',
      version: '1.2.3',
      serviceId: 'lc-demo',
      checks: { 'sql:connections': [expect.not.objectContaining({ output: expect.anything() })] },
    });
    const insider = await get('/health', { authorization: `Bearer ${TOKEN}` });
    expect(insider.statusCode).toBe(503);
    expect(insider.json().checks['sql:connections'][0].output).toBe('password authentication failed');
  });

  it('never shows error text when no token is configured, even to a caller sending one', async () => {
    const sql = controlled('sql');
    sql.answer = () => Promise.reject(new Error('secret detail'));
    await build([sql.check]);
    const res = await get('/health', { authorization: `Bearer ${TOKEN}` });
    expect(res.statusCode).toBe(503);
    expect(res.body).not.toContain('secret detail');
  });

  it.each([['Bearer wrong-token-0123456789'], ['Basic dXNlcjpwYXNz'], ['Bearer']])('answers 401 INVALID_TOKEN to %s', async (authorization) => {
    const store = controlled('store');
    await build([store.check], { token: TOKEN });
    for (const url of ['/health', '/health/ready']) {
      const res = await get(url, { authorization });
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="health"');
      expect(res.json()).toEqual({ error: expect.any(String), code: 'INVALID_TOKEN', request_id: expect.any(String) });
    }
    expect(store.calls).toBe(0);
  });

  it('logs one authz_fail per refused token, without the token, and none for a valid, absent or unconfigured one', async () => {
    const events = memorySecurityEvents();
    await build([controlled('store').check], { token: TOKEN, events });
    await get('/health/ready', { authorization: `Bearer ${TOKEN}` });
    await get('/health/ready');
    expect(events.events).toEqual([]);
    const refused = await get('/health/ready', { authorization: 'Bearer guess-0123456789abcdef' });
    expect(refused.statusCode).toBe(401);
    await get('/health', { authorization: 'Basic dXNlcjpwYXNz' });
    expect(events.events.map(({ event, level, description, request }) => ({ event, level, description, url: request?.url }))).toEqual([
      { event: 'authz_fail', level: 'WARN', description: 'HEALTH_TOKEN check refused the request: wrong or malformed bearer token', url: '/health/ready' },
      { event: 'authz_fail', level: 'WARN', description: 'HEALTH_TOKEN check refused the request: wrong or malformed bearer token', url: '/health' },
    ]);
    expect(events.events[0]?.request?.requestId).toBe(refused.json().request_id);
    expect(events.events.map((e) => e.description).join()).not.toContain('guess');

    await app.close();
    const unguarded = memorySecurityEvents();
    await build([controlled('store').check], { events: unguarded });
    expect((await get('/health', { authorization: 'Bearer guess-0123456789abcdef' })).statusCode).toBe(200);
    expect(unguarded.events).toEqual([]);
  });

  it("reports a refused token to the livecomponents plugin's sink when given none", async () => {
    const events = memorySecurityEvents();
    await build([], { token: TOKEN }, true, (a) => a.decorate('livecomponents', { runtime: { events } } as never));
    await get('/health', { authorization: 'Bearer guess-0123456789abcdef' });
    expect(events.events.map((e) => e.event)).toEqual(['authz_fail']);
  });

  it('reports a slow pass as warn with HTTP 200', async () => {
    const slow = controlled('store');
    slow.answer = () => new Promise<void>((resolve) => setTimeout(resolve, 30));
    await build([slow.check], { timeoutMs: 1000, warnMs: 1, token: TOKEN });
    const res = await get('/health', { authorization: `Bearer ${TOKEN}` });
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('warn');
    expect(res.json().checks['store:responsiveness'][0].output).toMatch(/over the 1 ms warning threshold$/);
  });

  it('still runs the checks while shutting down, but reports fail with a note', async () => {
    const store = controlled('store');
    const state = await build([store.check]);
    state.shuttingDown = true;
    const res = await get('/health');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'fail', notes: ['shutting down'], checks: { 'store:responsiveness': [{ status: 'pass' }] } });
    expect(store.calls).toBe(1);
  });

  it('lets concurrent probes share one run of the checks', async () => {
    const store = controlled('store');
    let release = (): void => undefined;
    store.answer = () => new Promise<void>((resolve) => (release = resolve));
    let entered = 0;
    let allEntered = (): void => undefined;
    const third = new Promise<void>((resolve) => (allEntered = resolve));
    await build([store.check], {}, true, (a) =>
      // Handlers run right after preHandler; setImmediate waits until the third one has started.
      a.addHook('preHandler', (_req, _reply, done) => {
        if (++entered === 3) setImmediate(allEntered);
        done();
      }),
    );
    const probes = [get('/health'), get('/health/ready'), get('/health')];
    await third;
    release();
    const answers = await Promise.all(probes);
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200]);
    expect(store.calls).toBe(1);
    store.answer = () => Promise.resolve();
    expect((await get('/health')).statusCode).toBe(200);
    expect(store.calls).toBe(2);
  });

  it('needs no session cookie and sets none', async () => {
    await build([controlled('store').check]);
    const res = await get('/health');
    expect(res.statusCode).toBe(200);
    expect(res.headers['set-cookie']).toBeUndefined();
  });
});

describe('registerHealth timer bounds', () => {
  it('refuses a timeoutMs or warnMs a timer cannot wait (over 2^31 − 1 ms), which made /health/ready 503 for good', () => {
    for (const extra of [{ timeoutMs: 2 ** 31 }, { warnMs: 2 ** 31 }, { timeoutMs: 2 ** 31, warnMs: 500 }]) {
      const attempt = () => registerHealth(Fastify(), { checks: [], state: createLifecycleState(), ...extra });
      expect(attempt, JSON.stringify(extra)).toThrow(/(timeoutMs|warnMs) must be at most 2147483647 ms/);
      expect(attempt, JSON.stringify(extra)).toThrow(expect.objectContaining({ code: 'LC_INVALID_OPTION' }));
    }
  });

  it('takes timeoutMs 1 with the default warnMs (half of it, at least 1 ms)', () => {
    expect(() => registerHealth(Fastify(), { checks: [], state: createLifecycleState(), timeoutMs: 1 })).not.toThrow();
  });

  it('takes the longest delay a timer can wait, and a slow check still passes within it', async () => {
    const slow = controlled('slow');
    slow.answer = () => new Promise<void>((resolve) => setTimeout(resolve, 10));
    await build([slow.check], { timeoutMs: 2 ** 31 - 1, warnMs: 2 ** 31 - 1 });
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });
});
