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
   * first waits for it within the same deadline; `send` runs only on a ready connection (no offline
   * queue), so a call that timed out waiting was never sent.
   */
  function call<T>(operation: RedisStoreOperation, send: () => Promise<T>): Promise<T> {
    if (state.closed) return Promise.reject(storeClosed());
    if (state.refused !== undefined) return Promise.reject(state.refused);
    if (state.connection.starting) return afterWaiting(state.connection.firstAttempt, operation, send, false);
    if (client.status === 'ready') {
      onRoundTrip?.(operation);
      coalesce();
      return withinDeadline(send(), timeoutMs);
    }
    if (!state.mayWait || client.status === 'end') return Promise.reject(state.notConnected(client.status));
    return afterWaiting(state.whenReconnected(), operation, send, true);
  }

  /**
   * Waits for `connecting` within the deadline, then sends within what is left of it. A wait that
   * failed answers why the connection is down (`notConnected`) when `explain` says it is known.
   */
  function afterWaiting<T>(connecting: Promise<void>, operation: RedisStoreOperation, send: () => Promise<T>, explain: boolean): Promise<T> {
    const started = performance.now();
    return withinDeadline(connecting, timeoutMs).then(
      () => {
        if (state.refused !== undefined) throw state.refused;
        if (state.closed) throw storeClosed();
        if (client.status !== 'ready') throw state.notConnected(client.status);
        onRoundTrip?.(operation);
        return withinDeadline(send(), Math.max(1, timeoutMs - (performance.now() - started)));
      },
      (error: unknown) => {
        if (state.refused !== undefined) throw state.refused;
        if (state.closed) throw storeClosed();
        // Say why the connection is down, as calls refused at once do.
        if ((explain || state.lastError !== undefined) && error instanceof StoreUnavailableError) throw state.notConnected(client.status);
        throw error;
      },
    );
  }

  /** The store's `close`: later calls fail at once; a connected client quits (within the deadline), then is dropped. */
  async function close(): Promise<void> {
    if (state.closed) return;
    state.markClosed();
    try {
      if (client.status === 'ready') {
        onRoundTrip?.('close');
        await withinDeadline(client.quit(), timeoutMs);
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
 * Settles like `promise`, or rejects with `StoreUnavailableError` after `ms`; any other failure
 * becomes a `StoreUnavailableError` too (its message stays in the log detail, never on the wire).
 */
function withinDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return withDeadline(promise, ms, redisTimeout, toUnavailable);
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
