/**
 * Brings a database to the latest schema with Kysely's `Migrator` and the static list in
 * `./migrations/index.ts`. Runs at start-up and from `livecomponents migrate`.
 *
 * Kysely's migrator knows applied migrations by name only, so a release whose copy of an applied
 * migration differs (edited after it shipped) would be taken as current and fail on its first
 * query. We record a checksum of each migration as it is applied (`lc_migration_checksums`, made
 * here and not by a migration: it is read before the migrator runs, and a migration of its own
 * would need checking in turn) and refuse a migration whose checksum differs, and we check that
 * the tables the applied migrations made still have the columns this release expects (which also
 * catches a database migrated before checksums were recorded, and columns dropped by hand). What
 * the checksum covers, and why not the compiled SQL: `./migrations/plan.ts`.
 */
import { DEFAULT_MIGRATION_TABLE, Migrator, PostgresAdapter, sql, type Kysely, type MigrationProvider } from 'kysely';
import { indexConflict, tableConflict, tableShortfall, unfilledColumns } from './migrations/guard.js';
import { MIGRATIONS } from './migrations/index.js';
import { expectedTables, planOf } from './migrations/plan.js';

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
 * @param options - `developmentReset`: the caller's word that this is the embedded default file
 *   outside production (the refusal of a database a newer release migrated then says how to start afresh)
 * @returns the names of the migrations applied now (empty when the schema was already current)
 * @throws MigrationError naming the migration that failed and why
 * @example
 * for (const name of await migrateToLatest(db)) console.log(`applied ${name}`);
 */
export async function migrateToLatest<DB>(db: Kysely<DB>, options: MigrateOptions = {}): Promise<string[]> {
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
  if (newer.length > 0) throw new MigrationError(newerReleaseMessage(newer, options.developmentReset), undefined, [], undefined);
  // Before migrating: a schema that is not what this release's migrations made gets nothing more.
  let changed: string[];
  try {
    changed = await changedMigrations(db, migrationTableSchema);
  } catch (error) {
    throw new MigrationError(`Migrations could not start: ${messageOf(error)}`, undefined, [], error);
  }
  if (changed.length > 0) throw new MigrationError(changed.join('; '), undefined, [], undefined);
  const applied = await migratePending(db, migrationTableSchema);
  try {
    // The ones applied now, and once those a release before checksums applied (taken as they are).
    await recordChecksums(db, migrationTableSchema);
  } catch (error) {
    // Nothing applied now: only the fill-in of a database migrated before checksums failed (a role
    // without CREATE, a read-only standby). It starts as before; the column check above still
    // runs, and the next run that may write records them.
    if (applied.length === 0) return applied;
    throw new MigrationError(`Migrations applied, but their checksums could not be recorded: ${messageOf(error)}`, undefined, applied, error);
  }
  return applied;
}

async function migratePending<DB>(db: Kysely<DB>, migrationTableSchema: string | undefined): Promise<string[]> {
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
  const names = await appliedNames(db, schema ?? (await currentSchema(db)));
  return names.filter((name) => !Object.hasOwn(MIGRATIONS, name));
}

/**
 * The embedded default SQLite file outside production, as the caller knows it (src/runtime/backends.ts):
 * what the refusal of a database a newer release migrated adds — there, starting afresh is a fix too.
 */
export interface DevelopmentReset {
  /** The folder that holds the file, as the developer would delete it. @example './data/' */
  readonly folder: string;
  /** The setting that names the file, when one does. @example 'DATABASE_URL' */
  readonly variable?: string | undefined;
}

/** What `migrateToLatest` is told by its caller. */
export interface MigrateOptions {
  /** Given only for the embedded default file outside production. @default none: the production wording */
  readonly developmentReset?: DevelopmentReset | undefined;
}

/**
 * What `migrate`, start-up and `doctor --connect` say of a database `newerMigrations` found; with
 * `development` (start-up on the embedded default file outside production), also how to start afresh.
 */
export function newerReleaseMessage(names: readonly string[], development?: DevelopmentReset): string {
  const message = `the database was migrated by a newer release (${names.join(', ')}); this release cannot run on it: deploy that release, or restore a backup taken before it migrated`;
  if (development === undefined) return message;
  const other = development.variable === undefined ? '' : ` (or pointing ${development.variable} at another file)`;
  return `${message}; in development, deleting ${development.folder}${other} starts afresh`;
}

/**
 * Why the `pending` migrations (`pendingMigrations(db)`) would fail on tables or indexes that
 * already exist as something else (another tool's `users`, an index name taken on another table),
 * one line per object; empty when none would. Read-only: each pending migration runs against a
 * recorder that executes nothing (`./migrations/plan.ts`), and what it would create is compared
 * with the database's. `doctor --connect` reports these as a failure.
 */
export async function migrationConflicts<DB>(db: Kysely<DB>, pending: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const name of pending) {
    const { tables, indexes } = await planOf(name);
    for (const table of tables) {
      const problem = await tableConflict(db as Kysely<unknown>, table.name, table.columns);
      if (problem !== undefined) problems.push(`${name}: ${problem}`);
    }
    for (const index of indexes) {
      const problem = await indexConflict(db as Kysely<unknown>, index.name, index.table, index.columns);
      if (problem !== undefined) problems.push(`${name}: ${problem}`);
    }
  }
  return problems;
}

/** Where the checksums of applied migrations are kept, beside Kysely's bookkeeping. */
const CHECKSUM_TABLE = 'lc_migration_checksums';

/** What every "differs from the one applied" message ends with. */
const CHANGED_ADVICE =
  'a migration must not change once applied (a change goes in a new one): deploy the release that applied it, or restore a backup taken before it was applied';

/**
 * The applied migrations this release's copy of differs from, one message each ("migration
 * 002_auth differs from the one applied to this database: …"); empty when none does. A migration
 * differs when its recorded checksum is not this release's, or when a table it made lacks a column
 * this release's migrations give it. Read-only; start-up, `migrate` and `doctor --connect` refuse
 * such a database.
 */
export async function changedMigrations<DB>(db: Kysely<DB>, schema?: string): Promise<string[]> {
  const migrationTableSchema = schema ?? (await currentSchema(db));
  const applied = (await appliedNames(db, migrationTableSchema)).filter((name) => Object.hasOwn(MIGRATIONS, name));
  const recorded = await recordedChecksums(db, migrationTableSchema);
  const problems = new Map<string, string>();
  for (const name of applied) {
    const checksum = (await planOf(name)).checksum;
    const was = recorded.get(name);
    if (was !== undefined && was !== checksum) {
      problems.set(name, `its checksum is ${checksum.slice(0, 12)}…, the database recorded ${was.slice(0, 12)}…`);
    }
  }
  for (const [table, { columns, migration }] of await expectedTables(applied)) {
    if (problems.has(migration)) continue;
    const problem = await tableShortfall(db as Kysely<unknown>, table, columns);
    if (problem !== undefined) problems.set(migration, problem);
  }
  return applied.flatMap((name) => {
    const problem = problems.get(name);
    return problem === undefined ? [] : [`migration ${name} differs from the one applied to this database: ${problem}: ${CHANGED_ADVICE}`];
  });
}

/**
 * The tables of applied migrations that every insert of this release fails on, one message each
 * ("table "users" has column tenant_id NOT NULL without a default, …"): a column it does not know,
 * NOT NULL without a default (added by hand, or another app's table of that name). Empty when none
 * has one. Read-only. `doctor --connect` reports them; start-up and `migrate` do not refuse them
 * (on PostgreSQL a trigger may fill such a column, which the catalog does not tell).
 */
export async function unwritableTables<DB>(db: Kysely<DB>, schema?: string): Promise<string[]> {
  const applied = (await appliedNames(db, schema ?? (await currentSchema(db)))).filter((name) => Object.hasOwn(MIGRATIONS, name));
  const problems: string[] = [];
  for (const [table, { columns }] of await expectedTables(applied)) {
    // One that lacks a column is a migration that differs (`changedMigrations`): said once (a renamed column).
    if ((await tableShortfall(db as Kysely<unknown>, table, columns)) !== undefined) continue;
    const unfilled = await unfilledColumns(db as Kysely<unknown>, table, columns);
    if (unfilled.length === 0) continue;
    const which = unfilled.length > 1 ? `columns ${unfilled.join(', ')}` : `column ${unfilled.join('')}`;
    problems.push(
      `table "${table}" has ${which} NOT NULL without a default, which this release does not write: every insert into "${table}" would fail; give ${unfilled.length > 1 ? 'each' : 'it'} a default or allow NULL in ${unfilled.length > 1 ? 'them' : 'it'}`,
    );
  }
  return problems;
}

/** The names in Kysely's bookkeeping table, sorted (the order they apply in); none without it. */
async function appliedNames<DB>(db: Kysely<DB>, schema: string | undefined): Promise<string[]> {
  if (!(await hasTable(db, schema, DEFAULT_MIGRATION_TABLE))) return [];
  const { rows } = await sql<{ name: string }>`select name from ${sql.table(qualified(schema, DEFAULT_MIGRATION_TABLE))}`.execute(db);
  return rows.map((r) => r.name).sort();
}

async function recordedChecksums<DB>(db: Kysely<DB>, schema: string | undefined): Promise<Map<string, string>> {
  if (!(await hasTable(db, schema, CHECKSUM_TABLE))) return new Map();
  const table = sql.table(qualified(schema, CHECKSUM_TABLE));
  const { rows } = await sql<{ name: string; checksum: string }>`select name, checksum from ${table}`.execute(db);
  return new Map(rows.map((r) => [r.name, r.checksum]));
}

/**
 * Records this release's checksum of every applied migration that has none: those just applied,
 * and, once, those a release before checksums applied. Writes nothing when none is missing (a
 * read-only standby starts as before). Concurrent runs insert the same values and skip existing
 * rows; on PostgreSQL a lock keeps two `create table if not exists` apart (run at once they can
 * fail on the type catalog).
 */
async function recordChecksums<DB>(db: Kysely<DB>, schema: string | undefined): Promise<void> {
  if ((await unrecorded(db, schema)).length === 0) return;
  const table = qualified(schema, CHECKSUM_TABLE);
  const write = async (trx: Kysely<DB>) => {
    if (schema !== undefined) await sql`select pg_advisory_xact_lock(hashtext(${table}))`.execute(trx);
    await sql`create table if not exists ${sql.table(table)} (name text primary key not null, checksum text not null)`.execute(trx);
    for (const name of await unrecorded(trx, schema)) {
      const { checksum } = await planOf(name);
      await sql`insert into ${sql.table(table)} (name, checksum) values (${name}, ${checksum}) on conflict (name) do nothing`.execute(trx);
    }
  };
  if (schema === undefined) await write(db);
  else await db.transaction().execute(write);
}

/** The applied migrations of this release that have no recorded checksum. */
async function unrecorded<DB>(db: Kysely<DB>, schema: string | undefined): Promise<string[]> {
  const recorded = await recordedChecksums(db, schema);
  return (await appliedNames(db, schema)).filter((name) => Object.hasOwn(MIGRATIONS, name) && !recorded.has(name));
}

async function hasTable<DB>(db: Kysely<DB>, schema: string | undefined, name: string): Promise<boolean> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  return tables.some((t) => t.name === name && (schema === undefined || t.schema === schema));
}

function qualified(schema: string | undefined, table: string): string {
  return schema === undefined ? table : `${schema}.${table}`;
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
