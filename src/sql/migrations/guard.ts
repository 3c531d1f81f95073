/**
 * `create table if not exists` and `create index if not exists` that refuse to adopt a table or
 * index they did not make. The migrations stay re-runnable (an interrupted SQLite run, two
 * processes migrating one new SQLite file at once): an existing table with exactly the columns the
 * migration creates is taken as the migration's own. Any other table of that name (another tool's
 * `users`, say) fails the migration, naming the table and its missing and unexpected columns,
 * instead of being skipped silently and failing every query later. Not a migration itself: the
 * list in `./index.ts` is what runs.
 */
import { PostgresAdapter, sql, SqliteAdapter, type CreateTableBuilder, type Kysely } from 'kysely';

/**
 * The adapter of the recorder that plans a migration without a database (`./plan.ts`). Under it
 * the guard reads no catalog (there is none: nothing exists yet), so the recorder keeps every
 * statement it is sent as the migration's own, raw SQL included, and the guard's reads stay out
 * of the checksum.
 */
export class PlanningAdapter extends SqliteAdapter {}

/** The advice every conflict ends with. */
const ELSEWHERE =
  'the database holds an object of that name that LiveComponents did not create: point DATABASE_URL at a database of its own (on PostgreSQL a schema of its own, through search_path, also does)';

/**
 * Runs `builder` (a `createTable(...).ifNotExists()`) unless its table already exists with exactly
 * its columns.
 *
 * @throws Error naming the table when a table (or view, or index) of that name has other columns
 */
export async function createTable(db: Kysely<unknown>, builder: CreateTableBuilder<string, string>): Promise<void> {
  const node = builder.toOperationNode();
  const problem = await tableConflict(
    db,
    node.table.table.identifier.name,
    node.columns.map((c) => c.column.column.name),
  );
  if (problem !== undefined) throw new Error(problem);
  await builder.execute();
}

/**
 * `<table>_<column>_idx` on `table(column)`, unless that index already exists there.
 *
 * @throws Error naming the index when a relation of that name is something else
 */
export async function createIndex(db: Kysely<unknown>, table: string, column: string): Promise<void> {
  const name = `${table}_${column}_idx`;
  const problem = await indexConflict(db, name, table, [column]);
  if (problem !== undefined) throw new Error(problem);
  await db.schema.createIndex(name).ifNotExists().on(table).column(column).execute();
}

/**
 * Why a table named `table` with `columns` cannot be created here: undefined when no relation of
 * that name exists, or one does with exactly those columns (made by an earlier, interrupted run).
 * Read-only; `doctor --connect` asks it too.
 */
export async function tableConflict(db: Kysely<unknown>, table: string, columns: readonly string[]): Promise<string | undefined> {
  const found = await describeRelation(db, table);
  if (found === undefined) return undefined;
  if (found.kind !== 'table') return `"${table}" already exists as ${found.kind}, not a table: ${ELSEWHERE}`;
  const missing = columns.filter((c) => !found.columns.includes(c));
  let unexpected = found.columns.filter((c) => !columns.includes(c));
  // Columns a later migration of ours adds (`003_refresh_binding`): the table is still ours, made by
  // a run whose bookkeeping was lost after that migration too.
  if (unexpected.length > 0) {
    const later = await addedLater(table);
    unexpected = unexpected.filter((c) => !later.includes(c));
  }
  if (missing.length === 0 && unexpected.length === 0) return undefined;
  const differences = [
    missing.length > 0 ? `missing ${missing.join(', ')}` : '',
    unexpected.length > 0 ? `unexpected ${unexpected.join(', ')}` : '',
  ].filter(Boolean);
  return `table "${table}" already exists with other columns (${differences.join('; ')}): ${ELSEWHERE}`;
}

/**
 * The columns this release's migrations give `table` after they create it (alterations). Imported
 * when needed: `./plan.ts` imports this module.
 */
async function addedLater(table: string): Promise<string[]> {
  const [{ MIGRATIONS }, { expectedTables, planOf }] = await Promise.all([import('./index.js'), import('./plan.js')]);
  const names = Object.keys(MIGRATIONS).sort();
  const created = new Set<string>();
  for (const name of names) for (const t of (await planOf(name)).tables) if (t.name === table) t.columns.forEach((c) => created.add(c));
  return ((await expectedTables(names)).get(table)?.columns ?? []).filter((c) => !created.has(c));
}

/**
 * Why index `name` on `table(columns)` cannot be created here: undefined when no relation of that
 * name exists, or that very index does. Read-only; `doctor --connect` asks it too.
 */
export async function indexConflict(db: Kysely<unknown>, name: string, table: string, columns: readonly string[]): Promise<string | undefined> {
  const found = await describeRelation(db, name);
  if (found === undefined) return undefined;
  if (found.kind === 'index' && found.table === table && found.columns.join() === columns.join()) return undefined;
  const what = found.kind === 'index' ? `an index on ${found.table ?? '?'}(${found.columns.join(', ')})` : found.kind;
  return `"${name}" already exists as ${what}, not an index on ${table}(${columns.join(', ')}): ${ELSEWHERE}`;
}

/**
 * What table `table` lacks of the `columns` applied migrations gave it ("table "users" lacks
 * column name"), or undefined when it has them all. Columns it has beyond those are let be: one
 * added by hand (an audit column, say) breaks our queries only if it is NOT NULL without a default
 * (`unfilledColumns`), and refusing to start over every such column would be stricter than the
 * failure it prevents. Read-only.
 */
export async function tableShortfall(db: Kysely<unknown>, table: string, columns: readonly string[]): Promise<string | undefined> {
  const found = await describeRelation(db, table);
  if (found === undefined) return `table "${table}" does not exist`;
  if (found.kind !== 'table') return `"${table}" is ${found.kind === 'index' ? 'an' : 'a'} ${found.kind}, not a table`;
  const missing = columns.filter((c) => !found.columns.includes(c));
  if (missing.length === 0) return undefined;
  return `table "${table}" lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
}

/**
 * The columns of table `table` beyond the `columns` applied migrations gave it that are NOT NULL
 * without a default: our inserts never name them, so every insert into the table fails on them
 * (a column added by hand, another app's table of that name). A nullable one, one with a default,
 * an identity, a generated column and SQLite's INTEGER PRIMARY KEY (the rowid) fill themselves and
 * are let be, as are all of a PostgreSQL table with an enabled BEFORE INSERT row trigger, which may
 * fill them (SQLite's triggers cannot set a new row's values). Empty when there is no such table. Read-only.
 */
export async function unfilledColumns(db: Kysely<unknown>, table: string, columns: readonly string[]): Promise<string[]> {
  const found = await describeRelation(db, table);
  if (found?.kind !== 'table') return [];
  return found.required.filter((c) => !columns.includes(c));
}

interface Relation {
  readonly kind: 'table' | 'index' | 'view' | 'other relation';
  /** A table's columns, or an index's. */
  readonly columns: string[];
  /** A table's columns that an insert must name: NOT NULL, with nothing to fill them otherwise. */
  readonly required: string[];
  /** An index's table. */
  readonly table?: string;
}

/** The relation named `name` in the schema the migrations write to (PostgreSQL: `current_schema()`). */
async function describeRelation(db: Kysely<unknown>, name: string): Promise<Relation | undefined> {
  const { adapter } = db.getExecutor();
  if (adapter instanceof PlanningAdapter) return undefined;
  if (adapter instanceof PostgresAdapter) {
    const { rows } = await sql<{ relkind: string; attname: string | null; required: boolean | null; indtable: string | null }>`
      select c.relkind, a.attname, a.attnotnull and not a.atthasdef and a.attidentity = '' and not exists (
          -- A BEFORE INSERT row trigger may fill the column (tgtype bits: 1 row, 2 before, 4 insert).
          select 1 from pg_trigger tg where tg.tgrelid = c.oid and not tg.tgisinternal and tg.tgenabled <> 'D' and tg.tgtype & 7 = 7
        ) as required, t.relname as indtable
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
      left join pg_index i on i.indexrelid = c.oid
      left join pg_class t on t.oid = i.indrelid
      where n.nspname = current_schema() and c.relname = ${name}
      order by a.attnum`.execute(db);
    const first = rows[0];
    if (first === undefined) return undefined;
    const kind = { r: 'table', p: 'table', i: 'index', v: 'view', m: 'view' }[first.relkind] ?? 'other relation';
    const columns = rows.flatMap((r) => (r.attname === null ? [] : [r.attname]));
    // An index's attributes are NOT NULL in pg_attribute too; only a table's matter.
    const required = kind === 'table' ? rows.flatMap((r) => (r.attname !== null && r.required === true ? [r.attname] : [])) : [];
    return { kind: kind as Relation['kind'], columns, required, table: first.indtable ?? undefined };
  }
  const { rows } = await sql<{ type: string; tbl_name: string }>`
    select type, tbl_name from sqlite_master where name = ${name}`.execute(db);
  const first = rows[0];
  if (first === undefined) return undefined;
  if (first.type === 'table') {
    // Generated columns are not listed (table_info leaves them out); they take no value anyway.
    const info = await sql<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>`
      select name, type, "notnull", dflt_value, pk from pragma_table_info(${name}) order by cid`.execute(db);
    // A WITHOUT ROWID table has no rowid, and its primary key is NOT NULL whether declared or not
    // (table_info says notnull 0): an INTEGER PRIMARY KEY there takes no value by itself.
    const withoutRowid = (await sql<{ wr: number }>`select wr from pragma_table_list(${name}) where schema = 'main'`.execute(db)).rows[0]?.wr === 1;
    // Else a lone INTEGER PRIMARY KEY is the rowid: SQLite gives it a value when the insert does not.
    const rowid =
      !withoutRowid && info.rows.filter((r) => r.pk > 0).length === 1 ? info.rows.find((r) => r.pk > 0 && r.type.toUpperCase() === 'INTEGER')?.name : undefined;
    const required = info.rows.filter((r) => (r.notnull === 1 || (withoutRowid && r.pk > 0)) && r.dflt_value === null && r.name !== rowid).map((r) => r.name);
    return { kind: 'table', columns: info.rows.map((r) => r.name), required };
  }
  if (first.type === 'index') {
    const info = await sql<{ name: string }>`select name from pragma_index_info(${name}) order by seqno`.execute(db);
    return { kind: 'index', columns: info.rows.map((r) => r.name), required: [], table: first.tbl_name };
  }
  return { kind: first.type === 'view' ? 'view' : 'other relation', columns: [], required: [] };
}
