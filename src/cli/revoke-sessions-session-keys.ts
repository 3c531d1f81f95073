/**
 * `livecomponents revoke-sessions`, the key-value half: ends browser sessions in the store the app
 * keeps them in — the SQLite store's `lc_kv` table (`revoke-sessions-sqlite.ts`), or Redis (one
 * server, or every master of a Cluster) under the app's key prefix (`revoke-sessions-redis.ts`, its
 * commands checked first in `revoke-sessions-redis-commands.ts`, the key prefixes surveyed in
 * `revoke-sessions-redis-survey.ts`), stopping at safe points (`revoke-sessions-stop.ts`). This
 * module: the sessions' keys and what they count as.
 *
 * A session is its record, `lc:{s:<key>}:session` (src/store/keys.ts), whose JSON names its user
 * (`u`: `null` when anonymous, the user id, or `<user id>/<sign-in id>` for a sign-in of the auth
 * module, src/auth/accounts.ts). Ending one deletes the record and the keys of its hash tag that only
 * it reads: its sealed component states and its CSRF nonces (counted). Its instance locks are left to
 * expire (seconds): an action holding one is still running, and whatever it writes afterwards belongs
 * to a session that no longer exists.
 *
 * The command also forgets the trusted devices of the accounts it signs out
 * (`revoke-sessions-devices.ts`): a browser that signed in to an account keeps a sign-in budget of its
 * own for it (src/auth/device.ts), apart from the per-account one, for 90 days; after an incident, the
 * browser of whoever signed in must not keep guessing at the account's new password while everyone
 * else is held to the account's limit.
 *
 * Nothing else is touched: idempotency records, rate-limit state, other apps' keys (another key
 * prefix, or none of ours). An action running meanwhile cannot bring a deleted record back: it renews
 * its session with a `touch`, which writes nothing on a missing key (src/session/index.ts).
 */

/**
 * Which sessions to end: all of them, those whose record names this user id (`namesUser`), or those
 * an `orphans` picker chooses (`--orphans`: sign-ins whose user id has no account,
 * `revoke-sessions-orphans.ts`).
 */
export type SessionTarget =
  | { readonly all: true }
  | { readonly all: false; readonly userId: string }
  | { readonly all: false; readonly orphans: SessionPicker };

/** A session record a walk read: the session's key (the hash tag's content) and the user it names (`recordUser`). */
export interface ReadRecord {
  readonly session: string;
  readonly user: string | null | undefined;
}

/**
 * Chooses the sessions to end among the records a walk reads, a page at a time: `pick` is given each
 * page as it is read and resolves the sessions chosen so far; `done`, once every page was given, the
 * rest (a picker may keep records back to decide them together). Records may come twice (Redis SCAN).
 */
export interface SessionPicker {
  pick(records: readonly ReadRecord[]): Promise<Iterable<string>>;
  done(): Promise<Iterable<string>>;
}

/** The picker of a target that is not every session. */
export function pickerOf(target: Exclude<SessionTarget, { all: true }>): SessionPicker {
  if ('orphans' in target) return target.orphans;
  return {
    pick: async (records) => records.filter((record) => namesUser(record.user, target.userId)).map((record) => record.session),
    done: async () => [],
  };
}

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

/** The first key of the sessions' family and the first one past it (`;` follows `:`). */
export const SESSION_FAMILY = 'lc:{s:';
export const PAST_SESSION_FAMILY = 'lc:{s;';

/** A session-family key split: the session's key (the hash tag's content) and what the key holds. */
export function parseSessionKey(key: string): { session: string; part: 'session' | 'state' | 'csrf' | 'lock' | 'other' } | null {
  const match = /^lc:\{s:([^}]*)\}:(session$|state:|csrf:|lock:)?/s.exec(key);
  if (match === null) return null;
  const part = match[2] === undefined ? 'other' : match[2] === 'session' ? 'session' : (match[2].slice(0, -1) as 'state' | 'csrf' | 'lock');
  return { session: match[1] as string, part };
}

/**
 * The user a session record names, `null` for an anonymous one, `undefined` for a value that is no
 * record (the app reads it as no session either).
 */
export function recordUser(raw: string): string | null | undefined {
  try {
    const value = JSON.parse(raw) as { u?: unknown };
    if (typeof value !== 'object' || value === null) return undefined;
    return value.u === null ? null : typeof value.u === 'string' ? value.u : undefined;
  } catch {
    return undefined;
  }
}

/** A UUID in either case: the same id, whichever case a user store keeps it in (RFC 9562). */
const UUID_ANY_CASE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A browser sign-in as the auth module writes one, `<user id>/<sign-in id>` (src/auth/accounts.ts), in either case. */
const SIGN_IN_ANY_CASE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The user id, lower-cased, of a record naming a browser sign-in of the auth module
 * (`<user id>/<sign-in id>`, both UUIDs, in either case: a record an import wrote may hold them in
 * capitals); `null` for anything else (anonymous, an app's own id, a value that merely looks alike).
 */
export function signInUserId(user: string | null | undefined): string | null {
  if (typeof user !== 'string') return null;
  const match = SIGN_IN_ANY_CASE.exec(user);
  return match === null ? null : (match[1] as string).toLowerCase();
}

/**
 * Whether a record naming `user` is a session of `userId`: a browser sign-in of it as the auth module
 * writes one (`<user id>/<sign-in id>`, both UUIDs: `signInUserId`), or the id alone, as an app's own
 * `switchUser` names it. A UUID is the same id in either case (RFC 9562; ours are written lower-case,
 * but an app's own user store, an imported users table or an imported session may hold capitals:
 * typed so, `--user-id` found nothing and said the sessions were gone), so both forms match in any
 * case. Nothing else: a value that merely begins with `<user id>/` (`<id>/admin`, an app's own id of
 * someone else) is no session of this user, and the auth module's `resolveUser` refuses it. An id
 * that is no UUID (an app's own) matches itself exactly.
 */
export function namesUser(user: string | null | undefined, userId: string): boolean {
  if (typeof user !== 'string') return false;
  if (user === userId) return true;
  if (!UUID_ANY_CASE.test(userId)) return false;
  const id = userId.toLowerCase();
  return (UUID_ANY_CASE.test(user) && user.toLowerCase() === id) || signInUserId(user) === id;
}

/** Counts one key that is deleted (or would be) into `counts`; a record by the user it names. */
export function countKey(counts: SessionCounts, part: string, user: string | null | undefined): void {
  if (part === 'session') {
    if (typeof user === 'string') counts.signedIn++;
    else counts.anonymous++;
  } else if (part === 'state') counts.componentStates++;
  else if (part === 'csrf') counts.csrfNonces++;
}

/** Adds the counts of one piece to the run's. */
export function addCounts(total: SessionCounts, piece: SessionCounts): void {
  total.signedIn += piece.signedIn;
  total.anonymous += piece.anonymous;
  total.componentStates += piece.componentStates;
  total.csrfNonces += piece.csrfNonces;
}
