/**
 * Opens what an app stores its data in, from configuration (PROTOCOL §1):
 * - the SQL database (`DATABASE_URL`: SQLite file by default, or PostgreSQL) for users and tokens,
 *   migrated at start-up;
 * - the key-value `Store` for sessions, sealed state, idempotency records and rate-limit counters:
 *   Redis when `REDIS_URL` is set (shared by every instance), else the SQLite file — the same one
 *   as `DATABASE_URL` when that is SQLite, else the embedded default file.
 */
import { dirname, resolve, sep } from 'node:path';
import type { Kysely } from 'kysely';
import { createDatabase, DEFAULT_DATABASE_URL, describeDatabaseUrl, migrateToLatest, MigrationError, parseDatabaseUrl } from '../sql/index.js';
import type { DatabaseSchema } from '../sql/index.js';
import { MIGRATION_TIMEOUT_MS, migrationWaitFailure, openMigrationDatabase } from '../sql/migration-database.js';
import { unwritableTables, type DevelopmentReset } from '../sql/migrate.js';
import { refuseMovedStores } from '../sql/moved-mark.js';
import type { Cluster } from 'ioredis';
import { loadIoredis } from '../store/redis/driver.js';
import { createRedisStore, redisClusterOptions } from '../store/redis/index.js';
import { redisDatabaseOf } from '../store/redis/connection.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import { redisCredentialsOf } from '../ops/config-fields.js';
import type { Store } from '../store/types.js';

export interface Backends {
  readonly db: Kysely<DatabaseSchema>;
  readonly store: Store;
  /** Closes the store, then the database. */
  close(): Promise<void>;
}

export interface BackendOptions {
  /** @default 'sqlite:./data/livecomponents.db' */
  databaseUrl?: string | undefined;
  /** When set, the `Store` is Redis; several comma-separated URLs are the seed nodes of a Redis Cluster. */
  redisUrl?: string | undefined;
  /**
   * Prepended to every Redis key: two apps sharing one Redis (one database, or a Cluster, which has no
   * other) would otherwise share rate-limit budgets and more. @default none
   */
  redisKeyPrefix?: string | undefined;
  /** Told about Redis connection errors (the store reconnects by itself). */
  onRedisError?: ((error: Error) => void) | undefined;
  /**
   * SQLite store only: told when a background sweep of expired rows fails (another process held the
   * write lock past the busy timeout, disk full…; the next sweep tries again) and when the WAL
   * checkpoint worker dies or a checkpoint fails. Unset, a failed sweep leaves no trace at all while
   * expired rows and the WAL keep growing. @default ignored
   */
  onSweepError?: ((error: unknown) => void) | undefined;
  /** SQLite store only: ms between sweeps of expired rows. @default 60_000 */
  sweepIntervalMs?: number | undefined;
  /** The folder relative `sqlite:` paths (the embedded key-value file's too) are resolved against. @default process.cwd() */
  cwd?: string | undefined;
  /**
   * PostgreSQL: how long one migration statement, and the wait for another process's migration, may
   * take at start-up, in ms (src/sql/migration-database.ts). @default MIGRATION_TIMEOUT_MS (10 min)
   */
  migrationTimeoutMs?: number | undefined;
  /**
   * Told, after migrating, of a table of ours with a column `NOT NULL` without a default that this
   * release does not write (a local edit, another app's table of that name): every insert into it
   * fails. `doctor --connect` fails on it; start-up only warns, since on PostgreSQL a trigger the
   * catalog does not show (one on another table, a rule) may fill it. @default console.warn
   */
  onSchemaWarning?: ((message: string) => void) | undefined;
  /**
   * Production: a database a newer release migrated is refused in production's words only. Outside
   * it, on the embedded default file (`sqlite:./data/livecomponents.db`), the refusal adds that
   * deleting `./data/` starts afresh. @default `NODE_ENV === 'production'`
   */
  production?: boolean | undefined;
}

export async function openBackends(options: BackendOptions = {}): Promise<Backends> {
  const databaseUrl = options.databaseUrl ?? DEFAULT_DATABASE_URL;
  const { cwd } = options;
  const embeddedStore = !options.redisUrl && parseDatabaseUrl(databaseUrl, cwd).engine === 'postgres';
  let db: Kysely<DatabaseSchema>;
  try {
    db = createDatabase(databaseUrl, { cwd });
  } catch (error) {
    // SQLite opens the file here ("SQLite: cannot open …"): name the setting to fix, as the doctor does.
    throw labelled(error, 'DATABASE_URL');
  }
  try {
    await migrate(databaseUrl, db, options.redisUrl || embeddedStore ? 'users and tokens' : 'users, tokens and the key-value store', options, 'DATABASE_URL: ');
    let store: Store;
    let kvDb: Kysely<DatabaseSchema> | null = null;
    const sweepOptions = { onSweepError: options.onSweepError, sweepIntervalMs: options.sweepIntervalMs };
    // Before any store opens on it: a file `move-data` copied elsewhere is stale (src/sql/moved-mark.ts).
    if (!embeddedStore) await refuseMovedStores({ databaseUrl, redisUrl: options.redisUrl, db, cwd }, 'the app does not start on it');
    if (options.redisUrl) {
      store = createRedisStore({ ...redisTarget(options.redisUrl), keyPrefix: options.redisKeyPrefix, onConnectionError: options.onRedisError });
    } else if (!embeddedStore) {
      store = await createSqliteStore({ db, ...sweepOptions });
    } else {
      // PostgreSQL holds the relational data; without Redis the key-value data stays embedded.
      const holds = 'the embedded key-value store, as REDIS_URL is not set: sessions, state, idempotency records';
      try {
        kvDb = createDatabase(DEFAULT_DATABASE_URL, { cwd });
      } catch (error) {
        throw labelled(error, `${describeDatabaseUrl(DEFAULT_DATABASE_URL, cwd)} (${holds})`);
      }
      try {
        await migrate(DEFAULT_DATABASE_URL, kvDb, holds, options, '');
        await refuseMovedStores({ databaseUrl, redisUrl: options.redisUrl, db, kvDb, cwd }, 'the app does not start on it');
        store = await createSqliteStore({ db: kvDb, ...sweepOptions });
      } catch (error) {
        await kvDb.destroy();
        throw error;
      }
    }
    return {
      db,
      store,
      async close() {
        await store.close();
        await kvDb?.destroy();
        await db.destroy();
      },
    };
  } catch (error) {
    await db.destroy();
    throw error;
  }
}

/**
 * Migrates the database at `url` (`db`, or on PostgreSQL a migration connection of its own:
 * src/sql/migration-database.ts). A failure names the database and what it holds (`holds`): with
 * PostgreSQL and no Redis two databases are migrated, and "the database was migrated by a newer
 * release" alone sent the operator to restore PostgreSQL when it was the embedded file. `variable`
 * (`DATABASE_URL: `, or nothing for the embedded file, which no setting names) comes first.
 */
async function migrate(url: string, db: Kysely<DatabaseSchema>, holds: string, options: BackendOptions, variable: string): Promise<void> {
  const timeoutMs = options.migrationTimeoutMs ?? MIGRATION_TIMEOUT_MS;
  const label = `${variable}${describeDatabaseUrl(url, options.cwd)} (${holds})`;
  const postgres = parseDatabaseUrl(url, options.cwd).engine === 'postgres';
  try {
    const migrationDb = postgres ? openMigrationDatabase(url, { cwd: options.cwd, timeoutMs }) : db;
    try {
      await migrateToLatest(migrationDb, { developmentReset: developmentReset(url, options, variable) });
      const warn = options.onSchemaWarning ?? ((message: string) => console.warn(message));
      // A warning only: a catalog read that fails here does not stop a start the migration allowed.
      for (const problem of await unwritableTables(migrationDb).catch(() => [])) warn(`${label}: ${problem}`);
    } finally {
      if (migrationDb !== db) await migrationDb.destroy();
    }
  } catch (error) {
    throw labelled(migrationWaitFailure(error, timeoutMs), label);
  }
}

/**
 * Outside production, for the embedded default file: the folder to delete to start afresh, and the
 * setting that could name another file (`DATABASE_URL`, when it names this one); else `undefined`.
 */
function developmentReset(url: string, options: BackendOptions, variable: string): DevelopmentReset | undefined {
  if (options.production ?? process.env.NODE_ENV === 'production') return undefined;
  const target = parseDatabaseUrl(url, options.cwd);
  const embedded = parseDatabaseUrl(DEFAULT_DATABASE_URL, options.cwd);
  if (target.engine !== 'sqlite' || embedded.engine !== 'sqlite' || target.path !== embedded.path) return undefined;
  const folder = options.cwd === undefined || resolve(options.cwd) === process.cwd() ? './data/' : `${dirname(embedded.path)}${sep}`;
  return { folder, variable: variable === '' ? undefined : 'DATABASE_URL' };
}

/** `error` with `label: ` before its message, of the same class when it is a `MigrationError`. */
function labelled(error: unknown, label: string): Error {
  const text = error instanceof Error ? error.message : String(error);
  // DATABASE_URL's own refusals (parseDatabaseUrl: "DATABASE_URL: unsupported scheme …") name it already.
  if (text.startsWith(`${label}: `) && error instanceof Error) return error;
  const message = `${label}: ${text}`;
  return error instanceof MigrationError ? new MigrationError(message, error.migrationName, error.applied, error.cause) : new Error(message, { cause: error });
}

/**
 * `REDIS_URL` as a store target. One URL: a single Redis. Several: a Redis Cluster seeded with
 * those nodes (built with `redisClusterOptions()`, not yet connected when `lazyConnect`).
 * One URL naming a node of a cluster is refused on connection by the store (every call then fails
 * with `CLUSTER_NODE_REFUSAL`, health not ready) and by `doctor --connect`, rather than guessed into a
 * Cluster: the seed list is configuration the operator states.
 */
export function redisTarget(text: string, lazyConnect = false): { url: string } | { client: Cluster } {
  const urls = text.split(',').map((u) => u.trim());
  // One URL: createRedisStore checks it (and its credentials) itself.
  if (urls.length === 1) return { url: urls[0] as string };
  const parsed = urls.map((u, i) => {
    // Messages never quote the URL: it may hold a password (Node's "Invalid URL" error carries it as `input`).
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new TypeError(`REDIS_URL: entry ${i + 1} of the Redis Cluster seed list is not a URL such as redis://host:6379`);
    }
    try {
      // The query string and path checks of a single URL, for each seed: ioredis ignores both here,
      // but a parameter meant as a client option must not pass as if it were read.
      redisDatabaseOf(url);
      return { url, credentials: redisCredentialsOf(url) };
    } catch (error) {
      throw new TypeError(`REDIS_URL: entry ${i + 1} of the Redis Cluster seed list ${(error as Error).message}`);
    }
  });
  const nodes = parsed.map(({ url }) => ({ host: hostOf(url), port: Number(url.port || 6379) }));
  // Credentials and TLS come from the first URL: a cluster's nodes share them.
  const first = parsed[0] as (typeof parsed)[number];
  const base = redisClusterOptions();
  const redisOptions = {
    ...base.redisOptions,
    ...(first.url.password ? { username: first.credentials.username || undefined, password: first.credentials.password } : {}),
    ...(first.url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  return { client: new (loadIoredis().Cluster)(nodes, { ...base, redisOptions, lazyConnect }) };
}

/**
 * The host of `url` as a socket takes it: `URL.hostname` keeps the brackets of an IPv6 address
 * (`[::1]`), which DNS then fails to resolve (`getaddrinfo ENOTFOUND [::1]`) on every attempt.
 */
export function hostOf(url: URL): string {
  const host = url.hostname;
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
