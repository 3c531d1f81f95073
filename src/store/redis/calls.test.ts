/**
 * One deadline per call (`calls.ts`), on a fake ioredis client and fake timers: a call that waits for
 * the connection and then sends is still bounded by the deadline armed when it started, and a call
 * waiting when the store closes fails at once. No Redis needed.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StoreUnavailableError } from '../../core/errors.js';
import { createCalls } from './calls.js';
import { trackConnection } from './connection-state.js';
import type { RedisStoreOperation } from './options.js';

const TIMEOUT_MS = 500;

/**
 * The parts of an ioredis client the store's calls and its connection tracking use: a status, the
 * events, `info` (the server-mode check after `ready`: a plain Redis), and `connect`/`quit`/`disconnect`,
 * which change nothing by themselves (as a socket still connecting to a host that does not answer).
 */
class FakeClient extends EventEmitter {
  status: string;
  readonly isCluster = false;
  readonly options = {};
  readonly stream = undefined;
  disconnects = 0;
  constructor(status: string) {
    super();
    this.status = status;
  }
  info(): Promise<string> {
    return Promise.resolve('# Server\r\nredis_mode:standalone\r\n');
  }
  connect(): Promise<void> {
    return new Promise(() => undefined);
  }
  quit(): Promise<'OK'> {
    return Promise.resolve('OK');
  }
  disconnect(): void {
    this.disconnects++;
  }
  /** The connection is (again) ready, as ioredis announces it. */
  becomeReady(): void {
    this.status = 'ready';
    this.emit('ready');
  }
}

/** The store's calls on a fake client in `status`, with the round trips they count. */
function callsOn(status: string) {
  const client = new FakeClient(status);
  const state = trackConnection(client as unknown as Redis, { url: undefined });
  const trips: RedisStoreOperation[] = [];
  const { call, close } = createCalls(client as unknown as Redis, state, TIMEOUT_MS, (op) => trips.push(op));
  return { client, state, call, close, trips };
}

/** `promise`'s outcome so far: `pending`, or how it settled. */
function watch(promise: Promise<unknown>) {
  const seen: { settled: boolean; value?: unknown; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(seen, { settled: true, value }),
    (error: unknown) => Object.assign(seen, { settled: true, error }),
  );
  return seen;
}

/** Lets every pending promise reaction run (fake timers leave microtasks real). */
const flush = () => vi.advanceTimersByTimeAsync(0);

describe('Redis calls: one deadline per call', () => {
  beforeEach(() => {
    // Only the timers: the call's deadline must be the timers' own clock, not a second one
    // (`performance.now()`), which the old two-deadline wait read.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a call waiting for a reconnect settles at the deadline armed when it started: unsent, or sent and unanswered', async () => {
    const { client, state, call, trips } = callsOn('ready');
    client.emit('ready');
    await flush();
    expect(state.mayWait).toBe(true);
    // An idle drop: the connection closed with no error, ioredis reconnects.
    client.status = 'reconnecting';

    // The connection is not back within the deadline: the call says why, and is never sent.
    const unsent = vi.fn(() => Promise.resolve('A'));
    const waited = watch(call('get', unsent));
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
    expect(waited.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(waited.error).toBeInstanceOf(StoreUnavailableError);
    expect((waited.error as Error).message).toBe('Redis is not connected (reconnecting).');
    client.becomeReady();
    await flush();
    expect(unsent).not.toHaveBeenCalled();
    expect(trips).toEqual([]);

    // Dropped again; this time the connection is back 1 ms before the deadline.
    client.status = 'reconnecting';
    const sent = vi.fn(() => new Promise<string>(() => undefined));
    const late = watch(call('get', sent));
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
    expect(late.settled).toBe(false);
    expect(sent).not.toHaveBeenCalled();
    client.becomeReady();
    await flush();
    // Sent once, counted as one round trip…
    expect(sent).toHaveBeenCalledTimes(1);
    expect(trips).toEqual(['get']);
    expect(late.settled).toBe(false);
    // …and failed at its deadline (two deadlines let it run up to ~2 × 500 ms).
    await vi.advanceTimersByTimeAsync(1);
    expect(late.settled).toBe(true);
    expect(late.error).toBeInstanceOf(StoreUnavailableError);
    expect((late.error as Error).message).toBe(`Redis did not answer within ${TIMEOUT_MS} ms.`);
  });

  it('calls waiting when the store closes fail at once with the closed error, during start-up and a reconnect; later calls too', async () => {
    // Start-up: the first connection attempt never ends (a host that does not answer; ioredis only
    // ends that socket at its connect timeout, four deadlines later).
    const starting = callsOn('connecting');
    const sent = vi.fn(() => Promise.resolve('A'));
    const waiting = [watch(starting.call('get', sent)), watch(starting.call('set', sent))];
    await vi.advanceTimersByTimeAsync(10);
    expect(waiting.map((w) => w.settled)).toEqual([false, false]);
    const closing = starting.close();
    await flush();
    await closing;
    for (const w of waiting) {
      expect(w.settled).toBe(true);
      expect(w.error).toBeInstanceOf(StoreUnavailableError);
      expect((w.error as Error).message).toBe('The Redis store is closed.');
    }
    const after = watch(starting.call('get', sent));
    await flush();
    expect((after.error as Error).message).toBe('The Redis store is closed.');
    expect(starting.client.disconnects).toBe(1);

    // Reconnecting after an idle drop.
    const reconnecting = callsOn('ready');
    reconnecting.client.emit('ready');
    await flush();
    reconnecting.client.status = 'reconnecting';
    const waiter = watch(reconnecting.call('get', sent));
    await vi.advanceTimersByTimeAsync(10);
    expect(waiter.settled).toBe(false);
    void reconnecting.close();
    await flush();
    expect((waiter.error as Error).message).toBe('The Redis store is closed.');
    // A connection ready after the close sends nothing.
    reconnecting.client.becomeReady();
    await flush();
    expect(sent).not.toHaveBeenCalled();
    expect([...starting.trips, ...reconnecting.trips]).toEqual([]);
  });

  it('a ready call rejects at its deadline, and a send that throws leaves no timer behind', async () => {
    const { client, call, trips } = callsOn('ready');
    client.emit('ready');
    await flush();
    const hung = watch(call('get', () => new Promise(() => undefined)));
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
    expect(hung.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((hung.error as Error).message).toBe(`Redis did not answer within ${TIMEOUT_MS} ms.`);

    const bug = new TypeError('bad argument');
    const thrown = watch(
      call('set', () => {
        throw bug;
      }),
    );
    await flush();
    expect(thrown.error).toBe(bug);
    expect(vi.getTimerCount()).toBe(0);
    expect(trips).toEqual(['get', 'set']);
  });

  it('a send that returns no promise (a bug) rejects with its TypeError and leaves no timer behind', async () => {
    const { client, call } = callsOn('ready');
    client.emit('ready');
    await flush();
    const bad = watch(call('get', (() => 'A') as unknown as () => Promise<string>));
    await flush();
    expect(bad.error).toBeInstanceOf(TypeError);
    // Left armed, the deadline's timer held the process open for 500 ms and fired into a settled call.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a second close settles with the first: not before QUIT is answered and the connection dropped', async () => {
    const { client, call, close, trips } = callsOn('ready');
    client.emit('ready');
    await flush();
    let answer = (): void => undefined;
    client.quit = () => new Promise<'OK'>((resolve) => (answer = () => resolve('OK')));
    const first = watch(close());
    const second = watch(close());
    await flush();
    // The shutdown awaiting the second close would go on with the connection still open.
    expect([first.settled, second.settled, client.disconnects]).toEqual([false, false, 0]);
    expect((await call('get', () => Promise.resolve('A')).catch((error: unknown) => error)) as Error).toEqual(new StoreUnavailableError('The Redis store is closed.'));
    answer();
    await flush();
    expect([first.settled, second.settled, client.disconnects]).toEqual([true, true, 1]);
    await close();
    expect(client.disconnects).toBe(1);
    expect(trips).toEqual(['close']);
  });

  // An answer Redis gave, read once the deadline has passed but before its timer ran (the event loop
  // held between the reply's arrival and its reading: a GC pause, a CPU spike, a long poll phase). A
  // write Redis ran and answered is known stored: failing it answered 503 over a stored state (and on a
  // Cluster sent the idempotency record to the unknown-outcome path, left pending, then run again).
  // And the same answer must read the same whether the call waited for the connection or not.
  it('an answer read past the deadline, before the timer ran, is the call\'s: on a ready connection as after a wait', async () => {
    const { client, state, call } = callsOn('ready');
    client.emit('ready');
    await flush();
    /** Sends answered together from the check phase (real `setImmediate`), the loop held past the deadline first. */
    const answers: (() => void)[] = [];
    const lateAnswer =
      <T>(value: T) =>
      () =>
        new Promise<T>((resolve) => answers.push(() => resolve(value)));
    const answerLate = () =>
      setImmediate(() => {
        block(TIMEOUT_MS + 20);
        for (const answer of answers.splice(0)) answer();
      });
    const ready = Promise.allSettled([call('set', lateAnswer('OK')), call('batch', lateAnswer([1, 'A'])), call('get', lateAnswer('A'))]);
    answerLate();
    expect(await ready).toEqual([
      { status: 'fulfilled', value: 'OK' },
      { status: 'fulfilled', value: [1, 'A'] },
      { status: 'fulfilled', value: 'A' },
    ]);

    expect(state.mayWait).toBe(true);
    client.status = 'reconnecting';
    const waited = Promise.allSettled([call('set', lateAnswer('OK')), call('get', lateAnswer('A'))]);
    client.becomeReady();
    await flush();
    expect(answers).toHaveLength(2);
    answerLate();
    expect(await waited).toEqual([
      { status: 'fulfilled', value: 'OK' },
      { status: 'fulfilled', value: 'A' },
    ]);
    expect(vi.getTimerCount()).toBe(0);
  });
});

/** Holds the event loop (no timer can run) until `ms` have passed. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}
