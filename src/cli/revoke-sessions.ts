/**
 * `livecomponents revoke-sessions --all | --user EMAIL [--dry-run]`: signs everyone (or one user)
 * out from the operator's shell, in the stores the app uses (`DATABASE_URL`, `REDIS_URL`,
 * `REDIS_KEY_PREFIX`):
 *
 * - in the SQL database, every access token, browser sign-in and refresh token that could still be
 *   used is revoked, and unspent password-reset tokens are marked spent (`revokeUsers`,
 *   src/auth/repository.ts: under each user's lock, like logout-all);
 * - in the key-value store (Redis when `REDIS_URL` is set, else the SQLite store: the `DATABASE_URL`
 *   file, or with PostgreSQL the embedded `./data/livecomponents.db` of the working directory, which
 *   must exist: run elsewhere, the command refuses before it changes anything) every session — or
 *   every session of the user — is ended, and every account's trusted devices (or the user's) are
 *   forgotten (`revoke-sessions-kv.ts`, `revoke-sessions-devices.ts`).
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
import { existsSync } from 'node:fs';
import type { Kysely } from 'kysely';
import { readEmail } from '../auth/email.js';
import { createAuthRepository, type BulkRevoked } from '../auth/repository.js';
import { systemClock, wholeMsClock, type Clock } from '../core/clock.js';
import { redisKeyPrefix } from '../ops/config-fields.js';
import type { SecurityEventSink } from '../ops/security-events.js';
import { redisTarget } from '../runtime/backends.js';
import { createDatabase } from '../sql/database.js';
import { refuseMovedStores } from '../sql/moved-mark.js';
import { newerMigrations, newerReleaseMessage, pendingMigrations } from '../sql/migrate.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { DEFAULT_DATABASE_URL, describeDatabaseUrl, parseDatabaseUrl } from '../sql/url.js';
import { createRedisStore, redisClientOf } from '../store/redis/index.js';
import type { Store } from '../store/types.js';
import { redisDescription, Refusal, runCommand, type CommandIo } from './command.js';
import { endRedisDevices, endSqliteDevices, type DeviceCounts, type DeviceTarget } from './revoke-sessions-devices.js';
import { closeSecurityLog, operator, securityLog } from './revoke-sessions-log.js';
import { emptyStoreNote } from './revoke-sessions-prefix.js';
import {
  checkRedisCommands,
  checkRedisDryRunCommands,
  emptySessionCounts,
  endRedisSessions,
  endSqliteSessions,
  Interrupted,
  stopIfAsked,
  surveyPrefixes,
  type SessionTarget,
  type StopCheck,
} from './revoke-sessions-kv.js';

export interface RevokeSessionsArgs {
  /** Every user and every session. */
  readonly all?: boolean | undefined;
  /** The email of the one user whose tokens and sessions end. */
  readonly user?: string | undefined;
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

/** The part of `process` the run listens to for SIGINT and SIGTERM. */
export interface SignalSource {
  on(signal: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
}

/** The exit code of a run stopped by `signal`: 128 and the signal's number, as a shell reports it. */
const SIGNAL_EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

/** An error's message without its closing full stop, for a line that goes on after it. */
const sentence = (error: unknown): string => (error as Error).message.replace(/\.$/, '');

/** Users revoked per transaction: their rows are locked for its few milliseconds. */
const USERS_PER_PIECE = 500;

/**
 * Runs the command and prints the counts per kind.
 * @returns 0 done (or, with `dryRun`, counted), 1 refused or failed (what was revoked before the
 *   failure stays revoked; run it again), 2 a usage error, 130 (SIGINT) or 143 (SIGTERM) stopped by
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
  let events: SecurityEventSink | undefined;
  /** Whom the revocation is for, once it has begun to change things. */
  let begun: string | undefined;
  /** Said with the sessions' counts when no session of this framework is under the prefix. */
  let empty: string | undefined;
  /** What was done so far, counted as each piece commits. */
  const revoked: BulkRevoked & { pieces: number } = { accessTokens: 0, webSignIns: 0, refreshTokens: 0, passwordResets: 0, pieces: 0 };
  const sessions = emptySessionCounts();
  const devices: DeviceCounts = { accounts: 0, devices: 0 };
  let stage: 'tokens' | 'sessions' | 'devices' = 'tokens';
  let where = '';
  let stopping: NodeJS.Signals | undefined;
  const stop = () => stopping;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping === undefined) {
      stopping = signal;
      io.err(`revoke-sessions: ${signal}: stopping after the transaction under way (at most seconds), then printing and logging what was done`);
    } else io.err(`revoke-sessions: ${signal}: already stopping, after the transaction under way`);
  };
  const signals = io.signals ?? process;
  signals.on('SIGINT', onSignal);
  signals.on('SIGTERM', onSignal);
  const verb = dryRun ? 'would be revoked' : 'revoked';
  const printTokens = () => {
    out(io, `access tokens: ${revoked.accessTokens} ${verb}`);
    out(io, `browser sign-ins: ${revoked.webSignIns} ${verb}`);
    out(io, `refresh tokens: ${revoked.refreshTokens} ${verb}`);
    out(io, `password reset tokens: ${revoked.passwordResets} ${dryRun ? 'would be spent' : 'spent (unused ones)'}`);
  };
  const printSessions = () => {
    const ended = dryRun ? 'would be ended' : 'ended';
    const deleted = dryRun ? 'would be deleted' : 'deleted';
    out(io, `sessions in ${where}:`);
    if (empty !== undefined) out(io, empty);
    out(io, `sessions signed in: ${sessions.signedIn} ${ended}`);
    out(io, `sessions anonymous: ${sessions.anonymous} ${ended}`);
    out(io, `component states: ${sessions.componentStates} ${deleted}`);
    out(io, `csrf nonces: ${sessions.csrfNonces} ${deleted}`);
  };
  const counted = () =>
    `${revoked.accessTokens} access tokens, ${revoked.webSignIns} browser sign-ins and ${revoked.refreshTokens} refresh tokens revoked, ` +
    `${revoked.passwordResets} reset tokens spent, ${sessions.signedIn + sessions.anonymous} sessions ended, ${devices.devices} trusted devices forgotten`;
  const printDevices = () =>
    out(io, `trusted devices of ${devices.accounts} ${devices.accounts === 1 ? 'account' : 'accounts'}: ${devices.devices} ${dryRun ? 'would be forgotten' : 'forgotten'}`);
  /**
   * A run ended before its last stage (a signal, a failure): the counts of the stage under way, then
   * what was done and what was not. Said alike for both: a failed run's sessions ended went unprinted.
   * @returns what was not done, for the event
   */
  const printSoFar = (why: string): string => {
    if (stage === 'tokens') printTokens();
    else if (stage === 'sessions') printSessions();
    else printDevices();
    const notDone =
      stage === 'tokens'
        ? 'the tokens of the users not reached yet, every session and every trusted device'
        : stage === 'sessions'
          ? `the sessions not reached yet and every trusted device${dryRun ? '' : ' (the tokens above are all revoked)'}`
          : `the trusted devices not reached yet${dryRun ? '' : ' (the tokens and sessions above are all done)'}`;
    out(io, `${why}: ${dryRun ? 'counted' : 'done'} only what is counted above; not ${dryRun ? 'counted' : 'done'}: ${notDone}: run it again to finish`);
    return notDone;
  };
  try {
    // Made before anything changes: a log destination that does not parse refuses the run.
    events = dryRun ? undefined : (io.events ?? securityLog(io));
    await checkSchema(db, describeDatabaseUrl(databaseUrl, io.cwd));
    if (embeddedUrl !== undefined) kvDb = await openEmbeddedStore(embeddedUrl, io.cwd);
    await refuseMovedStores({ databaseUrl, redisUrl, db, kvDb, cwd: io.cwd }, 'revoke-sessions would change that stale copy, not the sessions and tokens in use; nothing was changed');
    const repo = createAuthRepository(db);
    let target: SessionTarget = { all: true };
    let deviceTarget: DeviceTarget = { all: true };
    if (scope.email !== undefined) {
      const user = await repo.userByEmail(scope.email);
      if (user === undefined) throw new Refusal(`${describeDatabaseUrl(databaseUrl, io.cwd)} has no account with the email ${scope.email}; nothing was changed`);
      target = { all: false, userId: user.id };
      deviceTarget = { all: false, email: user.email };
    }
    // The store is reached before anything is revoked: a Redis that is down (or, beside PostgreSQL, an
    // embedded store that is missing or no store of this release, above) refuses the run untouched.
    if (redisUrl !== undefined) redis = await openRedis(redisUrl, keyPrefix);
    if (redis !== undefined && redisUrl !== undefined) {
      const client = redisClientOf(redis);
      if (client === undefined) throw new Error('the Redis store has no client');
      await checkRedisCommands(client, keyPrefix).catch((error: unknown) => {
        throw new Refusal(
          `${redisDescription(redisUrl)}: ${sentence(error)}: ending sessions needs SCAN, GET and UNLINK (grant the ACL user +scan +get +unlink on the app's keys); nothing was changed`,
        );
      });
      if (dryRun) {
        await checkRedisDryRunCommands(client, keyPrefix).catch((error: unknown) => {
          throw new Refusal(
            `${redisDescription(redisUrl)}: ${sentence(error)}: a dry run looks for each session key it counts with EXISTS (grant the ACL user +exists on the app's keys); nothing was changed`,
          );
        });
      }
      empty = emptyStoreNote(await surveyPrefixes(client, keyPrefix, stop), redisDescription(redisUrl), keyPrefix, args.keyPrefixEmpty === true);
    }
    const who = target.all ? 'every user' : `user ${target.userId}`;
    out(io, `${dryRun ? 'dry run, nothing is changed: ' : ''}${who}: ${describeDatabaseUrl(databaseUrl, io.cwd)}`);

    begun = who;
    await revokeTokens(repo, target, clock, dryRun, revoked, stop);
    printTokens();

    stage = 'sessions';
    const client = redis === undefined ? undefined : redisClientOf(redis);
    if (redis !== undefined && client === undefined) throw new Error('the Redis store has no client');
    if (client !== undefined && redisUrl !== undefined) {
      where = `${redisDescription(redisUrl)}${keyPrefix === '' ? '' : ` (key prefix ${keyPrefix})`}`;
      await endRedisSessions(client, keyPrefix, target, dryRun, sessions, stop);
    } else {
      where = describeDatabaseUrl(embeddedUrl ?? databaseUrl, io.cwd);
      await endSqliteSessions(kvDb ?? db, target, clock, dryRun, sessions, stop);
    }
    printSessions();

    stage = 'devices';
    if (client !== undefined) await endRedisDevices(client, keyPrefix, deviceTarget, dryRun, devices, stop);
    else await endSqliteDevices(kvDb ?? db, deviceTarget, clock.now(), dryRun, devices, stop);
    printDevices();
    if (events !== undefined) {
      events.emit({
        event: 'authn_token_revoked',
        level: 'WARN',
        description: `Operator revoked the sign-ins of ${who} (livecomponents revoke-sessions, run by ${operator()}): ${counted()}`,
      });
    }
    out(io, dryRun ? 'dry run done: nothing was changed' : 'done');
    return 0;
  } catch (error) {
    if (error instanceof Interrupted) {
      const code = SIGNAL_EXIT[error.signal] ?? 1;
      if (begun === undefined || revoked.pieces === 0) {
        out(io, `interrupted by ${error.signal} before anything changed`);
        return code;
      }
      const notDone = printSoFar(`interrupted by ${error.signal}`);
      events?.emit({
        event: 'authn_token_revoked',
        level: 'WARN',
        description: `Operator's revocation of the sign-ins of ${begun} (livecomponents revoke-sessions, run by ${operator()}) was interrupted by ${error.signal} at a safe point: ${counted()}; not done: ${notDone}, run it again`,
      });
      return code;
    }
    // A run that failed half-way has changed things all the same: the output and the log say so, and
    // what to do (the error's own line follows, from runCommand). One that failed in its first piece
    // of tokens changed nothing (that piece's transaction rolled back): said so, not "part-way … 0".
    const changed = begun !== undefined && revoked.pieces > 0;
    if (changed) printSoFar('failed part-way');
    else if (begun !== undefined) out(io, `failed before anything ${dryRun ? 'was counted' : 'changed'}`);
    if (events !== undefined && begun !== undefined) {
      const reason = error instanceof Error ? error.message : String(error);
      const what = changed ? `failed part-way: ${reason}; done before it: ${counted()}; what it revoked stays revoked, run it again` : `failed before it changed anything: ${reason}; nothing was revoked, run it again`;
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
    signals.off('SIGINT', onSignal);
    signals.off('SIGTERM', onSignal);
  }
}

function out(io: RevokeSessionsIo, line: string): void {
  io.out(`revoke-sessions: ${line}`);
}

/** `--all` or `--user EMAIL`, exactly one of them: signing everyone out is never a default. */
function readScope(args: RevokeSessionsArgs): { email: string | undefined } {
  const all = args.all === true;
  if (all === (args.user !== undefined)) {
    throw new Refusal('say whom to sign out: --all (every user and every session) or --user EMAIL (one user), exactly one of them', 2);
  }
  if (all) return { email: undefined };
  // As sign-in looks an account up (src/auth/input.ts lookupEmail): a lookalike or mixed-script
  // address, which registration now refuses, is looked up as typed, so an account registered before
  // those rules, which still signs in, can be signed out too.
  const read = readEmail(args.user);
  if (!read.ok && read.reason === 'malformed') throw new Refusal('--user must be the email address of an account', 2);
  return { email: read.ok ? read.email : read.asTyped };
}

/** The parsed `url`, refused when it names no database another process could share, or none yet. */
function existingDatabase(url: string, cwd: string | undefined, name: string): ReturnType<typeof parseDatabaseUrl> {
  let where: ReturnType<typeof parseDatabaseUrl>;
  try {
    where = parseDatabaseUrl(url, cwd);
  } catch (error) {
    // parseDatabaseUrl's messages name DATABASE_URL already ("DATABASE_URL: unsupported scheme …").
    const message = (error as Error).message;
    throw new Refusal(message.startsWith(`${name}: `) ? message : `${name}: ${message}`, 2);
  }
  if (where.engine === 'sqlite' && where.path === ':memory:') {
    throw new Refusal(`${name} is sqlite::memory:, which lives only inside the app's process: nothing here can reach it (restart that app instead)`, 2);
  }
  // Opening an SQLite path creates the file: a mistyped path would leave an empty database behind.
  if (where.engine === 'sqlite' && !existsSync(where.path)) {
    throw new Refusal(`${describeDatabaseUrl(url, cwd)} does not exist (check ${name}, and run this in the app's working directory for a relative path)`);
  }
  return where;
}

/**
 * The embedded key-value store beside PostgreSQL (`./data/livecomponents.db` of the app's working
 * directory, src/runtime/backends.ts), opened and checked before anything is revoked. A missing
 * file means this is not the app's working directory (the app creates it at start-up): ending no
 * session there and reporting success left every session of the app live.
 */
async function openEmbeddedStore(url: string, cwd: string | undefined): Promise<Kysely<DatabaseSchema>> {
  const where = describeDatabaseUrl(url, cwd);
  const target = parseDatabaseUrl(url, cwd);
  if (target.engine === 'sqlite' && !existsSync(target.path)) {
    throw new Refusal(
      `REDIS_URL is not set, so the app keeps its sessions in the embedded store ${where} of its working directory, which does not exist here: run this in the app's working directory (or with the app's REDIS_URL); nothing was changed`,
    );
  }
  let kvDb: Kysely<DatabaseSchema> | undefined;
  try {
    kvDb = createDatabase(url, { cwd });
    await checkSchema(kvDb, `${where} (the embedded store)`);
    return kvDb;
  } catch (error) {
    await kvDb?.destroy().catch(() => undefined);
    if (error instanceof Refusal) throw error;
    throw new Refusal(`${where} (the embedded store): ${sentence(error)}; nothing was changed`);
  }
}

/** Refuses a database this release cannot run on: its tables may lack what the revocation writes. */
async function checkSchema(db: Kysely<DatabaseSchema>, where: string): Promise<void> {
  const newer = await newerMigrations(db);
  if (newer.length > 0) throw new Refusal(`${where}: ${newerReleaseMessage(newer)}`);
  const pending = await pendingMigrations(db);
  if (pending.length > 0) throw new Refusal(`${where} is not migrated to this release (pending: ${pending.join(', ')}): run \`livecomponents migrate\` first`);
}

/**
 * Every user in pieces of `USERS_PER_PIECE` (one transaction each), or the one user, counted into
 * `total` as each piece commits (`pieces`: how many did); `stop` is asked before each piece.
 */
async function revokeTokens(
  repo: ReturnType<typeof createAuthRepository>,
  target: SessionTarget,
  clock: Clock,
  dryRun: boolean,
  total: BulkRevoked & { pieces: number },
  stop: StopCheck,
): Promise<void> {
  let after = '';
  for (;;) {
    stopIfAsked(stop);
    const ids = target.all ? await repo.userIdsAfter(after, USERS_PER_PIECE) : [target.userId];
    const piece = await repo.revokeUsers(ids, clock.now(), dryRun);
    total.accessTokens += piece.accessTokens;
    total.webSignIns += piece.webSignIns;
    total.refreshTokens += piece.refreshTokens;
    total.passwordResets += piece.passwordResets;
    total.pieces++;
    if (!target.all || ids.length < USERS_PER_PIECE) return;
    after = ids[ids.length - 1] as string;
  }
}

async function openRedis(url: string, keyPrefix: string): Promise<Store> {
  let store: Store;
  try {
    store = createRedisStore({ ...redisTarget(url), keyPrefix, onConnectionError: () => undefined, commandTimeoutMs: 10_000 });
  } catch (error) {
    throw new Refusal(`REDIS_URL: ${(error as Error).message}`, 2);
  }
  try {
    await store.health();
    return store;
  } catch (error) {
    await store.close().catch(() => undefined);
    throw new Refusal(`${redisDescription(url)}: ${sentence(error)}; nothing was changed`);
  }
}
