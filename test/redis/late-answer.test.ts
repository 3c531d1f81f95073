/**
 * An action's after-action batch (new state, lock release, idempotency record) that Redis ran and
 * answered in time, its reply read only once the store's deadline had passed: the event loop was held
 * between the reply's arrival and its reading (a GC pause, a CPU spike, a long poll phase), before the
 * deadline's timer could run. The answer is in hand: the write is known stored. Read as a timeout it
 * answered 503 over the stored state: a client retrying without a key ran the action twice, and with a
 * key was replayed a success it had been told had failed.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { redisClientOf } from '../../src/store/redis/index.js';
import { countingComponent } from '../helpers/counting-component.js';
import { oneComponentApp, openClient } from '../helpers/demo.js';
import { REDIS_AVAILABLE, useRedisServer } from './server.js';

/** The store's deadline. */
const TIMEOUT_MS = 100;

let runs = 0;
const job = countingComponent('job', 'run', () => void runs++);

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** Holds the event loop (no timer can run) until `ms` have passed. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe.skipIf(!REDIS_AVAILABLE)('a Redis reply read after the deadline, before its timer ran', () => {
  const redis = useRedisServer();

  it("an after-action batch Redis ran and answered is the action's success: 200, stored once, not 503", async () => {
    /** Set to the round trip after which the next reply is read late; counted down by `onRoundTrip`. */
    let lateAfter = 0;
    let stallNextReply = false;
    const store = redis.open({
      commandTimeoutMs: TIMEOUT_MS,
      onRoundTrip: () => {
        if (lateAfter > 0 && --lateAfter === 0) stallNextReply = true;
      },
    });
    app = await oneComponentApp(job, store);
    const c = await openClient(app);
    expect((await c.action('job:main', 'run')).statusCode).toBe(200);
    // The loop held as the reply comes in, before ioredis reads it (its own 'data' listener comes after).
    const client = redisClientOf(store) as Redis;
    client.stream.prependListener('data', () => {
      if (!stallNextReply) return;
      stallNextReply = false;
      block(TIMEOUT_MS + 50);
    });
    runs = 0;

    const withAndWithoutKey: Record<string, string>[] = [{}, { 'idempotency-key': 'order-1' }];
    for (const headers of withAndWithoutKey) {
      // Two round trips an action: the first batch (session, claims, state), then the after-action batch.
      lateAfter = 2;
      const late = await c.action('job:main', 'run', {}, { headers });
      expect(stallNextReply).toBe(false);
      expect(lateAfter).toBe(0);
      expect([late.statusCode, late.json()?.state]).toEqual([200, { n: runs + 1 }]);
    }
    // A replay of the key, and the next action from the state stored: each action ran once.
    const replay = await c.action('job:main', 'run', {}, { headers: { 'idempotency-key': 'order-1' } });
    expect([replay.statusCode, replay.headers['idempotent-replayed'], replay.json()?.state]).toEqual([200, 'true', { n: 3 }]);
    expect((await c.action('job:main', 'run')).json()?.state).toEqual({ n: 4 });
    expect(runs).toBe(3);
  });
});
