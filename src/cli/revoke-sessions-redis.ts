/**
 * `livecomponents revoke-sessions`: ending sessions in Redis under the app's key prefix, on one server
 * or every master of a Cluster, counting what UNLINK deleted (or, dry, what is still there when read).
 */
import type { Cluster, Redis } from 'ioredis';
import { nodesOf, recordValue, redirected, scanSessions, unlinkCounted } from './revoke-sessions-redis-commands.js';
import { countKey, emptySessionCounts, parseSessionKey, pickerOf, recordUser, type ReadRecord, type SessionCounts, type SessionTarget } from './revoke-sessions-session-keys.js';
import { NEVER, type StopCheck } from './revoke-sessions-stop.js';

/** A key of the session family that is there but holds no string (a hash, a set): no record, deleted all the same. */
const OTHER_TYPE = Symbol('not a string');

/**
 * A session record's value as `recordValue` reads it, but a key of another type (there, no record the
 * app reads, and deleted like the rest of the session) told apart from a key that is gone (null).
 */
function sessionRecord(node: Redis | Cluster, client: Redis | Cluster, key: string): Promise<string | null | typeof OTHER_TYPE> {
  return redirected(node, client, (to) => to.get(key)).catch((error: unknown) => {
    if (error instanceof Error && error.message.startsWith('WRONGTYPE')) return OTHER_TYPE;
    throw error;
  });
}

/** A key of the session family that is not read (a state, a nonce): there (no value read), or gone (null). */
async function stillThere(node: Redis | Cluster, client: Redis | Cluster, key: string): Promise<null | typeof OTHER_TYPE> {
  return (await redirected(node, client, (to) => to.exists(key))) === 1 ? OTHER_TYPE : null;
}

/**
 * Ends the sessions of `target` in Redis: SCANs each node for the sessions' keys under `keyPrefix`
 * and deletes them there (UNLINK, one key per command: on a Cluster the keys of one call must share a
 * slot). With one user (or `--orphans`): a first walk reads every session record and keeps those
 * naming the user (or those the target's picker chooses, page by page), a second deletes their keys. A key seen twice by SCAN is counted once: the count is of keys this run
 * deleted (UNLINK answered 1), or in a dry run of distinct keys still there when read (GET, EXISTS). A key
 * listed by a master that no longer serves its slot (a reshard under way) is read and deleted through
 * the Cluster client (`redirected`). Counts into `counts` as each
 * page's deletes are answered; `stop` is asked before each SCAN (`Interrupted`).
 */
export async function endRedisSessions(
  client: Redis | Cluster,
  keyPrefix: string,
  target: SessionTarget,
  dryRun: boolean,
  counts: SessionCounts = emptySessionCounts(),
  stop: StopCheck = NEVER,
): Promise<SessionCounts> {
  const nodes = nodesOf(client);
  let owned: Set<string> | null = null;
  if (!target.all) {
    const picker = pickerOf(target);
    const found = new Set<string>();
    for (const node of nodes) {
      await scanSessions(node, keyPrefix, async (keys) => {
        const records = keys.filter((key) => parseSessionKey(key.slice(keyPrefix.length))?.part === 'session');
        const values = await Promise.all(records.map((key) => recordValue(node, key, client)));
        const read: ReadRecord[] = [];
        records.forEach((key, i) => {
          const value = values[i];
          if (value !== null && value !== undefined) read.push({ session: (parseSessionKey(key.slice(keyPrefix.length)) as { session: string }).session, user: recordUser(value) });
        });
        for (const session of await picker.pick(read)) found.add(session);
      }, stop);
    }
    for (const session of await picker.done()) found.add(session);
    if (found.size === 0) return counts;
    owned = found;
  }
  const seen = new Set<string>();
  for (const node of nodes) {
    await scanSessions(node, keyPrefix, async (keys) => {
      const doomed: { key: string; part: string }[] = [];
      for (const key of keys) {
        const parsed = parseSessionKey(key.slice(keyPrefix.length));
        if (parsed === null || parsed.part === 'lock' || parsed.part === 'other') continue;
        if (owned !== null && !owned.has(parsed.session)) continue;
        if (dryRun && seen.has(key)) continue;
        doomed.push({ key, part: parsed.part });
      }
      // The record is read for its count (signed in or anonymous), by the same round trip's GETs; in a
      // dry run the other keys are looked for too (EXISTS: a state may be megabytes), so one gone since
      // SCAN listed it (expired, its session ended) is not counted as one the run would delete.
      const users = await Promise.all(
        doomed.map(({ key, part }) => (part === 'session' ? sessionRecord(node, client, key) : dryRun ? stillThere(node, client, key) : Promise.resolve(OTHER_TYPE))),
      );
      const count = (removed: number[]) =>
        doomed.forEach(({ key, part }, i) => {
          if (removed[i] !== 1) return;
          const raw = users[i];
          countKey(counts, part, typeof raw === 'string' ? recordUser(raw) : undefined);
          if (dryRun) seen.add(key);
        });
      // The dry run counts what UNLINK would delete: a key gone between SCAN and its GET or EXISTS
      // (signed out, expired) would answer 0, so it is left out.
      if (dryRun) count(users.map((raw) => (raw === null ? 0 : 1)));
      else await unlinkCounted(node, doomed.map(({ key }) => key), count, client);
    }, stop);
  }
  return counts;
}
