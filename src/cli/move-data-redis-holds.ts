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
 * Records whose expiry falls about the lookup's time count neither way (EXPIRY_SLACK_MS). A Redis that
 * stops answering during the lookup leaves the mark unchecked, as one that did not answer for it.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Cluster, Redis } from 'ioredis';
import { redisClientOf } from '../store/redis/index.js';
import type { Store } from '../store/types.js';
import { redisDescription, Refusal } from './command.js';
import { classify, type KvRow } from './move-data-kv.js';
import { messageOf } from './move-data-mark.js';
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

/** Keys looked up per round trip (sent together on one connection: a pipeline, not a wait each). */
const BATCH = 500;

/**
 * Around the lookup, a record's expiry tells nothing either way: its copy in Redis expires up to a
 * batch's time in transit before or after the file's `expires_at` (copyToRedis gives it the TTL left
 * less the previous round trip, counted from when Redis receives the SET), and a lookup of a large
 * file takes seconds. Counted, a copy that had just expired made "every record there" false and
 * refused a Redis the move is in, and a copy that outlived its row by milliseconds counted as a key
 * an app wrote.
 */
const EXPIRY_SLACK_MS = 5_000;

/**
 * A failure of Redis during the lookup (not of the file): `answered` when Redis answered with an error
 * (NOPERM: an ACL user without EXISTS or SCAN), else no answer (a connection dropped or never made,
 * LOADING, BUSY). The client's own failures are not Redis's answers: a connection dropped mid-lookup
 * fails the command with "Reached the max retries per request limit" (maxRetriesPerRequest is 0).
 */
class LookupFailed extends Error {
  readonly answered: boolean;
  constructor(cause: unknown) {
    super(messageOf(cause));
    this.answered = cause instanceof Error && cause.name === 'ReplyError' && !/^(?:LOADING|BUSY) /.test(cause.message);
  }
}

/**
 * What `store` (a Redis without the completion mark) holds of the records `native` would move: those
 * live past the lookup (EXPIRY_SLACK_MS), and any other key of this framework under `keyPrefix`.
 * @throws LookupFailed when Redis refuses or does not answer a lookup
 */
export async function heldOfMove(native: BetterSqlite3.Database, store: Store, keyPrefix: string, now: () => number): Promise<HeldOfMove> {
  const client = redisClientOf(store);
  if (client === undefined) throw new Error('the Redis store has no client');
  const started = now();
  const rows = (native.prepare('SELECT key, value, expires_at FROM lc_kv WHERE expires_at > ?').all(started - EXPIRY_SLACK_MS) as KvRow[]).filter(
    (row) => classify(row.key, row.value).as !== 'skip',
  );
  const found: number[] = [];
  try {
    for (let i = 0; i < rows.length; i += BATCH) {
      // One key per EXISTS, the batch's sent at once: a Cluster client routes each to its slot's master.
      found.push(...(await Promise.all(rows.slice(i, i + BATCH).map((row) => client.exists(keyPrefix + row.key)))));
    }
  } catch (error) {
    throw new LookupFailed(error);
  }
  const certainUntil = now() + EXPIRY_SLACK_MS;
  const session = /^lc:\{s:/;
  let live = 0;
  let there = 0;
  let sessionsThere = 0;
  rows.forEach((row, i) => {
    // Expired in the file at the start, or missing from Redis and expiring about now: no evidence.
    if (row.expires_at <= started || (found[i] === 0 && row.expires_at <= certainUntil)) return;
    live++;
    if (found[i] === 0) return;
    there++;
    if (session.test(row.key)) sessionsThere++;
  });
  const held = { live, there, sessionsThere };
  // All there: the move is in this Redis, whoever wrote there since; no walk of its keys needed.
  if (there === live) return { ...held, othersWritten: false };
  // The keys of every row looked up are the move's, even one the file says expired a moment ago.
  const moved = new Set(rows.map((row) => keyPrefix + row.key));
  try {
    return { ...held, othersWritten: await otherKeyUnder(client, keyPrefix, moved) };
  } catch (error) {
    throw new LookupFailed(error);
  }
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
  /** A dry run's: the real run would write the missing completion mark (the records are there). */
  readonly markWouldBeWritten?: true;
  /** Set when the part is to be copied again: the line saying why. */
  readonly copyAgain?: string;
  /** Set when Redis did not answer: the note saying its mark is unchecked. */
  readonly unanswered?: string;
}

/**
 * Asks Redis for the completion mark of the move the file records, and when it is missing, what Redis
 * holds of the move (missingMarkPlan). A dry run writes nothing and gives the run's verdict: the part
 * it would copy again, the mark it would write, a refusal, or the mark unchecked. Taking a Redis that
 * refused the URL, or did not answer, for one without a word, a dry run said "done" (exit 0) where the
 * run then failed. A Redis that stops answering during the lookup leaves the mark unchecked, as one
 * that did not answer for it; one that refuses the lookup (an ACL user without EXISTS or SCAN) is
 * refused, naming what to grant.
 */
export async function keyValueReRun(
  native: BetterSqlite3.Database,
  run: ReRunPlace & { readonly keyPrefix: string; readonly dryRun: boolean; readonly now: () => number },
): Promise<KeyValueReRun> {
  // A dry run too: a Redis refusing the URL is refused, one not answering leaves the mark unchecked.
  const mark = await completionMarkOf(run.url, run.keyPrefix);
  if (mark.state === 'unknown') return { unanswered: unansweredNote(run.url, mark.reason) };
  if (mark.state !== 'missing') return {};
  let plan: ReturnType<typeof missingMarkPlan>;
  try {
    plan = missingMarkPlan(await heldOfMove(native, mark.store, run.keyPrefix, run.now), run);
  } catch (error) {
    await mark.store.close().catch(() => undefined);
    if (!(error instanceof LookupFailed)) throw error;
    if (!error.answered) return { unanswered: unansweredNote(run.url, error.message) };
    const grant = /^NOPERM /.test(error.message) ? 'Grant the ACL user of --to-redis (or REDIS_URL) EXISTS and SCAN (+exists +scan: move-data looks the move\'s records up with them), then run' : 'Run';
    throw new Refusal(
      `${redisDescription(run.url)} has no completion mark of the move, and what it holds of the records ${run.where} marks as moved to ${run.target} could not be looked up (${error.message}): neither the mark nor the records were written. ${grant} the same move-data again`,
    );
  }
  if (plan.plan === 'mark') {
    if (!run.dryRun) return { markOn: mark.store };
    await mark.store.close().catch(() => undefined);
    return { markWouldBeWritten: true };
  }
  await mark.store.close().catch(() => undefined);
  return { copyAgain: `${plan.note}: ${run.dryRun ? 'would be copied again' : 'copied again'}` };
}
