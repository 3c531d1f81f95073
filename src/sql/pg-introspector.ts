/**
 * Kysely's PostgreSQL introspector, with its catalog look-ups by OID instead of by name.
 *
 * `getTables` lists every schema's tables (Kysely's migrator calls it to find its own two tables, and
 * `migrate.ts` and `doctor` to find ours), and Kysely's query checks each schema with
 * `has_schema_privilege(nspname, 'USAGE')` and each column with `pg_get_serial_sequence(name, …)`.
 * Those resolve the *name* against the current catalog, while the scan of `pg_namespace` and
 * `pg_class` reads the statement's snapshot: a schema another session drops meanwhile (a tenant
 * removed from a shared database, a test suite's schema at its end) is still listed, and its name no
 * longer resolves — `schema "…" does not exist`, and start-up's migrations fail. By OID, a dropped
 * object answers NULL instead of an error (and is left out). Same rows and order as Kysely's, so
 * everything that reads `db.introspection` sees what it saw.
 */
import { DEFAULT_MIGRATION_LOCK_TABLE, DEFAULT_MIGRATION_TABLE, PostgresDialect, PostgresIntrospector, sql, type DatabaseIntrospector, type DatabaseMetadataOptions, type Kysely, type TableMetadata } from 'kysely';

interface ColumnRow {
  column: string;
  not_null: boolean;
  has_default: boolean;
  table: string;
  table_type: string;
  schema: string;
  type: string;
  type_schema: string;
  column_description: string | null;
  auto_incrementing: boolean;
}

export class OidPostgresIntrospector extends PostgresIntrospector {
  readonly #db: Kysely<unknown>;

  constructor(db: Kysely<unknown>) {
    super(db);
    this.#db = db;
  }

  override async getTables(options: DatabaseMetadataOptions = { withInternalKyselyTables: false }): Promise<TableMetadata[]> {
    const internal = options.withInternalKyselyTables ? sql`` : sql`and c.relname not in (${DEFAULT_MIGRATION_TABLE}, ${DEFAULT_MIGRATION_LOCK_TABLE})`;
    // auto_incrementing: what pg_get_serial_sequence finds — a sequence owned by the column, as
    // serial ('a') and identity ('i') columns own theirs — read from pg_depend by OID, once for all
    // columns (a subquery per column took ~6 times as long as Kysely's whole query).
    const { rows } = await sql<ColumnRow>`
      with owned as (
        select distinct d.refobjid, d.refobjsubid from pg_catalog.pg_depend d join pg_catalog.pg_class s on s.oid = d.objid
        where d.classid = 'pg_catalog.pg_class'::regclass and d.refclassid = 'pg_catalog.pg_class'::regclass
          and d.deptype in ('a', 'i') and s.relkind = 'S'
      )
      select a.attname as column, a.attnotnull as not_null, a.atthasdef as has_default, c.relname as table,
        c.relkind as table_type, ns.nspname as schema, typ.typname as type, dtns.nspname as type_schema,
        col_description(a.attrelid, a.attnum) as column_description,
        owned.refobjid is not null as auto_incrementing
      from pg_catalog.pg_attribute a
        join pg_catalog.pg_class c on a.attrelid = c.oid
        join pg_catalog.pg_namespace ns on c.relnamespace = ns.oid
        join pg_catalog.pg_type typ on a.atttypid = typ.oid
        join pg_catalog.pg_namespace dtns on typ.typnamespace = dtns.oid
        left join owned on owned.refobjid = c.oid and owned.refobjsubid = a.attnum
      where c.relkind in ('r', 'v', 'p') and ns.nspname !~ '^pg_' and ns.nspname <> 'information_schema'
        and ns.nspname <> 'crdb_internal' and has_schema_privilege(ns.oid, 'USAGE')
        and a.attnum >= 0 and not a.attisdropped ${internal}
      order by ns.nspname, c.relname, a.attnum`.execute(this.#db);
    return tablesOf(rows);
  }
}

/** Kysely's grouping of column rows into tables (its `#parseTableMetadata`, private there). */
function tablesOf(rows: readonly ColumnRow[]): TableMetadata[] {
  const tables: TableMetadata[] = [];
  const bySchema = new Map<string, Map<string, TableMetadata & { columns: TableMetadata['columns'][number][] }>>();
  for (const row of rows) {
    let schema = bySchema.get(row.schema);
    if (schema === undefined) bySchema.set(row.schema, (schema = new Map()));
    let table = schema.get(row.table);
    if (table === undefined) {
      table = Object.freeze({ columns: [], isView: row.table_type === 'v', name: row.table, schema: row.schema });
      schema.set(row.table, table);
      tables.push(table);
    }
    table.columns.push(
      Object.freeze({
        comment: row.column_description ?? undefined,
        dataType: row.type,
        dataTypeSchema: row.type_schema,
        hasDefaultValue: row.has_default,
        isAutoIncrementing: row.auto_incrementing,
        isNullable: !row.not_null,
        name: row.column,
      }),
    );
  }
  return tables;
}

/** Kysely's `PostgresDialect` with `OidPostgresIntrospector`. */
export class OidIntrospectionPostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new OidPostgresIntrospector(db);
  }
}
