/**
 * Brings a database to the latest schema with Kysely's `Migrator` and the static list in
 * `./migrations/index.ts`. Runs at start-up and from `livecomponents migrate`.
 */
import {
  CreateTableNode,
  DEFAULT_MIGRATION_TABLE,
  DummyDriver,
  Kysely,
  Migrator,
  PostgresAdapter,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  sql,
  type MigrationProvider,
} from 'kysely';
import { tableConflict } from './migrations/guard.js';
import { MIGRATIONS } from './migrations/index.js';

const provider: MigrationProvider = {
  getMigrations: () => Promise.resolve(MIGRATIONS),
};

/**
 * Thrown when a migration fails. PostgreSQL runs all pending migrations in one transaction, so
 * none of them stays applied; SQLite (no transactional DDL in Kysely's migrator) keeps those that
 * succeeded before the failure, and its migrations are written to be re-runnable.
 */
export class MigrationError extends Error {
  /** The migration that failed, when one did (not when the migrator itself could not start). */
  readonly migrationName: string | undefined;
  /** The migrations of this run that stay applied, in order. */
  readonly applied: readonly string[];

  constructor(message: string, migrationName: string | undefined, applied: readonly string[], cause: unknown) {
    super(message, { cause });
    this.name = 'MigrationError';
    this.migrationName = migrationName;
    this.applied = applied;
  }
}

/** Runs of the migrator on SQLite before a failure is final (see `migrateToLatest`). */
const SQLITE_ATTEMPTS = 5;

/**
 * Applies every pending migration, in name order.
 *
 * On PostgreSQL the migration bookkeeping tables go into the connection's current schema (the
 * first of its `search_path`), so each schema is migrated on its own.
 *
 * @returns the names of the migrations applied now (empty when the schema was already current)
 * @throws MigrationError naming the migration that failed and why
 * @example
 * for (const name of await migrateToLatest(db)) console.log(`applied ${name}`);
 */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<string[]> {
  let migrationTableSchema: string | undefined;
  try {
    migrationTableSchema = await currentSchema(db);
  } catch (error) {
    throw new MigrationError(`Migrations could not start: ${messageOf(error)}`, undefined, [], error);
  }
  // Before the migrator, whose refusal ("corrupted migrations: previously executed migration … is
  // missing") reads as damage: the likely cause is a rollback to this release after a newer one migrated.
  let newer: string[];
  try {
    newer = await newerMigrations(db, migrationTableSchema);
  } catch (error) {
    throw new MigrationError(`Migrations could not start: ${messageOf(error)}`, undefined, [], error);
  }
  if (newer.length > 0) throw new MigrationError(newerReleaseMessage(newer), undefined, [], undefined);
  const transactional = db.getExecutor().adapter.supportsTransactionalDdl;
  const applied: string[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      return [...applied, ...(await migrateOnce(db, migrationTableSchema, transactional))];
    } catch (error) {
      // SQLite: Kysely's migrator takes no lock there, so two processes starting on one file at once
      // (PM2, Node's cluster) run the same migration and the slower one's bookkeeping insert fails.
      // When the migration that failed is recorded as applied after all, that is what happened: run
      // again for the rest (ours are re-runnable). A migration that really failed is still pending.
      if (transactional || !(error instanceof MigrationError) || attempt >= SQLITE_ATTEMPTS) throw error;
      applied.push(...error.applied);
      const pending = await pendingMigrations(db);
      if (error.migrationName === undefined || pending.includes(error.migrationName)) {
        throw new MigrationError(error.message, error.migrationName, applied, error.cause);
      }
      if (pending.length === 0) return applied;
    }
  }
}

async function migrateOnce<DB>(db: Kysely<DB>, migrationTableSchema: string | undefined, transactional: boolean): Promise<string[]> {
  const migrator = new Migrator({ db, provider, migrationTableSchema });
  const { error, results = [] } = await migrator.migrateToLatest();
  const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
  if (error !== undefined) {
    // With transactional DDL the migrator's one transaction rolled back the "successful" ones too.
    const kept = transactional ? [] : applied;
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const what = failed === undefined ? 'Migrations failed' : `Migration "${failed}" failed`;
    throw new MigrationError(`${what}: ${messageOf(error)}`, failed, kept, error);
  }
  return applied;
}

/**
 * The names of the migrations not yet applied, in order (read-only: the migrator only reads its
 * bookkeeping table, and a database without one has them all pending).
 */
export async function pendingMigrations<DB>(db: Kysely<DB>): Promise<string[]> {
  const migrator = new Migrator({ db, provider, migrationTableSchema: await currentSchema(db) });
  return (await migrator.getMigrations()).filter((m) => m.executedAt === undefined).map((m) => m.name);
}

/**
 * The migrations applied to the database that this release does not know, in name order: a newer
 * release applied them (its schema may lack nothing this one needs, but this one cannot tell, and
 * Kysely's migrator refuses to run). Empty for a database without the bookkeeping table. Read-only.
 */
export async function newerMigrations<DB>(db: Kysely<DB>, schema?: string): Promise<string[]> {
  const migrationTableSchema = schema ?? (await currentSchema(db));
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  const exists = tables.some((t) => t.name === DEFAULT_MIGRATION_TABLE && (migrationTableSchema === undefined || t.schema === migrationTableSchema));
  if (!exists) return [];
  const table = migrationTableSchema === undefined ? DEFAULT_MIGRATION_TABLE : `${migrationTableSchema}.${DEFAULT_MIGRATION_TABLE}`;
  const { rows } = await sql<{ name: string }>`select name from ${sql.table(table)}`.execute(db);
  return rows.map((r) => r.name).filter((name) => !Object.hasOwn(MIGRATIONS, name)).sort();
}

/** What `migrate`, start-up and `doctor --connect` say of a database `newerMigrations` found. */
export function newerReleaseMessage(names: readonly string[]): string {
  return `the database was migrated by a newer release (${names.join(', ')}); this release cannot run on it: deploy that release, or restore a backup taken before it migrated`;
}

/**
 * Why the `pending` migrations (`pendingMigrations(db)`) would fail on tables that already exist
 * with other columns (another tool's `users`, say), one line per table; empty when none would.
 * Read-only: each pending migration runs against a recorder that executes nothing, and the tables
 * it would create are compared with the database's. `doctor --connect` reports these as a failure.
 */
export async function migrationConflicts<DB>(db: Kysely<DB>, pending: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const name of pending) {
    for (const table of await plannedTables(name)) {
      const problem = await tableConflict(db as Kysely<unknown>, table.name, table.columns);
      if (problem !== undefined) problems.push(`${name}: ${problem}`);
    }
  }
  return problems;
}

/** The tables migration `name` creates, with their columns, found by running it against nothing. */
async function plannedTables(name: string): Promise<{ name: string; columns: string[] }[]> {
  // By name: the plugin sees a statement more than once (compiling, then executing).
  const tables = new Map<string, string[]>();
  const recorder = new Kysely<unknown>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new SqliteIntrospector(db),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
    plugins: [
      {
        transformQuery: ({ node }) => {
          if (CreateTableNode.is(node)) {
            tables.set(node.table.table.identifier.name, node.columns.map((c) => c.column.column.name));
          }
          return node;
        },
        transformResult: ({ result }) => Promise.resolve(result),
      },
    ],
  });
  try {
    await MIGRATIONS[name]?.up(recorder);
  } finally {
    await recorder.destroy();
  }
  return [...tables].map(([table, columns]) => ({ name: table, columns }));
}

/** PostgreSQL: `current_schema()`; SQLite: none (one namespace). */
async function currentSchema<DB>(db: Kysely<DB>): Promise<string | undefined> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return undefined;
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema;
  if (typeof schema !== 'string') throw new Error('PostgreSQL has no current schema (check search_path)');
  return schema;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
