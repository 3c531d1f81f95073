/**
 * PostgreSQL outages as `StoreUnavailableError` (answered 503 `SERVICE_UNAVAILABLE`, like the other
 * stores), not as the driver's plain errors, which the routes answered 500 `INTERNAL_ERROR` — a bug
 * report, never retried — when the database was down, refused connections or stopped answering.
 *
 * Kysely's `PostgresDialect` takes any pool with `connect()` and `end()`; `withOutages` wraps the `pg`
 * pool so that every failure to get a connection, and every query error that means the connection
 * or the server failed (not the query), comes out as a `StoreUnavailableError` with the original as
 * its `cause`. Errors of the query itself (a constraint, a syntax error) pass through unchanged.
 */
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';
import { StoreUnavailableError } from '../core/errors.js';

/** Socket-level failures reported by Node's `net` module. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * SQLSTATEs that mean the server, not the query: class 08 (connection exception), 57P01–57P03 (admin or
 * crash shutdown, cannot connect now), 53300 (too many connections) — and the server-side time limits
 * that `createDatabase` sets (`serverTimeouts` in `database.ts`): 57014 (statement cancelled: its
 * `statement_timeout`, or an operator's `pg_cancel_backend`), 55P03 (`lock_timeout`), 25P03
 * (`idle_in_transaction_session_timeout`). A query that ran out of time is an overloaded or blocked
 * database, not a bug in the query: 503, like the client-side timeout it replaces. And 25006 (read-only
 * transaction): a hot standby — after a failover, the URL still names the old primary — or
 * `default_transaction_read_only`. Not in `STATEMENT_CANCELLED`: the connection is dropped, so the next
 * one is made anew (DNS may by then name the new primary).
 */
const SERVER_STATES = new Set(['57P01', '57P02', '57P03', '53300', '57014', '55P03', '25P03', '25006']);

function isServerState(code: string): boolean {
  return code.startsWith('08') || SERVER_STATES.has(code);
}

/**
 * The server cancelled the statement itself (57014, 55P03) and answered in order: the connection is
 * in sync and still usable (its transaction, if any, aborted: the ROLLBACK that follows works).
 */
const STATEMENT_CANCELLED = new Set(['57014', '55P03']);

/** Messages of `pg` itself for a connection that timed out or broke (they carry no code). */
const DRIVER_MESSAGES = /Connection terminated|Query read timeout|timeout exceeded when trying to connect|connection error and is not queryable/;

/** Whether `error` means that PostgreSQL (or the way to it) failed, rather than the query. */
export function isPostgresOutage(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || isServerState(code))) return true;
  return DRIVER_MESSAGES.test(error.message);
}

function outage(error: unknown): StoreUnavailableError {
  // The message only: a driver error can carry the query's parameters in its other fields.
  const message = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`PostgreSQL failed: ${message}${STARTUP_PARAMETER_REFUSED.test(message) ? `: ${STARTUP_PARAMETER_FIX}` : ''}`, error);
}

/** PgBouncer's refusal of a startup parameter it does not know (SQLSTATE 08P01, at connect). */
const STARTUP_PARAMETER_REFUSED = /unsupported startup parameter/;

/**
 * What to do about that refusal: every connection sends the server-side timeouts as startup parameters
 * (`serverTimeouts` in `database.ts`), which PgBouncer passes on only when told to ignore them — and then
 * they must come from the role instead, or they are not in force at all.
 */
export const STARTUP_PARAMETER_FIX =
  'a connection pooler (PgBouncer) refuses the timeouts the app sends when it connects; add `ignore_startup_parameters = statement_timeout,lock_timeout,idle_in_transaction_session_timeout` to pgbouncer.ini and set them on the role instead (`ALTER ROLE … SET statement_timeout = …`, see "PgBouncer" in docs/scaling.md)';

/** `pool` for Kysely, with outages as `StoreUnavailableError` (see the module comment). */
export function withOutages(pool: pg.Pool): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        // Any failure to get a connection is the server's or the network's (timeouts included).
        throw error instanceof StoreUnavailableError ? error : outage(error);
      }
      // A checked-out client whose connection breaks emits `error`; the pool listens only to idle
      // ones, and an `error` without a listener ends the process. The query in flight rejects with
      // the same error, so the event itself needs no handling beyond being heard.
      client.on('error', ignore);
      /**
       * The outage this connection met, if any. Such a connection must never go back to the pool: pg
       * does not cancel a query that timed out (`query_timeout`), so the server may still run it — and
       * inside a transaction, the ROLLBACK queued behind it times out unsent. Reused, the connection
       * would sit in that transaction: later writes on it silently uncommitted, its row locks held.
       */
      let broken: StoreUnavailableError | undefined;
      return {
        query: ((...args: Parameters<pg.PoolClient['query']>) => {
          // Nothing more on a broken connection (the ROLLBACK after a timeout would wait as long again).
          if (broken !== undefined) return Promise.reject(broken);
          const result = (client.query as (...a: unknown[]) => unknown)(...args);
          // A cursor (streaming) is returned as is; a promise has its outages mapped.
          if (!(result instanceof Promise)) return result;
          return result.catch((error: unknown) => {
            if (!isPostgresOutage(error)) throw error;
            const mapped = outage(error);
            if (!STATEMENT_CANCELLED.has((error as { code?: unknown }).code as string)) broken ??= mapped;
            throw mapped;
          });
        }) as PostgresPoolClient['query'],
        release: () => {
          client.removeListener('error', ignore);
          // With an error, pg-pool closes the connection instead of keeping it; the server then rolls
          // back whatever it still had open and frees its locks.
          client.release(broken);
        },
      };
    },
    end: () => pool.end(),
  };
}

function ignore(): void {}
