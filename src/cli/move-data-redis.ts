/**
 * `livecomponents move-data`, its Redis target: the store opened and checked for the completion mark
 * a run leaves once every key-value record is in, and that mark written.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { redisTarget } from '../runtime/backends.js';
import { createRedisStore } from '../store/redis/index.js';
import type { Store } from '../store/types.js';
import { redisDescription, Refusal } from './command.js';

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
  const { last } = native.prepare('SELECT coalesce(max(expires_at), 0) AS last FROM lc_kv').get() as { last: number };
  await store.set(MOVED_MARK_KEY, JSON.stringify({ at: new Date(now()).toISOString() }), Math.max(MARK_MIN_TTL_MS, last - now()));
}

/**
 * For a key-value part the file says was moved to `url`: the Redis store, answering, when it lacks
 * the completion mark (the run that copied stopped before writing it), else undefined.
 */
export async function unfinishedRedis(url: string, keyPrefix: string): Promise<Store | undefined> {
  const { store, mark } = await connectRedis(url, keyPrefix);
  if (mark === null) return store;
  await store.close().catch(() => undefined);
  return undefined;
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
  const where = redisDescription(url);
  let store: Store;
  try {
    store = createRedisStore({ ...redisTarget(url), keyPrefix, onConnectionError: () => undefined, commandTimeoutMs: 10_000 });
  } catch (error) {
    throw new Refusal(`--to-redis (or REDIS_URL): ${(error as Error).message}`, 2);
  }
  try {
    await store.health();
    return { store, mark: await store.get(MOVED_MARK_KEY) };
  } catch (error) {
    await store.close().catch(() => undefined);
    throw new Refusal(`${where}: ${(error as Error).message}`);
  }
}
