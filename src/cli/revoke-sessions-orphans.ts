/**
 * `livecomponents revoke-sessions --orphans`: the sessions and tokens of user ids the users table no
 * longer has — accounts erased with `DELETE FROM users` by an operator who did not keep the ids
 * (`--user-id` needs one; the security events name ids, never emails, so an email leads nowhere).
 *
 * - A session is an orphan when its record names a browser sign-in of the auth module
 *   (`<user id>/<sign-in id>`, `signInUserId`) whose user id has no row. Anonymous sessions never
 *   are. Nor is a record naming anything else — an id alone, as an app's own `switchUser` writes it,
 *   UUID or not: such an app keeps its users where it likes, and the users table cannot tell whether
 *   its user exists (taken for orphans, every session of an app with its own user store would end).
 *   Those are counted and kept (`OrphanPicker.kept`); `--user-id ID` ends one.
 * - A token row (access token, browser sign-in, refresh token, reset link) is an orphan when its
 *   `user_id` has no row: left by a DELETE that cascaded nothing (the `sqlite3` shell opens a file with
 *   foreign keys off), as `--user-id` revokes them.
 * - Trusted devices are not looked for: they are kept by a digest of the email (src/auth/keys.ts),
 *   which no deleted account tells; registering the email again forgets them
 *   (`AuthService.register`), so no new account inherits them, and they expire `DEVICE_TRUST_DAYS`
 *   after the last sign-in. `--user-id ID --user EMAIL` forgets one email's.
 *
 * An id is the same in any case (a UUID, RFC 9562; ours are written lower-case, an import may have
 * written capitals), so an id names a row when a row's id is it in any case.
 *
 * Race with the app: whether an id has an account is asked after its session record was read, never
 * from a list of users taken beforehand, so an account registered while the run goes (its sign-in
 * written afterwards, as sign-ins always are) is found and its sessions kept. Ids are asked a page
 * of records at a time, through the primary key (the id as read, lower- and upper-cased); those not
 * found that way are asked again in any case (`lower(id)`, a scan of the users table) once a
 * thousand have gathered, or the walk is over, so a table of a million users is scanned once per
 * thousand orphaned ids, not once per page. A session chosen stays chosen: its key names its user for
 * good (src/session/index.ts), and a deleted id comes back only by restoring its row from a backup,
 * which a run under way may not see.
 */
import { sql, type Kysely } from 'kysely';
import type { DatabaseSchema } from '../sql/schema.js';
import { signInUserId, type ReadRecord, type SessionPicker } from './revoke-sessions-session-keys.js';

/** Ids per query (each id asked in two cases: 2 × 500 parameters, within SQLite's and PostgreSQL's limits). */
const IDS_PER_QUERY = 500;
/** Ids not found through the primary key gathered before they are asked again in any case (one scan of the users table). */
const ANY_CASE_BATCH = 1_000;
/**
 * Ids per any-case query: each query is a scan of the users table (no index on `lower(id)`), so a
 * batch (`ANY_CASE_BATCH`, and the page that took it past) is asked in one, not in pieces of
 * `IDS_PER_QUERY` (in halves of 500, a thousand orphaned ids scanned the table twice). 10,000
 * parameters: within SQLite's (32,766) and PostgreSQL's (65,535) limits.
 */
const ANY_CASE_PER_QUERY = 10_000;
/** Kept sessions of an app's own ids counted (each once: their keys are remembered) before "or more". */
export const KEPT_CAP = 10_000;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Which user ids (lower-cased) have a row in the users table, in any case. */
export interface AccountCheck {
  /** Those of `ids` found through the primary key: the row's id is the id lower- or upper-cased. */
  known(ids: readonly string[]): Promise<Set<string>>;
  /** Those of `ids` whose row's id is the id in any case (`lower(id)`: one scan of the users table per query). */
  knownAnyCase(ids: readonly string[]): Promise<Set<string>>;
}

export function accountCheck(db: Kysely<DatabaseSchema>): AccountCheck {
  return {
    async known(ids) {
      const found = new Set<string>();
      for (const chunk of chunks(ids, IDS_PER_QUERY)) {
        const forms = [...new Set(chunk.flatMap((id) => [id, id.toLowerCase(), id.toUpperCase()]))];
        const rows = await db.selectFrom('users').select('id').where('id', 'in', forms).execute();
        for (const row of rows) found.add(row.id.toLowerCase());
      }
      return found;
    },
    async knownAnyCase(ids) {
      const found = new Set<string>();
      for (const lowered of chunks([...new Set(ids.map((id) => id.toLowerCase()))], ANY_CASE_PER_QUERY)) {
        const rows = await db
          .selectFrom('users')
          .select('id')
          .where((eb) => eb(eb.fn<string>('lower', ['id']), 'in', lowered))
          .execute();
        for (const row of rows) found.add(row.id.toLowerCase());
      }
      return found;
    },
  };
}

/** The sessions `--orphans` ends, chosen as their records are read; and those it keeps unjudged. */
export interface OrphanPicker extends SessionPicker {
  /**
   * Sessions naming a user that is no browser sign-in of the auth module (an app's own id, UUID or
   * not), kept: how many distinct ones were read, at most `KEPT_CAP` (`capped`: or more).
   */
  kept(): { count: number; capped: boolean };
}

/** The picker of `--orphans` (see the module comment), asking `accounts`. */
export function orphanSessions(accounts: AccountCheck): OrphanPicker {
  /** Ids not found through the primary key, with the sessions naming them: asked again in any case. */
  const pending = new Map<string, Set<string>>();
  const kept = new Set<string>();
  let capped = false;

  async function flush(): Promise<string[]> {
    if (pending.size === 0) return [];
    const asked = [...pending];
    pending.clear();
    const found = await accounts.knownAnyCase(asked.map(([id]) => id));
    return asked.filter(([id]) => !found.has(id)).flatMap(([, sessions]) => [...sessions]);
  }

  return {
    async pick(records: readonly ReadRecord[]) {
      const signIns: { session: string; id: string }[] = [];
      for (const { session, user } of records) {
        if (typeof user !== 'string') continue;
        const id = signInUserId(user);
        if (id !== null) signIns.push({ session, id });
        else if (kept.size < KEPT_CAP) kept.add(session);
        else if (!kept.has(session)) capped = true;
      }
      if (signIns.length === 0) return [];
      const found = await accounts.known([...new Set(signIns.map(({ id }) => id))]);
      for (const { session, id } of signIns) {
        if (found.has(id)) continue;
        let sessions = pending.get(id);
        if (sessions === undefined) pending.set(id, (sessions = new Set()));
        sessions.add(session);
      }
      return pending.size >= ANY_CASE_BATCH ? flush() : [];
    },
    done: flush,
    kept: () => ({ count: kept.size, capped }),
  };
}

/** The tables whose rows name a user, and the column saying a row is spent (revoked, used). */
const TOKEN_TABLES = [
  { table: 'access_tokens', spent: 'revoked_at' },
  { table: 'refresh_tokens', spent: 'revoked_at' },
  { table: 'password_resets', spent: 'used_at' },
] as const;

/**
 * The user ids (as their rows hold them) of unspent token rows whose user has no account in any
 * case: left by a DELETE that cascaded nothing. One anti-join per table (through the users' primary
 * key), then the ids found asked in any case. Asked when the tokens' stage begins; a row of an
 * account registered since has its user (the foreign key), so it is never among them.
 */
export async function orphanTokenUsers(db: Kysely<DatabaseSchema>, accounts: AccountCheck): Promise<string[]> {
  const ids = new Set<string>();
  for (const { table, spent } of TOKEN_TABLES) {
    const rows = await sql<{ user_id: string }>`select distinct t.user_id from ${sql.table(table)} t where t.${sql.ref(spent)} is null and not exists (select 1 from users u where u.id = t.user_id)`.execute(db);
    for (const row of rows.rows) ids.add(row.user_id);
  }
  if (ids.size === 0) return [];
  const found = await accounts.knownAnyCase([...ids]);
  return [...ids].filter((id) => !found.has(id.toLowerCase())).sort();
}

/**
 * Every form in which the database holds user id `userId` (lower-cased): the id itself, a users row's
 * id equal to it in any case, and the `user_id` of token rows equal to it in any case (rows left by a
 * DELETE that cascaded nothing, as an import wrote them). `--user-id` revokes the tokens of each.
 */
export async function storedForms(db: Kysely<DatabaseSchema>, userId: string): Promise<string[]> {
  const forms = new Set<string>([userId]);
  const users = await db.selectFrom('users').select('id').where((eb) => eb(eb.fn<string>('lower', ['id']), '=', userId)).execute();
  for (const row of users) forms.add(row.id);
  for (const { table } of TOKEN_TABLES) {
    const rows = await sql<{ user_id: string }>`select distinct user_id from ${sql.table(table)} where lower(user_id) = ${userId}`.execute(db);
    for (const row of rows.rows) forms.add(row.user_id);
  }
  return [...forms].sort();
}

/**
 * The account of user id `userId` (lower-cased) in any case: through the primary key as given, else a
 * row whose id is it in other letters (an imported table). The first in id order when two rows differ
 * in case only (two accounts the sessions cannot tell apart).
 */
export async function accountById(db: Kysely<DatabaseSchema>, userId: string): Promise<{ id: string; email: string } | undefined> {
  const exact = await db.selectFrom('users').select(['id', 'email']).where('id', '=', userId).executeTakeFirst();
  if (exact !== undefined) return exact;
  return db
    .selectFrom('users')
    .select(['id', 'email'])
    .where((eb) => eb(eb.fn<string>('lower', ['id']), '=', userId))
    .orderBy('id')
    .executeTakeFirst();
}
