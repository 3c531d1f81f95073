/**
 * `livecomponents move-data`, a re-run of a key-value part the file marks as moved, into a Redis
 * that has no completion mark: what that Redis holds of the move decides what the run does. Only
 * writing the mark, as it did, claimed a move Redis may not hold: a Redis that lost its data since
 * (restarted without persistence, flushed) or a URL now reaching another Redis (a host name resolving
 * elsewhere, a tunnel or proxy to another server) got the mark over none of the records — the app then
 * started on it with everyone signed out and its idempotency records gone (a payment retried ran
 * again), and the mark refused the copy that would have brought them.
 *
 * So the file's records still live (the file is the source still: it is as it was at the move) are
 * looked up in Redis, and Redis is searched for any other key of this framework under the key prefix
 * (an app has written there since):
 * - every record there (or none live to move): the run stopped before the mark, or the mark expired or
 *   was lost alone — the mark is written, as before;
 * - some or none there, and no other key of this framework: no app has used this Redis since, so
 *   nothing there can have been deleted by one — the part is copied again (SET … NX: what is there is
 *   left), then marked in the file and in Redis, as a first run does;
 * - some there, a session's record among them, and other keys: the move happened here and an app has
 *   used it since (what is missing it deleted, or Redis evicted): the mark is written, as before —
 *   copying again would bring back what the app deleted (used CSRF tokens, ended sessions);
 * - none there (or no session's: a rate limit's or idempotency key may be in another deployment's
 *   Redis too), and other keys: another Redis, or one that lost the records and an app has written
 *   there since — neither is honest (the mark would claim a move that is not there, a copy would bring
 *   back records deleted since into a Redis in use): refused, nothing written.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Cluster, Redis } from 'ioredis';
import { redisClientOf } from '../store/redis/index.js';
import type { Store } from '../store/types.js';
import { redisDescription, Refusal } from './command.js';
import { classify, type KvRow } from './move-data-kv.js';
import { completionMarkOf, MOVED_MARK_KEY, unansweredNote } from './move-data-redis.js';
import { globEscape, nodesOf, SCAN_COUNT } from './revoke-sessions-redis-commands.js';

/** What a Redis without the completion mark holds of the file's key-value records still live. */
export interface HeldOfMove {
  /** The file's records a copy now would move (live, of a kind that moves). */
  readonly live: number;
  /** How many of them Redis holds (their keys, whatever the values: an app may have changed them). */
  readonly there: number;
  /**
   * How many of those are named by a session's random id (a session, its state, its CSRF nonces): no
   * other Redis holds one by chance, where a rate limit's key (an address, an account) or an
   * idempotency key (the client's) may be in another deployment's Redis too.
   */
  readonly sessionsThere: number;
  /** Whether Redis holds any other key of this framework under the prefix: an app has written there. */
  readonly othersWritten: boolean;
}

/** Keys looked up per round trip. */
const BATCH = 500;

/** What `store` (a Redis without the completion mark) holds of the records `native` would move at `now`. */
export async function heldOfMove(native: BetterSqlite3.Database, store: Store, keyPrefix: string, now: number): Promise<HeldOfMove> {
  const client = redisClientOf(store);
  if (client === undefined) throw new Error('the Redis store has no client');
  const rows = native.prepare('SELECT key, value, expires_at FROM lc_kv WHERE expires_at > ?').all(now) as KvRow[];
  const keys = rows.filter((row) => classify(row.key, row.value).as !== 'skip').map((row) => keyPrefix + row.key);
  let there = 0;
  let sessionsThere = 0;
  const session = `${keyPrefix}lc:{s:`;
  for (let i = 0; i < keys.length; i += BATCH) {
    const batch = keys.slice(i, i + BATCH);
    // One key per EXISTS: a Cluster client routes each to its slot's master.
    const found = await Promise.all(batch.map((key) => client.exists(key)));
    found.forEach((f, j) => {
      there += f;
      if (f === 1 && (batch[j] as string).startsWith(session)) sessionsThere++;
    });
  }
  const held = { live: keys.length, there, sessionsThere };
  // All there: the move is in this Redis, whoever wrote there since; no walk of its keys needed.
  if (there === keys.length) return { ...held, othersWritten: false };
  return { ...held, othersWritten: await otherKeyUnder(client, keyPrefix, new Set(keys)) };
}

/**
 * Whether any master of `client` holds a key of this framework (`lc:{…`) under `keyPrefix` that is not
 * in `moved`: SCAN, stopping at the first. Keys of other apps (not `lc:{`, or under another prefix)
 * are not looked at: a Redis shared with them is no sign that this app used it.
 */
async function otherKeyUnder(client: Redis | Cluster, keyPrefix: string, moved: ReadonlySet<string>): Promise<boolean> {
  const pattern = `${globEscape(keyPrefix)}${globEscape('lc:{')}*`;
  const mark = keyPrefix + MOVED_MARK_KEY;
  for (const node of nodesOf(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
      cursor = next;
      if (keys.some((key) => !moved.has(key) && key !== mark)) return true;
    } while (cursor !== '0');
  }
  return false;
}

/** Where a re-run stands: the file (`where`), the target as its mark names it, the Redis URL. */
export interface ReRunPlace {
  readonly where: string;
  readonly target: string;
  readonly url: string;
}

/**
 * What the re-run does with a Redis that has no completion mark (see the module comment): `mark`, write
 * it (the records are there); `copy`, copy the part again, `note` saying why.
 * @throws Refusal for a Redis holding none of the records and other keys of this framework
 */
export function missingMarkPlan(held: HeldOfMove, place: ReRunPlace): { readonly plan: 'mark' } | { readonly plan: 'copy'; readonly note: string } {
  // Beside an app's keys, only a session's record proves the move was here (sessionsThere).
  if (held.there === held.live || (held.sessionsThere > 0 && held.othersWritten)) return { plan: 'mark' };
  const holds = held.there === 0 ? `none of the ${held.live} records of it still live` : `${held.there} of the ${held.live} records of it still live`;
  if (held.othersWritten) {
    throw new Refusal(
      `${redisDescription(place.url)} has no completion mark of the move and ${holds} that ${place.where} marks as moved to ${place.target}${held.there > 0 ? " (none a session's, which no other Redis holds by chance)" : ''}, but other keys of this framework: the URL reaches another Redis than the move's, or this one lost the records and an app has written there since; writing the mark would claim a move that is not there, and copying again would bring back into a Redis in use records deleted since (used CSRF tokens, ended sessions); nothing was written. Point --to-redis (or REDIS_URL) at the Redis the move went to`,
    );
  }
  return {
    plan: 'copy',
    note: `the key-value part is marked in ${place.where} as moved to ${place.target}, which holds ${holds}, no completion mark and no other key of this framework (Redis lost them since — restarted without its data, flushed, evicted — or the URL now reaches another Redis; no app has written there since)`,
  };
}

/** What a re-run does about a key-value part the file marks as moved to `place.target`. */
export interface KeyValueReRun {
  /** The store to write the missing completion mark on (the records are there); the caller closes it. */
  readonly markOn?: Store;
  /** Set when the part is to be copied again: the line saying why. */
  readonly copyAgain?: string;
  /** Set when Redis did not answer: the note saying its mark is unchecked. */
  readonly unanswered?: string;
}

/**
 * Asks Redis for the completion mark of the move the file records, and when it is missing, what Redis
 * holds of the move (missingMarkPlan). A dry run writes nothing and asks only what it can without
 * failing where it did not before (a Redis down or refusing): the part it would copy again, or refuse.
 */
export async function keyValueReRun(
  native: BetterSqlite3.Database,
  run: ReRunPlace & { readonly keyPrefix: string; readonly dryRun: boolean; readonly now: () => number },
): Promise<KeyValueReRun> {
  const mark = run.dryRun ? await completionMarkOf(run.url, run.keyPrefix).catch(() => undefined) : await completionMarkOf(run.url, run.keyPrefix);
  if (mark?.state === 'unknown') return run.dryRun ? {} : { unanswered: unansweredNote(run.url, mark.reason) };
  if (mark?.state !== 'missing') return {};
  let plan: ReturnType<typeof missingMarkPlan>;
  try {
    plan = missingMarkPlan(await heldOfMove(native, mark.store, run.keyPrefix, run.now()), run);
  } catch (error) {
    await mark.store.close().catch(() => undefined);
    throw error;
  }
  if (plan.plan === 'mark' && !run.dryRun) return { markOn: mark.store };
  await mark.store.close().catch(() => undefined);
  return plan.plan === 'copy' ? { copyAgain: `${plan.note}: ${run.dryRun ? 'would be copied again' : 'copied again'}` } : {};
}
