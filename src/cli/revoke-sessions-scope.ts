/**
 * `livecomponents revoke-sessions`: whom a run signs out — every user (`--all`), the account of an
 * email (`--user EMAIL`), or a user id (`--user-id ID`, with `--user EMAIL` beside it for the trusted
 * devices of an account already deleted) — read from the arguments, then looked up in the database.
 *
 * Why `--user-id`: an operator erasing a person may `DELETE FROM users` first. The foreign keys
 * cascade the tokens, but the sessions in the key-value store still name the deleted id (refused by
 * every request, yet kept with their component states, which can hold the person's data, until they
 * are left idle for SESSION_TTL), and the email's trusted devices stay up to 90 days. With the row
 * gone, the email leads nowhere; the sessions name the id, so the id finds them. The trusted devices
 * are kept by the email (src/auth/keys.ts), which nothing left holds: the operator names it.
 */
import { readEmail } from '../auth/email.js';
import type { AuthRepository } from '../auth/repository.js';
import { Refusal } from './command.js';
import type { DeviceTarget } from './revoke-sessions-devices.js';
import type { SessionTarget } from './revoke-sessions-session-keys.js';

/** Whom the arguments name, before the database is asked. */
export type Scope = { readonly kind: 'all' } | { readonly kind: 'email'; readonly email: string } | { readonly kind: 'id'; readonly userId: string; readonly email: string | undefined };

/** What `users.id` holds: `randomUUID()` (src/auth/repository.ts), lower case. */
const USER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const SAY_WHOM =
  'say whom to sign out: --all (every user and every session), --user EMAIL (one user) or --user-id ID (one user, also one whose account was deleted; with --user EMAIL too, that email\'s trusted devices are forgotten as well)';

/** Where the id of a deleted account is found, said wherever the operator is told to use it. */
export const WHERE_IDS_ARE =
  'its id is in the security events: "User ID registered" (user_created) and "User ID signed in" (authn_login_success) name it, with the time and source_ip of the request, never the email; or in a backup taken before the DELETE';

/**
 * Exactly one of `--all`, `--user` and `--user-id` (signing everyone out is never a default), but
 * `--user` may come with `--user-id` (see the module comment). A malformed id is a usage error: a
 * mistyped one would otherwise end nothing and say only zero counts.
 */
export function readScope(args: { all?: boolean | undefined; user?: string | undefined; userId?: string | undefined }): Scope {
  const all = args.all === true;
  const given = [all, args.user !== undefined, args.userId !== undefined].filter(Boolean).length;
  if (given === 0 || (all && given > 1)) throw new Refusal(SAY_WHOM, 2);
  if (all) return { kind: 'all' };
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
export async function resolveTargets(repo: AuthRepository, scope: Scope, where: string): Promise<Targets> {
  if (scope.kind === 'all') return { target: { all: true }, devices: { all: true }, who: 'every user', noAccount: false };
  if (scope.kind === 'email') {
    const user = await repo.userByEmail(scope.email);
    if (user === undefined) {
      throw new Refusal(
        `${where} has no account with the email ${scope.email}; nothing was changed. If that account was deleted, its sessions live on until they expire: run revoke-sessions --user-id ID --user ${scope.email} to end them and forget the email's trusted devices (${WHERE_IDS_ARE})`,
      );
    }
    return { target: { all: false, userId: user.id }, devices: { all: false, email: user.email }, who: `user ${user.id}`, noAccount: false };
  }
  const byId = await repo.userById(scope.userId);
  const byEmail = scope.email === undefined ? undefined : await repo.userByEmail(scope.email);
  if (scope.email !== undefined && byEmail !== undefined && byEmail.id !== scope.userId) {
    const other = byId === undefined ? `no account has the id ${scope.userId}` : `user ${scope.userId} has another email`;
    throw new Refusal(`${where}: the email ${scope.email} is the account of user ${byEmail.id}, and ${other}; nothing was changed (give --user-id alone, or the id and email of one account)`);
  }
  if (scope.email !== undefined && byId !== undefined && byEmail === undefined) {
    throw new Refusal(`${where}: user ${scope.userId} has another email than ${scope.email}; nothing was changed (give --user-id alone: it forgets the trusted devices of the account's own email)`);
  }
  const target: SessionTarget = { all: false, userId: scope.userId };
  const email = byId?.email ?? scope.email;
  return { target, devices: email === undefined ? null : { all: false, email }, who: `user ${scope.userId}`, noAccount: byId === undefined };
}

/**
 * The other account the email of `devices` belongs to now, if any: one registered with it since
 * `resolveTargets` looked (a deleted account's email is free to register again, and during a long run
 * someone may). Its trusted devices are that account's then, and are not forgotten for the wrong
 * person. Asked just before they would be; a registration in the milliseconds after is not seen.
 */
export async function devicesNowOf(repo: AuthRepository, target: SessionTarget, devices: DeviceTarget | null): Promise<string | undefined> {
  if (devices === null || devices.all || target.all) return undefined;
  const owner = await repo.userByEmail(devices.email);
  return owner !== undefined && owner.id !== target.userId ? owner.id : undefined;
}
