/**
 * `livecomponents revoke-sessions`, the key-value half: ends browser sessions in the store the app
 * keeps them in — the SQLite store's `lc_kv` table, or Redis (one server, or every master of a
 * Cluster) under the app's key prefix. A session is its record, `lc:{s:<key>}:session`
 * (src/store/keys.ts), whose JSON names its user (`u`: `null` when anonymous, the user id, or
 * `<user id>/<sign-in id>` for a sign-in of the auth module, src/auth/accounts.ts). Ending one
 * deletes the record and the keys of its hash tag that only it reads: its sealed component state and
 * its CSRF nonces. Its instance locks are left to expire (seconds): an action holding one is still
 * running, and whatever it writes afterwards belongs to a session that no longer exists.
 *
 * It also forgets the trusted devices of the accounts it signs out (`revoke-sessions-devices.ts`): a browser that signed in to an account keeps a sign-in budget of its own for it
 * (src/auth/device.ts), apart from the per-account one, for 90 days; after an incident, the browser of
 * whoever signed in must not keep guessing at the account's new password while everyone else is held
 * to the account's limit.
 *
 * Nothing else is touched: idempotency records, rate-limit state, other apps' keys
 * (another key prefix, or none of ours). An action running meanwhile cannot bring a deleted record
 * back: it renews its session with a `touch`, which writes nothing on a missing key
 * (src/session/index.ts).
 */
import type { Cluster, Redis } from 'ioredis';
import { sql, type Kysely } from 'kysely';
import type { Clock } from '../core/clock.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { WRITE_CHECK_KEY } from '../store/keys.js';

/** Which sessions to end: all of them, or those whose record names this user id. */
export type SessionTarget = { readonly all: true } | { readonly all: false; readonly userId: string };

/** What one run ended (or, dry, would end). */
export interface SessionCounts {
  /** Session records naming a user. */
  signedIn: number;
  /** Session records of no user. */
  anonymous: number;
  componentStates: number;
  csrfNonces: number;
}

export function emptySessionCounts(): SessionCounts {
  return { signedIn: 0, anonymous: 0, componentStates: 0, csrfNonces: 0 };
}

/** The signal a run was asked to stop by (SIGINT, SIGTERM), once it was; asked at each safe point. */
export type StopCheck = () => NodeJS.Signals | undefined;

export const NEVER: StopCheck = () => undefined;

/** Thrown at a safe point (between two pieces, nothing half-written) of a run asked to stop. */
export class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/** Throws `Interrupted` when the run was asked to stop. */
export function stopIfAsked(stop: StopCheck): void {
  const signal = stop();
  if (signal !== undefined) throw new Interrupted(signal);
}

/** The first key of the sessions' family and the first one past it (`;` follows `:`). */
const SESSION_FAMILY = 'lc:{s:';
const PAST_SESSION_FAMILY = 'lc:{s;';

/** A session-family key split: the session's key (the hash tag's content) and what the key holds. */
function parseSessionKey(key: string): { session: string; part: 'session' | 'state' | 'csrf' | 'lock' | 'other' } | null {
  const match = /^lc:\{s:([^}]*)\}:(session$|state:|csrf:|lock:)?/s.exec(key);
  if (match === null) return null;
  const part = match[2] === undefined ? 'other' : match[2] === 'session' ? 'session' : (match[2].slice(0, -1) as 'state' | 'csrf' | 'lock');
  return { session: match[1] as string, part };
}

/**
 * The user a session record names, `null` for an anonymous one, `undefined` for a value that is no
 * record (the app reads it as no session either).
 */
function recordUser(raw: string): string | null | undefined {
  try {
    const value = JSON.parse(raw) as { u?: unknown };
    if (typeof value !== 'object' || value === null) return undefined;
    return value.u === null ? null : typeof value.u === 'string' ? value.u : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a record naming `user` is a session of `userId`: the id itself, or a sign-in of it. */
function namesUser(user: string | null | undefined, userId: string): boolean {
  return typeof user === 'string' && (user === userId || user.startsWith(`${userId}/`));
}

/** Counts one key that is deleted (or would be) into `counts`; a record by the user it names. */
function countKey(counts: SessionCounts, part: string, user: string | null | undefined): void {
  if (part === 'session') {
    if (typeof user === 'string') counts.signedIn++;
    else counts.anonymous++;
  } else if (part === 'state') counts.componentStates++;
  else if (part === 'csrf') counts.csrfNonces++;
}

/**
 * Rows read and deleted per piece, one short write transaction each. Deleting a large value costs
 * about its size (the store's sweep measured 316 ms for 500 states of 1.4 MB): 200 keeps a piece of
 * such states near a tenth of the 2 s the app's writes wait for the lock.
 */
export const SQLITE_PIECE = 200;

/** The value of a session record only: the states beside it may be megabytes each, and are not read. */
const RECORD_VALUE = sql<string | null>`case when substr(key, -8) = ':session' then value end`.as('value');

/**
 * Ends the sessions of `target` in an SQLite store's `lc_kv` (live rows only: an expired row reads as
 * absent already, and the store's sweep deletes it). Walks the sessions' key range in pieces, each
 * read and deleted in one short write transaction, so the app sharing the file waits milliseconds at
 * most. With one user: a first walk finds that user's session records, a second deletes their keys.
 * Counts into `counts` as each piece commits; `stop` is asked before each piece (`Interrupted`).
 *
 * Each piece asks `clock` for the time it reads at: with one time for the whole walk (a large store
 * takes seconds), a state or nonce that expired while the walk went on was still counted, by the dry
 * run and the run alike. The run counts the rows its DELETE returned (live ones: an expired row is
 * left to the sweep), not the rows its read listed.
 */
export async function endSqliteSessions(
  db: Kysely<DatabaseSchema>,
  target: SessionTarget,
  clock: Clock,
  dryRun: boolean,
  counts: SessionCounts = emptySessionCounts(),
  stop: StopCheck = NEVER,
): Promise<SessionCounts> {
  const owned = target.all ? null : await sqliteSessionsOf(db, target.userId, clock, stop);
  if (owned !== null && owned.size === 0) return counts;
  let after = SESSION_FAMILY;
  for (;;) {
    stopIfAsked(stop);
    const pieceCounts = emptySessionCounts();
    const piece = await db.transaction().execute(async (trx) => {
      const now = clock.now();
      const rows = await sessionRowsFrom(trx, after, now);
      const doomed = new Map<string, { part: string; user: string | null | undefined }>();
      for (const row of rows) {
        const parsed = parseSessionKey(row.key);
        if (parsed === null || parsed.part === 'lock' || parsed.part === 'other') continue;
        if (owned !== null && !owned.has(parsed.session)) continue;
        doomed.set(row.key, { part: parsed.part, user: parsed.part === 'session' && row.value !== null ? recordUser(row.value) : undefined });
      }
      let ended: Iterable<string> = doomed.keys();
      if (!dryRun && doomed.size > 0) {
        const deleted = await trx.deleteFrom('lc_kv').where('key', 'in', [...doomed.keys()]).where('expires_at', '>', now).returning('key').execute();
        ended = deleted.map((row) => row.key);
      }
      for (const key of ended) {
        const { part, user } = doomed.get(key) as { part: string; user: string | null | undefined };
        countKey(pieceCounts, part, user);
      }
      return rows;
    });
    addCounts(counts, pieceCounts);
    if (piece.length < SQLITE_PIECE) return counts;
    // Past the last key read: `>=` on the next key up (the key plus the lowest character).
    after = `${(piece[piece.length - 1] as { key: string }).key}\u0000`;
    // Between pieces the app's requests get their turn (the driver is synchronous).
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Up to `SQLITE_PIECE` live rows of the session family in `lc_kv`, in key order from `after` (a transaction too). */
function sessionRowsFrom(db: Kysely<DatabaseSchema>, after: string, now: number) {
  return db
    .selectFrom('lc_kv')
    .select(['key', RECORD_VALUE])
    .where('key', '>=', after)
    .where('key', '<', PAST_SESSION_FAMILY)
    .where('expires_at', '>', now)
    .orderBy('key')
    .limit(SQLITE_PIECE)
    .execute();
}

function addCounts(total: SessionCounts, piece: SessionCounts): void {
  total.signedIn += piece.signedIn;
  total.anonymous += piece.anonymous;
  total.componentStates += piece.componentStates;
  total.csrfNonces += piece.csrfNonces;
}

/** The session keys (hash-tag contents) whose live record in `lc_kv` names `userId`. */
async function sqliteSessionsOf(db: Kysely<DatabaseSchema>, userId: string, clock: Clock, stop: StopCheck): Promise<Set<string>> {
  const found = new Set<string>();
  let after = SESSION_FAMILY;
  for (;;) {
    stopIfAsked(stop);
    const rows = await sessionRowsFrom(db, after, clock.now());
    for (const row of rows) {
      const parsed = parseSessionKey(row.key);
      if (parsed?.part === 'session' && row.value !== null && namesUser(recordUser(row.value), userId)) found.add(parsed.session);
    }
    if (rows.length < SQLITE_PIECE) return found;
    after = `${(rows[rows.length - 1] as { key: string }).key}\u0000`;
  }
}

/** Keys asked for per SCAN call. */
export const SCAN_COUNT = 1_000;

/** `text` with Redis glob's special characters escaped, to match itself in a SCAN pattern. */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\^]/g, (c) => `\\${c}`);
}

/**
 * The nodes that hold keys: the one server, or every master of a Cluster (each SCANned on its own:
 * a Cluster client's SCAN reaches one node only).
 */
export function nodesOf(client: Redis | Cluster): Redis[] {
  return (client as Partial<Cluster>).isCluster === true ? (client as Cluster).nodes('master') : [client as Redis];
}

/**
 * Every session-family key under `keyPrefix` on `node`, a page at a time, to `visit`. SCAN returns
 * every key present for the whole walk at least once (a key may come twice: `visit` must not mind);
 * a key written during the walk may or may not come.
 */
async function scanSessions(node: Redis, keyPrefix: string, visit: (keys: string[]) => Promise<void>, stop: StopCheck): Promise<void> {
  const pattern = `${globEscape(keyPrefix)}${globEscape(SESSION_FAMILY)}*`;
  let cursor = '0';
  do {
    stopIfAsked(stop);
    const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
    cursor = next;
    if (keys.length > 0) await visit(keys);
  } while (cursor !== '0');
}

/**
 * Asks each node for the commands the walk sends — SCAN (on every node: it reaches one only), GET and
 * UNLINK (of the stores' write-check key, which is never written) — before anything is revoked. The
 * store's own health check sends its scripts only: an ACL user granted what the app needs and not
 * these passed it, then failed every run at its first SCAN, after the database's revocation.
 * @throws the server's refusal (NOPERM …)
 */
export async function checkRedisCommands(client: Redis | Cluster, keyPrefix: string): Promise<void> {
  const pattern = `${globEscape(keyPrefix)}${globEscape(SESSION_FAMILY)}*`;
  for (const node of nodesOf(client)) await node.scan('0', 'MATCH', pattern, 'COUNT', 1);
  // On a Cluster the client routes the key to its master.
  await client.get(`${keyPrefix}${WRITE_CHECK_KEY}`);
  await client.unlink(`${keyPrefix}${WRITE_CHECK_KEY}`);
}

/**
 * Asks for the command only a dry run sends, EXISTS (it looks for each state and nonce SCAN listed),
 * before anything is counted. @throws the server's refusal (NOPERM …)
 */
export async function checkRedisDryRunCommands(client: Redis | Cluster, keyPrefix: string): Promise<void> {
  await client.exists(`${keyPrefix}${WRITE_CHECK_KEY}`);
}

/** A key of this framework (src/store/keys.ts, src/auth/keys.ts) under some prefix: the prefix, the family letter, whether it is a session record. */
const FRAMEWORK_KEY = /^([^{]*)lc:\{([a-z]+)[:}]/s;

/**
 * Session records of one other prefix the survey counts (each once: it remembers their keys) before it
 * says "or more": a neighbour's millions of sessions cost it 10,000 keys of memory, not millions.
 */
export const SURVEY_CAP = 10_000;

/** What a Redis holds of this framework's keys when no session is under the configured prefix. */
export interface PrefixSurvey {
  /** Whether a session record of this framework is under the configured prefix: the app's sessions are there. */
  readonly inUse: boolean;
  /**
   * When not: per prefix (`''`: none) holding keys of this framework, its session records (at most
   * `SURVEY_CAP`: or more). The configured prefix is in it (with 0) when it holds other keys of this
   * framework (a rate limit, an idempotency record), which say nothing of where the sessions are.
   */
  readonly elsewhere: ReadonlyMap<string, number>;
}

/**
 * Whether `keyPrefix` holds the app's sessions: a session record of this framework under it, on any
 * node, is enough (the walk stops at the first). When there is none, every node is SCANned for this
 * framework's keys under any prefix (a key prefix holds no `{`, so the prefix is what comes before
 * the first `lc:{`), counting their session records per prefix. A wrong or missing
 * `REDIS_KEY_PREFIX` walked a key range without the app's sessions, ended none, and said "0 ended":
 * the operator believed everyone signed out. Any key of the framework under the prefix used to count
 * as the app's: a rate-limit or idempotency key an old deployment or a test left under a mistyped
 * prefix passed it too. On a Redis of millions of keys the walks take a while: `stop` is asked before
 * each SCAN (`Interrupted`; nothing has changed yet).
 */
export async function surveyPrefixes(client: Redis | Cluster, keyPrefix: string, stop: StopCheck = NEVER): Promise<PrefixSurvey> {
  const nodes = nodesOf(client);
  // `*` matches `}` too: a state key of a component named `…}:session` is told apart by parseSessionKey.
  const records = `${globEscape(keyPrefix)}${globEscape(SESSION_FAMILY)}*${globEscape('}:session')}`;
  const isRecord = (key: string) => parseSessionKey(key.slice(keyPrefix.length))?.part === 'session';
  for (const node of nodes) {
    let cursor = '0';
    do {
      stopIfAsked(stop);
      const [next, keys] = await node.scan(cursor, 'MATCH', records, 'COUNT', SCAN_COUNT);
      if (keys.some(isRecord)) return { inUse: true, elsewhere: new Map() };
      cursor = next;
    } while (cursor !== '0');
  }
  const elsewhere = new Map<string, number>();
  const seen = new Set<string>();
  for (const node of nodes) {
    let cursor = '0';
    do {
      stopIfAsked(stop);
      const [next, keys] = await node.scan(cursor, 'MATCH', `*${globEscape('lc:{')}*`, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (const key of keys) {
        const match = FRAMEWORK_KEY.exec(key);
        if (match === null) continue;
        const prefix = match[1] as string;
        if (!elsewhere.has(prefix)) elsewhere.set(prefix, 0);
        // A key SCAN returns twice is counted once; past the cap, none is remembered.
        if (match[2] === 's' && (elsewhere.get(prefix) as number) < SURVEY_CAP && parseSessionKey(key.slice(prefix.length))?.part === 'session' && !seen.has(key)) {
          seen.add(key);
          elsewhere.set(prefix, (elsewhere.get(prefix) as number) + 1);
        }
      }
    } while (cursor !== '0');
  }
  // A session the app wrote under the prefix between the two walks: it is in use after all.
  if ((elsewhere.get(keyPrefix) ?? 0) > 0) return { inUse: true, elsewhere: new Map() };
  return { inUse: false, elsewhere };
}

/**
 * The answers of one page's UNLINKs, sent together: when one is refused (NOPERM, a connection lost),
 * the others have deleted their keys all the same. `count` is called with every answer that came
 * (so what was deleted is counted), then the first refusal is thrown. With `Promise.all` the page's
 * deletes went uncounted, and a failed run's event said fewer sessions ended than it had ended.
 */
export async function unlinkCounted(node: Redis | Cluster, keys: readonly string[], count: (removed: number[]) => void): Promise<void> {
  const settled = await Promise.allSettled(keys.map((key) => node.unlink(key)));
  count(settled.map((result) => (result.status === 'fulfilled' ? result.value : 0)));
  const refused = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (refused !== undefined) throw refused.reason;
}

/**
 * The value of a session record. A key of another type there (a hash, a set: GET answers WRONGTYPE)
 * is no record, like a value that does not parse: the app cannot read it as a session either. Let
 * through, one such key failed every run, each time after the database's revocation.
 */
export function recordValue(node: Redis | Cluster, key: string): Promise<string | null> {
  return node.get(key).catch((error: unknown) => {
    if (error instanceof Error && error.message.startsWith('WRONGTYPE')) return null;
    throw error;
  });
}

/** A key of the session family that is there but holds no string (a hash, a set): no record, deleted all the same. */
const OTHER_TYPE = Symbol('not a string');

/**
 * A session record's value as `recordValue` reads it, but a key of another type (there, no record the
 * app reads, and deleted like the rest of the session) told apart from a key that is gone (null).
 */
function sessionRecord(node: Redis | Cluster, key: string): Promise<string | null | typeof OTHER_TYPE> {
  return node.get(key).catch((error: unknown) => {
    if (error instanceof Error && error.message.startsWith('WRONGTYPE')) return OTHER_TYPE;
    throw error;
  });
}

/** A key of the session family that is not read (a state, a nonce): there (no value read), or gone (null). */
async function stillThere(node: Redis | Cluster, key: string): Promise<null | typeof OTHER_TYPE> {
  return (await node.exists(key)) === 1 ? OTHER_TYPE : null;
}

/**
 * Ends the sessions of `target` in Redis: SCANs each node for the sessions' keys under `keyPrefix`
 * and deletes them there (UNLINK, one key per command: on a Cluster the keys of one call must share a
 * slot). With one user: a first walk reads every session record and keeps those naming the user, a
 * second deletes their keys. A key seen twice by SCAN is counted once: the count is of keys this run
 * deleted (UNLINK answered 1), or in a dry run of distinct keys still there when read (GET, EXISTS). Counts into `counts` as each
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
    const found = new Set<string>();
    for (const node of nodes) {
      await scanSessions(node, keyPrefix, async (keys) => {
        const records = keys.filter((key) => parseSessionKey(key.slice(keyPrefix.length))?.part === 'session');
        const values = await Promise.all(records.map((key) => recordValue(node, key)));
        records.forEach((key, i) => {
          const value = values[i];
          if (value !== null && value !== undefined && namesUser(recordUser(value), target.userId)) {
            found.add((parseSessionKey(key.slice(keyPrefix.length)) as { session: string }).session);
          }
        });
      }, stop);
    }
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
        doomed.map(({ key, part }) => (part === 'session' ? sessionRecord(node, key) : dryRun ? stillThere(node, key) : Promise.resolve(OTHER_TYPE))),
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
      else await unlinkCounted(node, doomed.map(({ key }) => key), count);
    }, stop);
  }
  return counts;
}
