/**
 * `livecomponents move-data`, its Redis target: the store opened and checked for the completion mark
 * a run leaves once every key-value record is in, and that mark written; for a re-run of a part the
 * file marks as moved, the mark asked for without failing on a Redis that does not answer, and what
 * can be told of why it is missing (a run stopped, or it expired).
 */
import type BetterSqlite3 from 'better-sqlite3';
import { redisTarget } from '../runtime/backends.js';
import { createRedisStore } from '../store/redis/index.js';
import type { Store } from '../store/types.js';
import { redisDescription, Refusal } from './command.js';
import { messageOf } from './move-data-mark.js';

/**
 * Written once every key-value record is in Redis, for as long as the longest-lived one. A second copy into a Redis in use would
 * bring back what the app on Redis deleted since — a used single-use CSRF token, a session ended by a
 * sign-out, a reset failure count — since SET … NX sees only that the key is missing: so a Redis that
 * has the mark is refused, before anything is written.
 */
export const MOVED_MARK_KEY = 'lc:{move-data}:done';
/** The mark lives as long as the longest-lived record moved, and at least this long. */
const MARK_MIN_TTL_MS = 24 * 3_600_000;

/**
 * Redis's completion mark, for as long as the longest-lived record of the file (past it, a copy
 * again finds every row expired), and at least MARK_MIN_TTL_MS.
 */
export async function writeCompletionMark(native: BetterSqlite3.Database, store: Store, now: () => number): Promise<void> {
  const at = now();
  await store.set(MOVED_MARK_KEY, JSON.stringify({ at: new Date(at).toISOString() }), completionMarkUntil(native, at) - at);
}

/** A time as the marks write it (`toISOString`), or with an explicit offset. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2})$/;
/** The latest time a Date holds (ECMAScript's ±8.64e15 ms). */
const MAX_DATE_MS = 8.64e15;

/** When a completion mark written at `at` expires: with the file's longest-lived record, a day at least. */
function completionMarkUntil(native: BetterSqlite3.Database, at: number): number {
  const { last } = native.prepare('SELECT coalesce(max(expires_at), 0) AS last FROM lc_kv').get() as { last: number };
  return Math.max(at + MARK_MIN_TTL_MS, last);
}

/**
 * What a re-run learns of Redis's completion mark for a key-value part the file says was moved there:
 * there; missing (the store, answering, to write it); or unknown, Redis not answering — which does not
 * stop the run: the file's mark proves the records are in, only that guard is left unchecked.
 */
export type CompletionMark = { readonly state: 'there' } | { readonly state: 'missing'; readonly store: Store } | { readonly state: 'unknown'; readonly reason: string };

/**
 * Redis's completion mark at `url` (see CompletionMark): unknown only when Redis did not answer
 * (`didNotAnswer`). A Redis that answered with a refusal — a password or ACL it rejects, a replica,
 * a database it will not select, no single Redis behind the URL — is a wrong URL, not an outage:
 * refused as a re-run always refused it (exit 1, nothing written), or the run went on, said done, and
 * left REDIS_URL pointing at a Redis the app cannot use, with the mark never checked.
 * @throws Refusal (exit 2) for a URL the store refuses; (exit 1) for a Redis that refused the store
 */
export async function completionMarkOf(url: string, keyPrefix: string): Promise<CompletionMark> {
  const store = createStore(url, keyPrefix);
  let mark: string | null;
  try {
    mark = await readMark(store);
  } catch (error) {
    await store.close().catch(() => undefined);
    const reason = messageOf(error);
    if (!didNotAnswer(reason)) throw new Refusal(`${redisDescription(url)}: ${reason}`);
    return { state: 'unknown', reason };
  }
  if (mark === null) return { state: 'missing', store };
  await store.close().catch(() => undefined);
  return { state: 'there' };
}

/** Connection failures of a Redis that is down or out of reach, as the store's last connection error names them. */
const UNREACHED = /^(?:connect |read |write |getaddrinfo )?(?:ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|EPIPE|ENOTFOUND|EAI_AGAIN)\b[^()]*$|^Connection is closed\.$|^Socket closed unexpectedly\.?$/;

/**
 * Whether `message`, a Redis store's failure, is one of a Redis that did not answer: no connection
 * (refused, reset, timed out, host unreachable, name not resolved), no answer within the deadline,
 * or still loading its data (`LOADING`) or busy with a script (`BUSY`). Anything else is an answer —
 * WRONGPASS, NOAUTH, NOPERM, READONLY, a database or server kind the store refused, a hint that the
 * URL's scheme does not match the server's TLS — or a failure not known here: either is refused.
 */
export function didNotAnswer(message: string): boolean {
  if (/^Redis did not answer within \d+ ms\.$|^Redis could not be reached\.$|^Redis is not connected \([a-z]+\)\.$/.test(message)) return true;
  if (/^Redis failed: (?:LOADING|BUSY) /.test(message)) return true;
  const last = /^Redis is not connected \([a-z]+; last error: (.*)\)\.$/s.exec(message)?.[1];
  if (last === undefined) return false;
  // A Cluster's: its seeds' slot tables not read, with the last node's error.
  const node = /^Failed to refresh slots cache\. \((.*)\)$/s.exec(last)?.[1];
  return UNREACHED.test(node ?? last);
}

/**
 * Why Redis had no completion mark for a key-value part the file marked as moved at `movedAt` (ISO),
 * as far as the re-run at `now` can tell: a mark written then would last until the file's last record
 * expires (a day at least). Before that, its absence means the run stopped before writing it, or
 * Redis lost it; past it, the mark would have expired anyway, and which of the two happened is unknown.
 */
export function missingMarkNote(native: BetterSqlite3.Database, movedAt: string, now: number): string {
  // Only a time as the mark writes it (toISOString), or with an offset: Date.parse reads '12' as
  // December 2001 and a time without a zone as local time, making up the date this says it cannot tell.
  const at = ISO_TIME.test(movedAt) ? Date.parse(movedAt) : NaN;
  // A file's expires_at past what a Date holds (edited by hand) made toISOString throw, failing the
  // run before the mark this only explains was written.
  const until = Number.isFinite(at) ? completionMarkUntil(native, at) : NaN;
  if (!(Math.abs(until) <= MAX_DATE_MS)) return `none was there: the run that copied the key-value records stopped before writing it, or it expired or was deleted since`;
  return now < until
    ? `none was there, though one written with the file's mark at ${movedAt} would last until ${new Date(until).toISOString()}: the run that copied the key-value records stopped before writing it, or Redis lost it since (deleted, evicted, or restarted without its data)`
    : `none was there; one written with the file's mark at ${movedAt} would have expired at ${new Date(until).toISOString()}, with the last record moved, so whether the run that copied the key-value records wrote it cannot be told`;
}

/** What a re-run says of a Redis that did not answer when asked for its completion mark (`reason`). */
export function unansweredNote(url: string, reason: string): string {
  return `${redisDescription(url)} (--to-redis or REDIS_URL) did not answer (${reason}), so whether it holds the completion mark of the move, which refuses a second copy into it, is unknown: run the same move-data again once it answers, to write that mark if it is missing`;
}

/** The Redis store at `url`, answering, without this move's completion mark. */
export async function openRedis(url: string, keyPrefix: string): Promise<Store> {
  const where = redisDescription(url);
  const { store, mark } = await connectRedis(url, keyPrefix);
  if (mark !== null) {
    await store.close().catch(() => undefined);
    const at = /"at":"([^"]*)"/.exec(mark)?.[1];
    throw new Refusal(
      `${where} holds the mark of a completed move (${at ?? 'time unknown'}): copying again would bring back records the app on Redis deleted since (used CSRF tokens, ended sessions); nothing was written. To move into this Redis again, delete the key ${keyPrefix}${MOVED_MARK_KEY} first`,
    );
  }
  return store;
}

/** The Redis store at `url`, answering, and its completion mark (null when there is none). */
async function connectRedis(url: string, keyPrefix: string): Promise<{ store: Store; mark: string | null }> {
  const store = createStore(url, keyPrefix);
  try {
    return { store, mark: await readMark(store) };
  } catch (error) {
    await store.close().catch(() => undefined);
    throw new Refusal(`${redisDescription(url)}: ${(error as Error).message}`);
  }
}

/** The Redis store at `url`, not yet connected. @throws Refusal (exit 2) for a URL the store refuses */
function createStore(url: string, keyPrefix: string): Store {
  try {
    return createRedisStore({ ...redisTarget(url), keyPrefix, onConnectionError: () => undefined, commandTimeoutMs: 10_000 });
  } catch (error) {
    throw new Refusal(`--to-redis (or REDIS_URL): ${(error as Error).message}`, 2);
  }
}

/** The completion mark `store` holds (null when none), once it answers its health check. */
async function readMark(store: Store): Promise<string | null> {
  await store.health();
  return store.get(MOVED_MARK_KEY);
}
