/**
 * `livecomponents move-data`, the key-value part: the file's live `lc_kv` rows copied into Redis
 * (move-data-kv.ts: how each kind moves), then the file marked as moved there and, last, Redis's
 * completion mark (move-data-redis.ts), which refuses a second copy into it; and the counts printed,
 * per kind.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { redisClientOf } from '../store/redis/index.js';
import type { Store } from '../store/types.js';
import type { MovedMark } from '../sql/moved-mark.js';
import { redisDescription, Refusal } from './command.js';
import { messageOf } from './move-data-mark.js';
import { writeCompletionMark } from './move-data-redis.js';
import { classify, copyToRedis, emptyCounts, KV_KINDS, SKIPPED_KINDS, type KvCounts, type KvRow } from './move-data-kv.js';

/**
 * Copies the key-value rows into Redis and, unless a dry run, marks the source (`markSource`, once
 * every record is in) and then Redis (its completion mark).
 * @returns the source's mark, or undefined for a dry run
 */
export async function moveKeyValues(
  native: BetterSqlite3.Database,
  store: Store,
  url: string,
  keyPrefix: string,
  dryRun: boolean,
  now: () => number,
  out: (line: string) => void,
  markSource: () => MovedMark,
): Promise<MovedMark | undefined> {
  const at = now();
  const all = native.prepare('SELECT key, value, expires_at FROM lc_kv').all() as KvRow[];
  const live = all.filter((row) => row.expires_at > at);
  const counts = emptyCounts();
  let expired = all.length - live.length;
  const where = redisDescription(url);
  let mark: MovedMark | undefined;
  if (dryRun) {
    for (const row of live) {
      const move = classify(row.key, row.value);
      if (move.as === 'skip') counts[move.kind].skipped++;
      else counts[move.kind].moved++;
    }
  } else {
    const client = redisClientOf(store);
    if (client === undefined) throw new Error('the Redis store has no client');
    expired += await copyToRedis(live, counts, { store, client, keyPrefix, now });
    mark = markSource();
    try {
      await writeCompletionMark(native, store, now);
    } catch (error) {
      throw new Refusal(
        `${where} did not take the completion mark of the move (${messageOf(error)}): the key-value records are in it and the file is marked as moved there; run the same move-data again to write that mark (it refuses a second copy into this Redis)`,
      );
    }
  }
  printCounts(counts, expired, where, dryRun, out);
  return mark;
}

function printCounts(counts: KvCounts, expired: number, where: string, dryRun: boolean, out: (line: string) => void): void {
  for (const kind of KV_KINDS) {
    const { moved, present, skipped } = counts[kind];
    const reason = SKIPPED_KINDS[kind];
    if (reason !== undefined) {
      out(`move-data: key-value ${kind}: ${skipped} not moved (${reason})`);
      continue;
    }
    const there = present > 0 ? `, ${present} already in Redis (left as they are)` : '';
    out(`move-data: key-value ${kind}: ${moved} ${dryRun ? 'would be copied' : 'copied'}${there}`);
  }
  out(`move-data: key-value expired: ${expired} not moved (past their TTL)`);
  const total = Object.values(counts).reduce((n, c) => n + c.moved, 0);
  out(`move-data: ${where}: ${total} key-value records ${dryRun ? 'would be copied' : 'copied'} with the TTL each had left`);
}
