/**
 * Redis hangs (SIGSTOP) during an action's first round trip: the batch times out and the action
 * answers 503 without running, but Redis runs the batch it was sent once it resumes, claims
 * included. The prefetch stage sends the undo ops of those claims right behind it, on the same
 * connection, so once Redis is back nothing of that request blocks the client: a retry with the same
 * idempotency key runs the action (not 409 IDEMPOTENCY_KEY_IN_USE for 30 s), the next action on the
 * instance does not wait for the instance lock to expire (10 s), and no claim or lock key is left.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/types.js';
import { countingComponent } from '../helpers/counting-component.js';
import { oneComponentApp, openClient } from '../helpers/demo.js';
import { REDIS_AVAILABLE, useRedisServer } from './server.js';

/** The store's deadline; the pause below stays well under the socket timeout (2 s), as a short hang does. */
const TIMEOUT_MS = 300;

let runs = 0;
const job = countingComponent('job', 'run', () => void runs++);

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(store: Store): Promise<FastifyInstance> {
  app = await oneComponentApp(job, store);
  return app;
}

describe.skipIf(!REDIS_AVAILABLE)('Redis hanging during the first round trip of an action', () => {
  const redis = useRedisServer();

  /** Idempotency claims and instance locks in Redis (sessions, states and rate-limit counters aside). */
  const claims = async () => (await redis.admin.keys('lc:*')).filter((key) => key.includes(':idem:') || key.includes(':lock:'));

  it('answers 503 and, once Redis resumes, leaves no claim behind: the retry runs once, the next action does not wait', async () => {
    const rounds: string[] = [];
    const store = redis.open({ commandTimeoutMs: TIMEOUT_MS, onRoundTrip: (op) => rounds.push(op) });
    const c = await openClient(await start(store));
    expect((await c.action('job:main', 'run')).statusCode).toBe(200);
    expect(await claims()).toEqual([]);
    runs = 0;

    const key = { headers: { 'idempotency-key': 'order-1' } };
    redis.server.pause();
    let refused;
    try {
      refused = await c.action('job:main', 'run', {}, key);
    } finally {
      redis.server.resume();
    }
    expect(refused.statusCode).toBe(503);
    expect(refused.json()).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(runs).toBe(0);

    // A call on the app's connection is answered after everything sent before it: by then Redis has
    // run the late batch (the claims) and whatever followed it.
    await store.health();
    expect(await claims()).toEqual([]);

    const retry = await c.action('job:main', 'run', {}, key);
    expect([retry.statusCode, retry.json().code]).toEqual([200, undefined]);
    expect(retry.json()).toMatchObject({ state: { n: 2 }, idempotency: { key: 'order-1', cached: false } });
    expect(runs).toBe(1);

    // Counted, not timed (shared, noisy machines): a lock left behind would make this action poll
    // it (one lone claim per round trip) until its 10 s TTL; it takes the two batches of any action.
    rounds.length = 0;
    const next = await c.action('job:main', 'run', {}, { headers: { 'idempotency-key': 'order-2' } });
    expect(rounds, 'an action takes two round trips (one batch before, one after): a lock left behind adds lone claims').toEqual(['batch', 'batch']);
    expect(next.statusCode).toBe(200);
    expect(next.json()).toMatchObject({ state: { n: 3 } });
    expect(runs).toBe(2);
    // Only the two completed records are left; no lock.
    expect((await claims()).filter((k) => k.includes(':lock:'))).toEqual([]);
    const records = await Promise.all((await claims()).map((k) => redis.admin.get(k)));
    expect(records.map((r) => (JSON.parse(r as string) as { s: string }).s)).toEqual(['done', 'done']);
  });
});
