/**
 * `livecomponents revoke-sessions`: the stores opened and checked before anything is revoked. A
 * database that does not exist, is not migrated, or is newer than this release, an embedded store
 * missing from the working directory, a Redis that does not answer, refuses a command the run sends
 * or holds no session under `REDIS_KEY_PREFIX` while other prefixes do: each refuses the run untouched.
 */
import { existsSync } from 'node:fs';
import type { Kysely } from 'kysely';
import { redisTarget } from '../runtime/backends.js';
import { createDatabase } from '../sql/database.js';
import { newerMigrations, newerReleaseMessage, pendingMigrations } from '../sql/migrate.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { describeDatabaseUrl, parseDatabaseUrl } from '../sql/url.js';
import { createRedisStore, redisClientOf } from '../store/redis/index.js';
import type { Store } from '../store/types.js';
import { redisDescription, Refusal } from './command.js';
import { emptyStoreNote } from './revoke-sessions-prefix.js';
import { checkRedisCommands, checkRedisDryRunCommands } from './revoke-sessions-redis-commands.js';
import { surveyPrefixes } from './revoke-sessions-redis-survey.js';
import type { StopCheck } from './revoke-sessions-stop.js';

/** An error's message without its closing full stop, for a line that goes on after it. */
const sentence = (error: unknown): string => (error as Error).message.replace(/\.$/, '');

/** The parsed `url`, refused when it names no database another process could share, or none yet. */
export function existingDatabase(url: string, cwd: string | undefined, name: string): ReturnType<typeof parseDatabaseUrl> {
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
export async function openEmbeddedStore(url: string, cwd: string | undefined): Promise<Kysely<DatabaseSchema>> {
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
export async function checkSchema(db: Kysely<DatabaseSchema>, where: string): Promise<void> {
  const newer = await newerMigrations(db);
  if (newer.length > 0) throw new Refusal(`${where}: ${newerReleaseMessage(newer)}`);
  const pending = await pendingMigrations(db);
  if (pending.length > 0) throw new Refusal(`${where} is not migrated to this release (pending: ${pending.join(', ')}): run \`livecomponents migrate\` first`);
}

/** The Redis store at `url` under `keyPrefix`, once it answers (refused untouched otherwise). */
export async function openRedis(url: string, keyPrefix: string): Promise<Store> {
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

/**
 * Checks the Redis store at `url` before anything is revoked: it allows the commands the run sends
 * (and, for a dry run, EXISTS), and `keyPrefix` holds the app's sessions (`surveyPrefixes`; `stop` is
 * asked before each SCAN).
 * @returns the note said with the sessions' counts when no session of this framework is under the prefix
 */
export async function checkSessionsRedis(
  redis: Store,
  url: string,
  keyPrefix: string,
  run: { dryRun: boolean; keyPrefixEmpty: boolean; stop: StopCheck },
): Promise<string | undefined> {
  const client = redisClientOf(redis);
  if (client === undefined) throw new Error('the Redis store has no client');
  await checkRedisCommands(client, keyPrefix).catch((error: unknown) => {
    throw new Refusal(
      `${redisDescription(url)}: ${sentence(error)}: ending sessions needs SCAN, GET and UNLINK (grant the ACL user +scan +get +unlink on the app's keys); nothing was changed`,
    );
  });
  if (run.dryRun) {
    await checkRedisDryRunCommands(client, keyPrefix).catch((error: unknown) => {
      throw new Refusal(
        `${redisDescription(url)}: ${sentence(error)}: a dry run looks for each session key it counts with EXISTS (grant the ACL user +exists on the app's keys); nothing was changed`,
      );
    });
  }
  return emptyStoreNote(await surveyPrefixes(client, keyPrefix, run.stop), redisDescription(url), keyPrefix, run.keyPrefixEmpty);
}
