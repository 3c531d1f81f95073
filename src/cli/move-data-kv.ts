/**
 * `livecomponents move-data`, the key-value half: the live rows of the SQLite store's `lc_kv` table
 * (sessions, sealed component state, CSRF nonces, idempotency records, rate-limit state, the auth
 * service's sign-in records) written into Redis under the Redis store's own key layout and encoding,
 * each with the TTL it had left.
 *
 * Both stores keep the same keys (`src/store/keys.ts`, `src/auth/keys.ts`; the Redis store adds only
 * its `keyPrefix`) and the same value strings, written with SET … PX … NX (the store's `claim` without
 * its GET, which answers WRONGTYPE for a key of another type): the one exception is sliding-window
 * rate-limit state, a string `w:<t1>,<t2>,…` in SQLite (`rateLimitStep` in
 * src/pipeline/rate-limit/algorithms.ts) and a sorted set on Redis whose scores are those times
 * and whose members are unique ids (`src/store/redis/lua/sliding-window.ts`), written here by
 * `SLIDING_WINDOW_IMPORT`. GCRA state is the same `g:<tat>` string in both.
 *
 * Never over what Redis holds: a key already there is left as it is (counted), so a run that failed
 * half-way is run again safely, and a record an app on Redis changed meanwhile keeps its newer value.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { parseRecord } from '../pipeline/idempotency/record.js';
import type { Store } from '../store/types.js';

/** What a `lc_kv` row is, by its key (and, for idempotency records and rate-limit state, its value). */
export type KvKind =
  | 'session'
  | 'component state'
  | 'csrf nonce'
  | 'idempotency record'
  | 'rate-limit counter'
  | 'trusted devices'
  | 'other'
  // Not moved:
  | 'idempotency claim in flight'
  | 'instance lock'
  | 'unreadable rate-limit state'
  | 'lease or health check';

/** The kinds that are not moved, with why (printed beside their counts). */
export const SKIPPED_KINDS: Readonly<Partial<Record<KvKind, string>>> = {
  'idempotency claim in flight': 'its action never stored a result (the app is stopped): a retry runs it, as after a crash once the claim expires',
  'instance lock': 'held by an action of the stopped app; it only delays the next action',
  'unreadable rate-limit state': 'counts as no state in every store',
  'lease or health check': 'the token clean-up lease and the health write-check are made afresh',
};

/** The kinds in the order they are printed. */
export const KV_KINDS: readonly KvKind[] = [
  'session',
  'component state',
  'csrf nonce',
  'idempotency record',
  'rate-limit counter',
  'trusted devices',
  'other',
  'idempotency claim in flight',
  'instance lock',
  'unreadable rate-limit state',
  'lease or health check',
];

/** Rate-limit keys: the framework's (`storeKeys.rateLimit`) and the auth service's counters (`authKeys`). */
const RATE_LIMIT_KEY = /^lc:\{(?:r:[^}]*\}:rl:.*|a:[^}]*\}:auth:(?:fail|attempts|device-attempts:.*|reset-mail))$/s;
/** GCRA state as `rateLimitStep` writes it (GCRA_STATE in algorithms.ts). */
const GCRA_STATE = /^g:-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?$/;

/** How a row is moved: as the same string, as a sliding-window log (its times), or not at all. */
export type KvMove =
  | { readonly kind: KvKind; readonly as: 'string' }
  | { readonly kind: KvKind; readonly as: 'log'; readonly times: readonly number[] }
  | { readonly kind: KvKind; readonly as: 'skip' };

/** What `key` holding `value` is, and how it moves. */
export function classify(key: string, value: string): KvMove {
  if (RATE_LIMIT_KEY.test(key)) {
    if (GCRA_STATE.test(value) && Number.isFinite(Number(value.slice(2)))) return { kind: 'rate-limit counter', as: 'string' };
    const times = slidingWindowLog(value);
    return times === null ? { kind: 'unreadable rate-limit state', as: 'skip' } : { kind: 'rate-limit counter', as: 'log', times };
  }
  const session = /^lc:\{s:[^}]*\}:(session$|state:|csrf:|lock:)/s.exec(key)?.[1];
  if (session === 'session') return { kind: 'session', as: 'string' };
  if (session === 'state:') return { kind: 'component state', as: 'string' };
  if (session === 'csrf:') return { kind: 'csrf nonce', as: 'string' };
  if (session === 'lock:') return { kind: 'instance lock', as: 'skip' };
  if (/^lc:\{i:[^}]*\}:idem:/s.test(key)) {
    // A record the pipeline cannot read moves as it is: it reads as unreadable on Redis too.
    return parseRecord(value)?.s === 'pending' ? { kind: 'idempotency claim in flight', as: 'skip' } : { kind: 'idempotency record', as: 'string' };
  }
  if (/^lc:\{a:[^}]*\}:auth:devices$/s.test(key)) return { kind: 'trusted devices', as: 'string' };
  if (key === 'lc:{a:cleanup}:auth:cleanup-lease' || key === 'lc:{health}:write-check') return { kind: 'lease or health check', as: 'skip' };
  return { kind: 'other', as: 'string' };
}

/**
 * The admission times of a sliding-window state `w:<t1>,<t2>,…`, read as `rateLimitStep` reads it
 * (parseLog in algorithms.ts: finite, non-decreasing), or null for anything else (no state there).
 */
export function slidingWindowLog(value: string): number[] | null {
  if (!value.startsWith('w:') || value.length === 2) return null;
  const log = value.slice(2).split(',').map(Number);
  for (let i = 0; i < log.length; i++) {
    const t = log[i] as number;
    if (!Number.isFinite(t) || (i > 0 && t < (log[i - 1] as number))) return null;
  }
  return log;
}

/**
 * Writes a sliding-window log as the Redis store keeps it (`lua/sliding-window.ts`): a sorted set of
 * the admission times, members unique, expiring with the key's TTL; only when the key is missing.
 * KEYS[1] the log · ARGV[1] TTL in ms · ARGV[2…] score, member, score, member…
 * Returns 1 when written, 0 when the key was there (left as it is).
 */
export const SLIDING_WINDOW_IMPORT = `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 2, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

/** One live `lc_kv` row. */
export interface KvRow {
  readonly key: string;
  readonly value: string;
  /** ms since the epoch, on the clock of the app that wrote it (the same machine's). */
  readonly expires_at: number;
}

/** Per kind: rows moved, rows left because Redis held the key already, rows skipped. */
export type KvCounts = Record<KvKind, { moved: number; present: number; skipped: number }>;

export function emptyCounts(): KvCounts {
  return Object.fromEntries(KV_KINDS.map((k) => [k, { moved: 0, present: 0, skipped: 0 }])) as KvCounts;
}

export interface KvCopyOptions {
  /** The Redis store (its health check opens the copy). */
  readonly store: Store;
  /** Its client, for the sliding-window logs. */
  readonly client: Redis | Cluster;
  /** The store's `keyPrefix` (the client's commands do not add it). */
  readonly keyPrefix: string;
  /** The clock `expires_at` is read on. @default Date.now */
  readonly now?: () => number;
  /** Rows written per round trip. @default 500 */
  readonly batchSize?: number;
}

/**
 * Copies `rows` (already known live) into Redis, counting into `counts`. Each row gets the TTL it has
 * left when its batch is sent, less the previous round trip (a TTL counts from when Redis receives
 * the command, so a record never outlives its old expiry); a row with nothing left is counted in
 * `expired` and not written.
 *
 * @returns how many rows expired before they could be written
 */
export async function copyToRedis(rows: readonly KvRow[], counts: KvCounts, options: KvCopyOptions): Promise<number> {
  const now = options.now ?? Date.now;
  const size = options.batchSize ?? 500;
  let expired = 0;
  let started = now();
  await options.store.health();
  let transit = now() - started;
  const strings: { row: KvRow; kind: KvKind }[] = [];
  const logs: { row: KvRow; kind: KvKind; times: readonly number[] }[] = [];
  for (const row of rows) {
    const move = classify(row.key, row.value);
    if (move.as === 'skip') counts[move.kind].skipped++;
    else if (move.as === 'string') strings.push({ row, kind: move.kind });
    else logs.push({ row, kind: move.kind, times: move.times });
  }
  for (let i = 0; i < strings.length; i += size) {
    started = now();
    const ops: { key: string; value: string; ttlMs: number }[] = [];
    const sent: { row: KvRow; kind: KvKind }[] = [];
    for (const entry of strings.slice(i, i + size)) {
      const ttlMs = entry.row.expires_at - started - transit;
      if (ttlMs <= 0) {
        expired++;
        continue;
      }
      ops.push({ key: entry.row.key, value: entry.row.value, ttlMs: Math.ceil(ttlMs) });
      sent.push(entry);
    }
    if (ops.length === 0) continue;
    // SET … PX … NX, without the store's GET: a key of another type (a sorted set an app on Redis
    // keeps for a limit now configured as a sliding window) answers nil, not WRONGTYPE, and is left.
    // All of a batch are sent at once (one pipeline on one connection; a Cluster client routes each).
    const results = await Promise.allSettled(ops.map((op) => options.client.set(options.keyPrefix + op.key, op.value, 'PX', op.ttlMs, 'NX')));
    transit = Math.max(1, now() - started);
    results.forEach((result, j) => {
      const { kind } = sent[j] as (typeof sent)[number];
      if (result.status === 'rejected') return;
      if (result.value === 'OK') counts[kind].moved++;
      else counts[kind].present++;
    });
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
  }
  const memberPrefix = `m:${randomBytes(6).toString('base64url')}:`;
  for (const { row, kind, times } of logs) {
    started = now();
    const ttlMs = row.expires_at - started - transit;
    if (ttlMs <= 0) {
      expired++;
      continue;
    }
    const args = times.flatMap((t, n) => [String(t), `${memberPrefix}${n.toString(36)}`]);
    const written = await options.client.eval(SLIDING_WINDOW_IMPORT, 1, options.keyPrefix + row.key, String(ttlMs), ...args);
    transit = Math.max(1, now() - started);
    if (written === 1) counts[kind].moved++;
    else counts[kind].present++;
  }
  return expired;
}
