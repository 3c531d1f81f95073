/**
 * `livecomponents revoke-sessions --all | --user EMAIL | --user-id ID [--user EMAIL] | --orphans [--dry-run]`:
 * signs everyone (or one user, also one whose account was deleted: `revoke-sessions-scope.ts`; or
 * every user whose account was deleted: `revoke-sessions-orphans.ts`) out from the operator's shell,
 * in the stores the app uses (`DATABASE_URL`, `REDIS_URL`, `REDIS_KEY_PREFIX`):
 *
 * - in the SQL database, every access token, browser sign-in and refresh token that could still be
 *   used is revoked, and unspent password-reset tokens are marked spent (`revokeUsers`,
 *   src/auth/repository.ts: under each user's lock, like logout-all);
 * - in the key-value store (Redis when `REDIS_URL` is set, else the SQLite store: the `DATABASE_URL`
 *   file, or with PostgreSQL the embedded `./data/livecomponents.db` of the working directory, which
 *   must exist: run elsewhere, the command refuses before it changes anything) every session — or
 *   every session of the user — is ended, and every account's trusted devices (or the user's) are
 *   forgotten (`revoke-sessions-session-keys.ts`, `revoke-sessions-devices.ts`).
 *
 * Why: restoring a backup (docs/deployment.md §8) brings back what was revoked after it was taken —
 * rotated and revoked refresh tokens, sessions ended by sign-outs, used reset tokens —, and incident
 * response (a leaked secret, a compromised account) needs "sign out everyone" or "sign out this user"
 * without the user's own token.
 *
 * Safe while the app serves: every write is a revocation (an UPDATE setting `revoked_at`/`used_at`) or
 * the delete of a session's own keys; nothing else is written. The database comes first, the store
 * second, so a sign-in made while it runs is either revoked by it or made after its user's
 * revocation; its session is then ended, or left live (a new sign-in, after the command). Run again,
 * it revokes what was signed in since, and nothing twice.
 *
 * Each run (not a dry run) logs one security event, `authn_token_revoked` (WARN), where the app logs
 * its own (`LOG_DESTINATION`; on `stdout`, to this command's standard error, so the counts on
 * standard output stay apart): also a run that failed, or was stopped by SIGINT or SIGTERM, part-way,
 * with what it had done.
 */
import type { Kysely } from 'kysely';
import { createAuthRepository } from '../auth/repository.js';
import { systemClock, wholeMsClock, type Clock } from '../core/clock.js';
import { redisKeyPrefix } from '../ops/config-fields.js';
import type { SecurityEventSink } from '../ops/security-events.js';
import { createDatabase } from '../sql/database.js';
import { refuseMovedStores } from '../sql/moved-mark.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { DEFAULT_DATABASE_URL, describeDatabaseUrl } from '../sql/url.js';
import { redisClientOf } from '../store/redis/index.js';
import type { Store } from '../store/types.js';
import { redisDescription, Refusal, runCommand, type CommandIo } from './command.js';
import { endRedisDevices, endSqliteDevices } from './revoke-sessions-devices.js';
import { clusterLayout, slotsMoved, type ClusterLayout } from './revoke-sessions-cluster-layout.js';
import { closeSecurityLog, operator, securityLog } from './revoke-sessions-log.js';
import { endRedisSessions } from './revoke-sessions-redis.js';
import { createReport } from './revoke-sessions-report.js';
import { listenForStop, SIGNAL_EXIT, type SignalSource } from './revoke-sessions-signals.js';
import { endSqliteSessions } from './revoke-sessions-sqlite.js';
import { Interrupted } from './revoke-sessions-stop.js';
import { devicesNowOf, readScope, resolveTargets } from './revoke-sessions-scope.js';
import { checkSchema, checkSessionsRedis, existingDatabase, openEmbeddedStore, openRedis } from './revoke-sessions-stores.js';
import { revokeTokens } from './revoke-sessions-tokens.js';

export type { SignalSource } from './revoke-sessions-signals.js';

export interface RevokeSessionsArgs {
  /** Every user and every session. */
  readonly all?: boolean | undefined;
  /** The email of the one user whose tokens and sessions end. */
  readonly user?: string | undefined;
  /**
   * The id of the one user whose tokens and sessions end, whether or not the account still exists
   * (deleted: its sessions still name it). With `user` too, that email's trusted devices are
   * forgotten: a deleted account's email is known from nothing else.
   */
  readonly userId?: string | undefined;
  /**
   * Every user id with no account (deleted): the browser sign-ins naming one and the token rows left
   * naming one (`revoke-sessions-orphans.ts`). Alone: not with `all`, `user` or `userId`.
   */
  readonly orphans?: boolean | undefined;
  /** Count, change nothing. */
  readonly dryRun?: boolean | undefined;
  /**
   * The operator says the app has no session under `REDIS_KEY_PREFIX` now (its Redis emptied or lost,
   * the app stopped; a fresh deploy; every session expired or ended by an earlier run): the run goes on
   * though other prefixes hold sessions (another app's, left alone), instead of being refused as a
   * mistyped prefix (`--key-prefix-empty`).
   */
  readonly keyPrefixEmpty?: boolean | undefined;
}

/** `cwd`: also the folder the embedded store (`./data/livecomponents.db`) is looked for in. */
export interface RevokeSessionsIo extends CommandIo {
  /** @default systemClock */
  readonly clock?: Clock;
  /** Where the run's security event goes. @default the app's log destination (see the module comment) */
  readonly events?: SecurityEventSink;
  /**
   * What sends SIGINT and SIGTERM, listened to while the run lasts: the first stops it at the next
   * safe point (see `run`). @default process
   */
  readonly signals?: SignalSource;
}

/**
 * Runs the command and prints the counts per kind.
 * @returns 0 done (or, with `dryRun`, counted), 1 refused or failed (what was revoked before the
 *   failure stays revoked; run it again) or done but for the trusted devices, whose email another
 *   account registered while it ran (`devicesNowOf`), or but for what a reshard may have moved past
 *   the walk (`revoke-sessions-cluster-layout.ts`), 2 a usage error, 130 (SIGINT) or 143 (SIGTERM) stopped by
 *   the signal at a safe point (what was done is printed and logged; run it again)
 * @example
 * process.exitCode = await revokeSessions({ all: true }, { env: process.env, out: console.log, err: console.error });
 */
export async function revokeSessions(args: RevokeSessionsArgs, io: RevokeSessionsIo): Promise<number> {
  return runCommand('revoke-sessions', io, () => run(args, io));
}

/**
 * SIGINT or SIGTERM (Ctrl-C, a container stopped) while it runs: the transaction or Redis page under
 * way finishes, then the run stops before the next one, prints what was done and what was not, logs
 * the event with the counts so far, and exits 130 or 143. Killed where it stood instead (Node's
 * default), the tokens it had revoked were in no log.
 */
async function run(args: RevokeSessionsArgs, io: RevokeSessionsIo): Promise<number> {
  const dryRun = args.dryRun === true;
  const scope = readScope(args);
  const databaseUrl = io.env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
  const redisUrl = io.env.REDIS_URL?.trim() || undefined;
  // Trimmed, as the app's configuration reads it (src/ops/config.ts): a value ending in a line break
  // named the same prefix there and was refused here.
  const keyPrefix = io.env.REDIS_KEY_PREFIX?.trim() ?? '';
  if (keyPrefix !== '') {
    try {
      redisKeyPrefix(keyPrefix);
    } catch (error) {
      throw new Refusal(`REDIS_KEY_PREFIX ${(error as Error).message}`, 2);
    }
  }
  const database = existingDatabase(databaseUrl, io.cwd, 'DATABASE_URL');
  // Without Redis, sessions are in the SQLite store: the DATABASE_URL file, or beside PostgreSQL the
  // embedded default file (src/runtime/backends.ts): missing, this is not the app's working directory.
  const embeddedUrl = redisUrl === undefined && database.engine === 'postgres' ? DEFAULT_DATABASE_URL : undefined;
  const clock = wholeMsClock(io.clock ?? systemClock);
  const db = createDatabase(databaseUrl, { cwd: io.cwd });
  let kvDb: Kysely<DatabaseSchema> | undefined;
  let redis: Store | undefined;
  let layoutBefore: ClusterLayout | null = null;
  let events: SecurityEventSink | undefined;
  /** Whom the revocation is for, once it has begun to change things. */
  let begun: string | undefined;
  const report = createReport(io, dryRun);
  const { revoked, sessions, devices } = report;
  const { stop, stopListening } = listenForStop(io.signals ?? process, io.err);
  try {
    // Made before anything changes: a log destination that does not parse refuses the run.
    events = dryRun ? undefined : (io.events ?? securityLog(io));
    await checkSchema(db, describeDatabaseUrl(databaseUrl, io.cwd));
    if (embeddedUrl !== undefined) kvDb = await openEmbeddedStore(embeddedUrl, io.cwd);
    await refuseMovedStores({ databaseUrl, redisUrl, db, kvDb, cwd: io.cwd }, 'revoke-sessions would change that stale copy, not the sessions and tokens in use; nothing was changed');
    const repo = createAuthRepository(db);
    const { target, tokens, orphans, devices: deviceTarget, who, noAccount } = await resolveTargets(db, repo, scope, describeDatabaseUrl(databaseUrl, io.cwd));
    // The store is reached before anything is revoked: a Redis that is down (or, beside PostgreSQL, an
    // embedded store that is missing or no store of this release, above) refuses the run untouched.
    if (redisUrl !== undefined) {
      redis = await openRedis(redisUrl, keyPrefix);
      report.empty = await checkSessionsRedis(redis, redisUrl, keyPrefix, { dryRun, keyPrefixEmpty: args.keyPrefixEmpty === true, stop });
      // Where a Cluster's slots are, before anything changes; compared once the walks are done.
      const before = redisClientOf(redis);
      layoutBefore = before === undefined ? null : await clusterLayout(before);
    }
    const whom = noAccount ? `${who}, which has no account (deleted, or never was)` : who;
    report.line(`${dryRun ? 'dry run, nothing is changed: ' : ''}${whom}: ${describeDatabaseUrl(databaseUrl, io.cwd)}`);

    begun = who;
    await revokeTokens(repo, tokens, clock, dryRun, revoked, stop);
    report.printTokens();

    report.stage = 'sessions';
    const client = redis === undefined ? undefined : redisClientOf(redis);
    if (redis !== undefined && client === undefined) throw new Error('the Redis store has no client');
    if (client !== undefined && redisUrl !== undefined) {
      report.where = `${redisDescription(redisUrl)}${keyPrefix === '' ? '' : ` (key prefix ${keyPrefix})`}`;
      await endRedisSessions(client, keyPrefix, target, dryRun, sessions, stop);
    } else {
      report.where = describeDatabaseUrl(embeddedUrl ?? databaseUrl, io.cwd);
      await endSqliteSessions(kvDb ?? db, target, clock, dryRun, sessions, stop);
    }
    report.printSessions();
    if (orphans !== undefined) {
      const kept = orphans.kept();
      // Said, not passed over: an operator erasing a person reads "done" as every session of theirs ended.
      if (kept.count > 0) {
        report.line(
          `sessions of user ids the app signs in itself: ${kept.count}${kept.capped ? ' or more' : ''} kept (switchUser with an id of the app's own, not a browser sign-in of the auth module: the users table cannot tell whether its user exists; --user-id ID ends those of one UUID, --all every session)`,
        );
      }
    }

    report.stage = 'devices';
    const devicesOwner = await devicesNowOf(repo, target, deviceTarget);
    if (deviceTarget === null && orphans !== undefined) {
      // Kept by a digest of the email, which no deleted account tells; registration forgets them.
      report.line(
        "trusted devices: not looked for: they are kept by email, which a deleted account no longer tells; registering that email again forgets them, and they expire 90 days after their last sign-in (--user-id ID --user EMAIL forgets one email's now)",
      );
    } else if (deviceTarget === null) {
      // Kept by the email alone (src/auth/keys.ts), which no row tells any more: said, not passed over.
      report.line(`trusted devices: not looked for: they are kept by email, and ${who} has no account to tell it (add --user EMAIL to forget that email's)`);
    } else if (devicesOwner !== undefined) {
      report.line(`trusted devices: ${dryRun ? 'would not be forgotten' : 'not forgotten'}: their email has been the account of user ${devicesOwner} since this run began (registered again), so they are that account's now`);
    } else {
      if (client !== undefined) await endRedisDevices(client, keyPrefix, deviceTarget, dryRun, devices, stop);
      else await endSqliteDevices(kvDb ?? db, deviceTarget, clock, dryRun, devices, stop);
      report.printDevices();
    }
    const moved = client === undefined ? undefined : slotsMoved(layoutBefore, await clusterLayout(client));
    if (moved !== undefined) {
      report.line(`${moved}: a session or trusted-device list moved from a master not walked yet to one walked already was passed over${dryRun ? ' by the counts' : ''}; run it again once the slots stay put`);
    }
    // Zero counts alone would not tell a mistyped id from one whose sessions are gone.
    if (noAccount && report.found() === 0) report.line(`nothing of ${who} was found: its sessions are gone already, or the id is mistyped`);
    if (events !== undefined) {
      events.emit({
        event: 'authn_token_revoked',
        level: 'WARN',
        description: `Operator revoked the sign-ins of ${who} (livecomponents revoke-sessions, run by ${operator()}): ${report.counted()}${devicesOwner === undefined ? '' : `; the trusted devices were not forgotten: their email is the account of user ${devicesOwner} now`}${moved === undefined ? '' : `; ${moved}: some sessions may have been passed over, run it again`}`,
      });
    }
    // Not done: the devices asked for are still trusted, and a rerun is refused (the email has an
    // account); or sessions may have been passed over (slots moving).
    const notDone = [
      ...(devicesOwner === undefined ? [] : [dryRun ? "the trusted devices would be kept (above): the email is another account's now" : "the trusted devices (above): the email is another account's now"]),
      ...(moved === undefined ? [] : [`what moved between the Cluster's masters while it ran (above): run it again`]),
    ];
    if (notDone.length > 0) {
      report.line(dryRun ? `dry run done: nothing was changed; ${notDone.join('; ')}` : `done, except ${notDone.join('; ')}`);
      return 1;
    }
    report.line(dryRun ? 'dry run done: nothing was changed' : 'done');
    return 0;
  } catch (error) {
    if (error instanceof Interrupted) {
      const code = SIGNAL_EXIT[error.signal] ?? 1;
      if (begun === undefined || revoked.pieces === 0) {
        report.line(`interrupted by ${error.signal} before anything changed`);
        return code;
      }
      const notDone = report.printSoFar(`interrupted by ${error.signal}`);
      events?.emit({
        event: 'authn_token_revoked',
        level: 'WARN',
        description: `Operator's revocation of the sign-ins of ${begun} (livecomponents revoke-sessions, run by ${operator()}) was interrupted by ${error.signal} at a safe point: ${report.counted()}; not done: ${notDone}, run it again`,
      });
      return code;
    }
    // A run that failed half-way has changed things all the same: the output and the log say so, and
    // what to do (the error's own line follows, from runCommand). One that failed in its first piece
    // of tokens changed nothing (that piece's transaction rolled back): said so, not "part-way … 0".
    const changed = begun !== undefined && revoked.pieces > 0;
    if (changed) report.printSoFar('failed part-way');
    else if (begun !== undefined) report.line(`failed before anything ${dryRun ? 'was counted' : 'changed'}`);
    if (events !== undefined && begun !== undefined) {
      const reason = error instanceof Error ? error.message : String(error);
      const what = changed ? `failed part-way: ${reason}; done before it: ${report.counted()}; what it revoked stays revoked, run it again` : `failed before it changed anything: ${reason}; nothing was revoked, run it again`;
      events.emit({ event: 'authn_token_revoked', level: 'WARN', description: `Operator's revocation of the sign-ins of ${begun} (livecomponents revoke-sessions, run by ${operator()}) ${what}` });
    }
    throw error;
  } finally {
    await redis?.close().catch(() => undefined);
    await kvDb?.destroy().catch(() => undefined);
    await db.destroy().catch(() => undefined);
    if (events !== undefined && io.events === undefined) await closeSecurityLog(events);
    // Last: closing the log delivers the event (an OTLP destination posts it then, within its close
    // timeout); a signal meanwhile must not kill the process with Node's default before it is out.
    stopListening();
  }
}

