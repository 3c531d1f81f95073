/**
 * How a call reaches Redis: one round trip within the store's deadline (`commandTimeoutMs`), or a
 * rejection at once while Redis is down; during start-up, and while the connection comes back after
 * an idle drop, a wait for it within that same deadline. Every failure is a `StoreUnavailableError`
 * (answered as 503). And the store's `close`, its last round trip.
 */
import type { Cluster, Redis } from 'ioredis';
import { withDeadline } from '../../core/deadline.js';
import { StoreUnavailableError } from '../../core/errors.js';
import { withoutEchoedArguments } from './connection.js';
import type { ConnectionState } from './connection-state.js';
import type { RedisStoreOperation } from './options.js';
import { writeCoalescing } from './write-coalescing.js';

/** Runs `send` as one round trip of `operation` (see `call` in `createCalls`). */
export type Call = <T>(operation: RedisStoreOperation, send: () => Promise<T>) => Promise<T>;

/**
 * The `call` and `close` of a store on `client`, whose connection `state` tracks; `timeoutMs` is the
 * deadline of every call, `onRoundTrip` the store's option of that name.
 */
export function createCalls(
  client: Redis | Cluster,
  state: ConnectionState,
  timeoutMs: number,
  onRoundTrip: ((operation: RedisStoreOperation) => void) | undefined,
): { call: Call; close: () => Promise<void> } {
  const coalesce = writeCoalescing(client);

  /**
   * Runs `send` as one round trip within the deadline, or rejects at once when Redis is down.
   * During start-up, and while the connection comes back after an idle drop (`mayWait`), the call
   * first waits for it, within the same deadline; `send` runs only on a ready connection (no offline
   * queue), so a call that timed out waiting was never sent.
   */
  function call<T>(operation: RedisStoreOperation, send: () => Promise<T>): Promise<T> {
    if (state.closed) return Promise.reject(storeClosed());
    if (state.refused !== undefined) return Promise.reject(state.refused);
    if (state.connection.starting) return afterWaiting(state.started, operation, send, false);
    if (client.status === 'ready') {
      onRoundTrip?.(operation);
      coalesce();
      // Its timer armed before `send` runs: the deadline counts from here, the command's building and
      // writing included (core/deadline.ts). An answer read before the timer ran is kept, however late
      // (the loop held between the reply's arrival and its reading): Redis ran the command. Failing a
      // write it had run answered 503 over a stored state, and on a Cluster sent the idempotency record
      // to the unknown-outcome path (`prefetch/split-flush.ts`); a call that waited (`afterWaiting`)
      // keeps such an answer too.
      return withDeadline(send, timeoutMs, redisTimeout, toUnavailable, 'keep');
    }
    if (!state.mayWait || client.status === 'end') return Promise.reject(state.notConnected(client.status));
    return afterWaiting(state.whenReconnected(), operation, send, true);
  }

  /**
   * Waits for `connecting`, then sends: ONE deadline for both, armed when the call starts. (Two, the
   * wait's then a send within "what was left", let a call settle past its deadline: by the time
   * between the wait settling and the send, by the left-over's rounding up to 1 ms, and by
   * `performance.now()` not being the timers' clock.) A wait that failed, or that the deadline ended,
   * answers why the connection is down (`notConnected`) when `explain` says it is known.
   * Its own timer, not `withDeadline`'s: the deadline's error depends on the phase (waiting or sent),
   * and a failure before the send (the store closed or refused, a caller's bug) keeps its own error.
   * Like the ready path, it keeps an answer read before its timer ran, however late.
   */
  function afterWaiting<T>(connecting: Promise<void>, operation: RedisStoreOperation, send: () => Promise<T>, explain: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      /** Until `connecting` settles or the deadline passes, whichever comes first. */
      let waiting = true;
      const timer = setTimeout(() => {
        reject(waiting ? waitFailed(redisTimeout(timeoutMs), explain) : redisTimeout(timeoutMs));
        waiting = false;
      }, timeoutMs);
      connecting.then(
        () => {
          // The deadline passed first: the call has failed, and is never sent.
          if (!waiting) return;
          waiting = false;
          const down = state.refused ?? (state.closed ? storeClosed() : client.status === 'ready' ? undefined : state.notConnected(client.status));
          if (down !== undefined) {
            clearTimeout(timer);
            reject(down);
            return;
          }
          try {
            onRoundTrip?.(operation);
            settleBy(send(), timer, resolve, reject);
          } catch (error) {
            // A bug of the caller's (`onRoundTrip`, `send` throwing): its own error, as before.
            clearTimeout(timer);
            reject(error);
          }
        },
        (error: unknown) => {
          if (!waiting) return;
          waiting = false;
          clearTimeout(timer);
          reject(waitFailed(error, explain));
        },
      );
    });
  }

  /** What a call whose wait for the connection failed with `error` (the deadline's, or the attempt's) rejects with. */
  function waitFailed(error: unknown, explain: boolean): unknown {
    if (state.refused !== undefined) return state.refused;
    if (state.closed) return storeClosed();
    // Say why the connection is down, as calls refused at once do.
    if ((explain || state.lastError !== undefined) && error instanceof StoreUnavailableError) return state.notConnected(client.status);
    return error;
  }

  /**
   * The store's `close`: later calls fail at once; a connected client quits (within the deadline),
   * then is dropped. A second close (a shutdown hook and the app's own) settles with the first: else it
   * resolved at once, while the first still waited for QUIT and the connection was still open.
   */
  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= quit();
    return closing;
  }
  async function quit(): Promise<void> {
    state.markClosed();
    try {
      if (client.status === 'ready') {
        onRoundTrip?.('close');
        await withDeadline(() => client.quit(), timeoutMs, redisTimeout, toUnavailable, 'keep');
      }
    } catch {
      // Quitting politely failed: drop the connection below.
    }
    client.disconnect();
  }

  return { call, close };
}

/** The rejection of every call once the store is closed. */
export function storeClosed(): StoreUnavailableError {
  return new StoreUnavailableError('The Redis store is closed.');
}

/**
 * Settles a call that waited for the connection like `sent` (a failure as `toUnavailable`), first
 * clearing its deadline's `timer`. Throws at once (a `TypeError`) when `sent` is no promise: the
 * caller's bug, which its caller clears the timer for and rejects with.
 */
function settleBy<T>(sent: Promise<T>, timer: ReturnType<typeof setTimeout>, resolve: (value: T) => void, reject: (error: unknown) => void): void {
  sent.then(
    (value) => {
      clearTimeout(timer);
      resolve(value);
    },
    (error: unknown) => {
      clearTimeout(timer);
      reject(toUnavailable(error));
    },
  );
}

function redisTimeout(ms: number): StoreUnavailableError {
  return new StoreUnavailableError(`Redis did not answer within ${Math.round(ms)} ms.`);
}

/** `error` as the `StoreUnavailableError` a call rejects with: itself if it is one, else `Redis failed: <message>`. */
export function toUnavailable(error: unknown): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  // Only the message: ioredis attaches the command and its arguments (keys, values) to its errors,
  // and Redis echoes them in its own to an unknown command.
  return new StoreUnavailableError(`Redis failed: ${withoutEchoedArguments(error instanceof Error ? error.message : String(error))}`);
}
