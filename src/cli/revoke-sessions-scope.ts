/**
 * `livecomponents revoke-sessions`: whom a run signs out — every user (`--all`), the account of an
 * email (`--user EMAIL`), a user id (`--user-id ID`, with `--user EMAIL` beside it for the trusted
 * devices of an account already deleted), or every user id with no account (`--orphans`,
 * `revoke-sessions-orphans.ts`: accounts deleted by an operator who did not keep their ids) — read
 * from the arguments, then looked up in the database.
 *
 * Why `--user-id`: an operator erasing a person may `DELETE FROM users` first. The foreign keys
 * cascade the tokens, but the sessions in the key-value store still name the deleted id (refused by
 * every request, yet kept with their component states, which can hold the person's data, until they
 * are left idle for SESSION_TTL), and the email's trusted devices stay up to 90 days. With the row
 * gone, the email leads nowhere; the sessions name the id, so the id finds them. The trusted devices
 * are kept by the email (src/auth/keys.ts), which nothing left holds: the operator names it.
 *
 * An id is a UUID, the same in either case (RFC 9562): ours are written lower-case, but an import may
 * have written capitals into the users table, the token rows or the session records. The id given is
 * lower-cased, and matched in any case everywhere it is looked for: the account (`accountById`), the
 * token rows (`storedForms`), the sessions (`namesUser`). Matched as typed, a user id imported in
 * capitals found no account, revoked none of its tokens, and said its sessions were gone.
 */
import type { Kysely } from 'kysely';
import { readEmail } from '../auth/email.js';
import type { AuthRepository } from '../auth/repository.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { Refusal } from './command.js';
import type { DeviceTarget } from './revoke-sessions-devices.js';
import { accountById, accountCheck, orphanSessions, orphanTokenUsers, storedForms, type OrphanPicker } from './revoke-sessions-orphans.js';
import type { SessionTarget } from './revoke-sessions-session-keys.js';
import type { TokenTarget } from './revoke-sessions-tokens.js';

/** Whom the arguments name, before the database is asked. */
export type Scope =
  | { readonly kind: 'all' }
  | { readonly kind: 'email'; readonly email: string }
  | { readonly kind: 'id'; readonly userId: string; readonly email: string | undefined }
  | { readonly kind: 'orphans' };

/** What `users.id` holds: `randomUUID()` (src/auth/repository.ts), lower case. */
const USER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const SAY_WHOM =
  'say whom to sign out: --all (every user and every session), --user EMAIL (one user), --user-id ID (one user, also one whose account was deleted; with --user EMAIL too, that email\'s trusted devices are forgotten as well) or --orphans (every user whose account was deleted: the sign-ins naming an id the users table no longer has)';

/** Where the id of a deleted account is found, said wherever the operator is told to use it. */
export const WHERE_IDS_ARE =
  'its id is in the security events: "User ID registered" (user_created) and "User ID signed in" (authn_login_success) name it, with the time and source_ip of the request, never the email; or in a backup taken before the DELETE';

/**
 * Exactly one of `--all`, `--user`, `--user-id` and `--orphans` (signing everyone out is never a
 * default), but `--user` may come with `--user-id` (see the module comment). A malformed id is a usage
 * error: a mistyped one would otherwise end nothing and say only zero counts.
 */
export function readScope(args: { all?: boolean | undefined; user?: string | undefined; userId?: string | undefined; orphans?: boolean | undefined }): Scope {
  const all = args.all === true;
  const orphans = args.orphans === true;
  const given = [all, args.user !== undefined, args.userId !== undefined, orphans].filter(Boolean).length;
  if (given === 0 || ((all || orphans) && given > 1)) throw new Refusal(SAY_WHOM, 2);
  if (all) return { kind: 'all' };
  if (orphans) return { kind: 'orphans' };
  const email = args.user === undefined ? undefined : emailOf(args.user);
  if (args.userId === undefined) return { kind: 'email', email: email as string };
  const userId = args.userId.trim().toLowerCase();
  if (!USER_ID.test(userId)) throw new Refusal('--user-id must be the id of an account, a UUID such as 0b9f4c1e-6d2a-4f3b-9c8e-2a7d5e1f0c4b', 2);
  return { kind: 'id', userId, email };
}

/**
 * As sign-in looks an account up (src/auth/input.ts lookupEmail): a lookalike or mixed-script
 * address, which registration now refuses, is looked up as typed, so an account registered before
 * those rules, which still signs in, can be signed out too.
 */
function emailOf(typed: string): string {
  const read = readEmail(typed);
  if (!read.ok && read.reason === 'malformed') throw new Refusal('--user must be the email address of an account', 2);
  return read.ok ? read.email : read.asTyped;
}

/** The sessions, tokens and trusted devices one run takes, and how it names them. */
export interface Targets {
  readonly target: SessionTarget;
  /** The token rows revoked, as their rows name the user. */
  readonly tokens: TokenTarget;
  /** With `--orphans`: the picker of the sessions, which counts those it keeps. */
  readonly orphans: OrphanPicker | undefined;
  /** `null`: not looked for (an id with no account and no `--user`: the email they are kept by is unknown). */
  readonly devices: DeviceTarget | null;
  /** Whom the output and the security event name: `every user`, `user ID`. */
  readonly who: string;
  /** Whether the id has no account (deleted, or never was). */
  readonly noAccount: boolean;
}

/**
 * The targets of `scope`, refused (exit 1, nothing changed) when the database contradicts it: an
 * email with no account (said with what to do if the account was deleted), an id and an email that
 * name different accounts, or an id with no account beside an email that has one (forgetting that
 * account's trusted devices would not be what was asked).
 * @param where the database, as the messages name it
 */
export async function resolveTargets(db: Kysely<DatabaseSchema>, repo: AuthRepository, scope: Scope, where: string): Promise<Targets> {
  if (scope.kind === 'all') return { target: { all: true }, tokens: { all: true }, orphans: undefined, devices: { all: true }, who: 'every user', noAccount: false };
  if (scope.kind === 'orphans') {
    // No account at all: the app keeps its users elsewhere (or every account is gone), and the users
    // table tells nothing. Its own ids may be shaped like a sign-in (`switchUser` with `<org>/<user>`,
    // two UUIDs): taken for orphans, every signed-in user of the app would be signed out.
    if ((await db.selectFrom('users').select('id').limit(1).executeTakeFirst()) === undefined) {
      throw new Refusal(
        `${where} has no account at all: --orphans would take every session naming <id>/<id> for a deleted account's (an app that keeps its users elsewhere and names them so with switchUser would be signed out whole); nothing was changed. If every account was deleted, run revoke-sessions --all`,
      );
    }
    // Asked as the run goes (the tokens' stage, each page of sessions), never listed beforehand.
    const accounts = accountCheck(db);
    const orphans = orphanSessions(accounts);
    return {
      target: { all: false, orphans },
      tokens: { all: false, userIds: () => orphanTokenUsers(db, accounts) },
      orphans,
      devices: null,
      who: 'every user id with no account',
      noAccount: false,
    };
  }
  if (scope.kind === 'email') {
    const user = await repo.userByEmail(scope.email);
    if (user === undefined) {
      throw new Refusal(
        `${where} has no account with the email ${scope.email}; nothing was changed. If that account was deleted, its sessions live on until they expire: run revoke-sessions --user-id ID --user ${scope.email} to end them and forget the email's trusted devices (${WHERE_IDS_ARE})`,
      );
    }
    const userIds = [user.id];
    return {
      target: { all: false, userId: user.id },
      tokens: { all: false, userIds: async () => userIds },
      orphans: undefined,
      devices: { all: false, email: user.email },
      who: `user ${user.id}`,
      noAccount: false,
    };
  }
  const byId = await accountById(db, scope.userId);
  const byEmail = scope.email === undefined ? undefined : await repo.userByEmail(scope.email);
  if (scope.email !== undefined && byEmail !== undefined && byEmail.id.toLowerCase() !== scope.userId) {
    const other = byId === undefined ? `no account has the id ${scope.userId}` : `user ${scope.userId} has another email`;
    throw new Refusal(`${where}: the email ${scope.email} is the account of user ${byEmail.id}, and ${other}; nothing was changed (give --user-id alone, or the id and email of one account)`);
  }
  if (scope.email !== undefined && byId !== undefined && byEmail === undefined) {
    throw new Refusal(`${where}: user ${scope.userId} has another email than ${scope.email}; nothing was changed (give --user-id alone: it forgets the trusted devices of the account's own email)`);
  }
  const target: SessionTarget = { all: false, userId: scope.userId };
  const email = byId?.email ?? scope.email;
  const { userId } = scope;
  return {
    target,
    tokens: { all: false, userIds: () => storedForms(db, userId) },
    orphans: undefined,
    devices: email === undefined ? null : { all: false, email },
    who: `user ${scope.userId}`,
    noAccount: byId === undefined,
  };
}

/**
 * The other account the email of `devices` belongs to now, if any: one registered with it since
 * `resolveTargets` looked (a deleted account's email is free to register again, and during a long run
 * someone may). Its trusted devices are that account's then, and are not forgotten for the wrong
 * person. Asked just before they would be; a registration in the milliseconds after is not seen.
 */
export async function devicesNowOf(repo: AuthRepository, target: SessionTarget, devices: DeviceTarget | null): Promise<string | undefined> {
  if (devices === null || devices.all || target.all || 'orphans' in target) return undefined;
  const owner = await repo.userByEmail(devices.email);
  return owner !== undefined && owner.id.toLowerCase() !== target.userId.toLowerCase() ? owner.id : undefined;
}
