/**
 * `livecomponents revoke-sessions`, the trusted devices: forgets the lists of browsers trusted to
 * sign in to an account (src/auth/device.ts) in the store the sessions are in, for every account or
 * one; walked with the sessions' helpers (`revoke-sessions-redis-commands.ts`, `revoke-sessions-sqlite.ts`).
 */
import type { Cluster, Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { authKeys } from '../auth/keys.js';
import type { Clock } from '../core/clock.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { globEscape, nodesOf, recordValue, SCAN_COUNT, unlinkCounted } from './revoke-sessions-redis-commands.js';
import { SQLITE_PIECE } from './revoke-sessions-sqlite.js';
import { NEVER, stopIfAsked, type StopCheck } from './revoke-sessions-stop.js';

/** Which accounts' trusted devices to forget: every account's, or those of one (normalised) email. */
export type DeviceTarget = { readonly all: true } | { readonly all: false; readonly email: string };

/** Trusted devices forgotten (or, dry, that would be): the accounts' lists and the devices in them. */
export interface DeviceCounts {
  accounts: number;
  devices: number;
}

/** A key of an account's trusted devices (src/auth/keys.ts `authKeys.devices`). */
const DEVICES_KEY = /^lc:\{a:[^}]*\}:auth:devices$/;
const ACCOUNT_FAMILY = 'lc:{a:';
const PAST_ACCOUNT_FAMILY = 'lc:{a;';

/** How many devices a list holds (digests, space-separated). */
function devicesIn(value: string | null | undefined): number {
  return value === null || value === undefined ? 0 : value.split(' ').filter((d) => d !== '').length;
}

/**
 * Forgets the trusted devices of `target` in an SQLite store's `lc_kv` (live rows): one account's key,
 * or every account's, walked in pieces of one short write transaction each. Counts into `counts` as
 * each piece commits; `stop` is asked before each piece.
 *
 * Each piece asks `clock` for the time it reads at, as the sessions' walk does: with one time for the
 * whole walk, a list that expired while it went on (the app reads it as absent) was counted by the dry
 * run and the run alike. The run counts the rows its DELETE returned (live ones: an expired row is left
 * to the sweep), not the rows its read listed.
 */
export async function endSqliteDevices(
  db: Kysely<DatabaseSchema>,
  target: DeviceTarget,
  clock: Clock,
  dryRun: boolean,
  counts: DeviceCounts = { accounts: 0, devices: 0 },
  stop: StopCheck = NEVER,
): Promise<DeviceCounts> {
  let after = ACCOUNT_FAMILY;
  for (;;) {
    stopIfAsked(stop);
    const piece = await db.transaction().execute(async (trx) => {
      const now = clock.now();
      let query = trx.selectFrom('lc_kv').select(['key', 'value']).where('expires_at', '>', now);
      query = target.all
        ? query.where('key', '>=', after).where('key', '<', PAST_ACCOUNT_FAMILY).where('key', 'like', '%:auth:devices').orderBy('key').limit(SQLITE_PIECE)
        : query.where('key', '=', authKeys.devices(target.email));
      const read = await query.execute();
      // LIKE is case-insensitive and `%` spans `}`: the stricter pattern keeps the lists the app reads.
      const lists = new Map(read.filter((row) => DEVICES_KEY.test(row.key)).map((row) => [row.key, row.value]));
      let ended: Iterable<string> = lists.keys();
      if (!dryRun && lists.size > 0) {
        const deleted = await trx.deleteFrom('lc_kv').where('key', 'in', [...lists.keys()]).where('expires_at', '>', now).returning('key').execute();
        ended = deleted.map((row) => row.key);
      }
      return { read, values: [...ended].map((key) => lists.get(key)) };
    });
    counts.accounts += piece.values.length;
    for (const value of piece.values) counts.devices += devicesIn(value);
    // Paged by the rows read, not those kept: a full page with a row filtered out is no last page.
    if (!target.all || piece.read.length < SQLITE_PIECE) return counts;
    after = `${(piece.read[piece.read.length - 1] as { key: string }).key}\u0000`;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Forgets the trusted devices of `target` in Redis under `keyPrefix`: one account's key (GET, then
 * UNLINK of a list found), or every account's, SCANned on every node. Counted once per list this run
 * deleted (UNLINK answered 1), or in a dry run per distinct list seen; `stop` is asked before each SCAN.
 */
export async function endRedisDevices(
  client: Redis | Cluster,
  keyPrefix: string,
  target: DeviceTarget,
  dryRun: boolean,
  counts: DeviceCounts = { accounts: 0, devices: 0 },
  stop: StopCheck = NEVER,
): Promise<DeviceCounts> {
  const forget = async (node: Redis | Cluster, candidates: string[]) => {
    const read = await Promise.all(candidates.map((key) => recordValue(node, key, client)));
    // The lists that are there, counted by the dry run and forgotten by the run alike: a key of
    // another type is no list (the app reads none there) and is left, like every key not the app's.
    const keys = candidates.filter((_key, i) => read[i] !== null);
    const values = read.filter((value) => value !== null);
    const count = (removed: number[]) =>
      keys.forEach((_key, i) => {
        if (removed[i] !== 1) return;
        counts.accounts++;
        counts.devices += devicesIn(values[i]);
      });
    if (dryRun) count(keys.map(() => 1));
    else await unlinkCounted(node, keys, count, client);
  };
  if (!target.all) {
    stopIfAsked(stop);
    // On a Cluster the client routes the key to its master.
    await forget(client, [`${keyPrefix}${authKeys.devices(target.email)}`]);
    return counts;
  }
  const pattern = `${globEscape(keyPrefix)}${globEscape(ACCOUNT_FAMILY)}*${globEscape('}:auth:devices')}`;
  const seen = new Set<string>();
  for (const node of nodesOf(client)) {
    let cursor = '0';
    do {
      stopIfAsked(stop);
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
      cursor = next;
      const fresh = keys.filter((key) => DEVICES_KEY.test(key.slice(keyPrefix.length)) && !(dryRun && seen.has(key)));
      for (const key of fresh) seen.add(key);
      if (fresh.length > 0) await forget(node, fresh);
    } while (cursor !== '0');
  }
  return counts;
}
