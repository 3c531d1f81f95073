/**
 * A Redis whose `timeout` drops idle clients (or a proxy with an idle timeout): the connection is
 * closed with no error and the client is ready again ~100 ms later. The calls of a request that
 * came after an idle gap were refused at once meanwhile ("Redis is not connected (reconnecting)"),
 * so 2 actions of 30 answered 503. A call not yet sent now waits for the connection, within its own
 * deadline; an outage still fails every call within the deadline, and a closed store at once.
 */
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { createRedisStore, redisClientOf } from '../../src/store/redis/index.js';
import type { Store } from '../../src/store/types.js';
import { REDIS_AVAILABLE, sleep, useRedisServer, whenReady } from './server.js';
import { expectOnlyFastUnavailable, TIMEOUT_MS as WATCHED_TIMEOUT_MS, watched } from './traffic.js';

const TIMEOUT_MS = 500;

/** Resolves once the server has dropped `store`'s idle connection (its client is no longer ready). */
async function dropped(store: Store, limitMs = 4_000): Promise<void> {
  const client = redisClientOf(store)!;
  const since = performance.now();
  while (client.status === 'ready') {
    if (performance.now() - since > limitMs) throw new Error('the server did not drop the idle connection');
    await sleep(5);
  }
}

describe.skipIf(!REDIS_AVAILABLE)('a Redis that drops idle clients (timeout 1)', () => {
  const idle = useRedisServer({ args: ['--timeout', '1'] });

  it('every call after an idle gap succeeds, sent once the connection is back', async () => {
    const rounds: string[] = [];
    const store = createRedisStore({ url: idle.server.url, commandTimeoutMs: TIMEOUT_MS, onRoundTrip: (op) => rounds.push(op) });
    const client = redisClientOf(store)!;
    try {
      await store.health();
      const readyListeners = client.listenerCount('ready');
      const failures: unknown[] = [];
      for (let gap = 0; gap < 4; gap++) {
        await sleep(1_500);
        await dropped(store);
        rounds.length = 0;
        // A request's worth of calls, all while the client reconnects.
        const outcomes = await Promise.allSettled([
          store.batch([
            { op: 'set', key: `lc:{idle}:${gap}`, value: 'v', ttlMs: 10_000 },
            { op: 'get', key: 'lc:{idle}:a' },
          ]),
          store.get(`lc:{idle}:${gap}`),
          ...Array.from({ length: 50 }, () => store.health()),
        ]);
        failures.push(...outcomes.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : [])));
        // Each call one round trip, made once: nothing sent on the dropped connection, nothing replayed.
        expect(rounds.length).toBe(52);
        // 52 waiting calls shared one wait: no listener was added per call, none is left.
        expect(client.listenerCount('ready')).toBe(readyListeners);
      }
      expect(failures).toEqual([]);
      expect(await store.get('lc:{idle}:3')).toBe('v');
    } finally {
      await store.close();
    }
  }, 30_000);

  // The per-call watchdog of the fault tests (traffic.ts): a call waiting for the connection must
  // settle by the deadline armed when it started. Here the connection comes back (the calls are
  // sent), then Redis hangs: each call ends at its deadline, none may outlast its watchdog. The calls
  // are made after the event loop was held (a busy request): the timers' clock, read at the start of
  // the loop's turn, then lags behind `performance.now()`, so a deadline re-armed at the send from a
  // `performance.now()` reckoning of "what was left" (two deadlines, the old wait) fell past it.
  it('a waiting call, sent once the connection is back and then unanswered, settles by its own deadline (watchdog)', async () => {
    const store = createRedisStore({ url: idle.server.url, commandTimeoutMs: WATCHED_TIMEOUT_MS });
    const client = redisClientOf(store)!;
    try {
      await store.health();
      await sleep(1_500);
      await dropped(store);
      // Redis stops answering the moment the connection is ready again: the waiting calls go out
      // after this (their sends are promise reactions of the same 'ready'), and hang.
      client.once('ready', () => idle.server.pause());
      const held = performance.now() + 100;
      while (performance.now() < held); // the busy request
      const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => watched(() => (i % 2 === 0 ? store.get(`lc:{idle}:w${i}`) : store.health()))));
      idle.server.resume();
      expectOnlyFastUnavailable(outcomes);
      // They did wait, were sent, and met the deadline unanswered (not refused at once, nor while waiting).
      expect(outcomes.filter((o) => o.atOnce)).toEqual([]);
      expect(outcomes.filter((o) => String(o.error).includes(`did not answer within ${WATCHED_TIMEOUT_MS} ms`)).length).toBeGreaterThan(100);
    } finally {
      idle.server.resume();
      await store.close();
    }
  }, 20_000);

  // No timed assertion (shared, noisy machines): the calls' deadline is far beyond the test's own
  // timeout, so a call that waited for it instead of rejecting on close fails the test by timeout.
  it('a call waiting for the connection rejects at once when the store is closed', async () => {
    const store = createRedisStore({ url: idle.server.url, commandTimeoutMs: 120_000 });
    await store.health();
    await dropped(store);
    const client = redisClientOf(store)!;
    const calls = [store.get('lc:{idle}:a'), store.health()];
    await store.close();
    for (const call of calls) await expect(call).rejects.toThrow('The Redis store is closed.');
    await expect(store.get('lc:{idle}:a')).rejects.toThrow('The Redis store is closed.');
    expect(client.status).toBe('end');
  }, 10_000);
});

describe.skipIf(!REDIS_AVAILABLE)('an outage after an idle drop', () => {
  const redis = useRedisServer();
  it('calls fail within the deadline while Redis is down, and fast once a reconnect failed; back after restart', async () => {
    const { server } = redis;
    const store = createRedisStore({ url: server.url, commandTimeoutMs: TIMEOUT_MS });
    try {
      await store.health();
      // SIGKILL closes the connection as an idle drop does (no error): the first calls wait (once
      // the client saw the close; before, they went out on the dead socket and failed there).
      await server.kill();
      await dropped(store);
      // Not timed (shared, noisy machines): a call's outcome, and whether it had settled before the
      // event loop's next turn — a call refused at once has, one waiting for the connection or for
      // its deadline has not. Redis stays away until the restart below, so a call waiting for it
      // rather than for the deadline fails the test by timeout.
      const attempt = async () => {
        let settled = false;
        const outcome = store.get('lc:{idle}:a').then(
          () => undefined,
          (e: unknown) => e,
        );
        void outcome.then(() => (settled = true));
        await new Promise((resolve) => setImmediate(resolve));
        return { atOnce: settled, error: await outcome };
      };
      const first = await Promise.all(Array.from({ length: 20 }, attempt));
      for (const { error } of first) {
        expect(error).toBeInstanceOf(StoreUnavailableError);
      }
      await sleep(300);
      // A reconnect attempt was refused meanwhile: an outage, calls fail at once as before.
      const later = await Promise.all(Array.from({ length: 20 }, attempt));
      for (const { error, atOnce } of later) {
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect(String(error)).toMatch(/Redis is not connected \(\w+; last error: .*ECONNREFUSED/);
        expect(atOnce).toBe(true);
      }
      await server.restart();
      await whenReady(redisClientOf(store)!);
      await expect(store.health()).resolves.toBeUndefined();
    } finally {
      await store.close();
    }
  }, 20_000);
});
