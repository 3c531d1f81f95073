/**
 * What a migration does, learnt without a database: its `up` runs against a recorder that executes
 * nothing, and the statements it sends are kept, `db.schema` ones and raw SQL alike. From them: the
 * tables and indexes it creates with `db.schema` (`doctor --connect` compares them with the database
 * before they are made), the columns the applied migrations leave (start-up and `migrate` compare
 * them after; a table made by raw SQL is not known to these), and a checksum of the migration, of
 * every statement (recorded when it is applied, so a release whose copy of it differs is refused).
 * Not a migration itself: the list in `./index.ts` is what runs.
 */
import { createHash } from 'node:crypto';
import {
  AlterTableNode,
  ColumnNode,
  CreateIndexNode,
  CreateTableNode,
  DropTableNode,
  DummyDriver,
  Kysely,
  RawNode,
  SelectQueryNode,
  SqliteIntrospector,
  SqliteQueryCompiler,
  ValueNode,
  type CompiledQuery,
  type DatabaseConnection,
  type Migration,
  type OperationNode,
  type QueryResult,
} from 'kysely';
import { PlanningAdapter } from './guard.js';
import { MIGRATIONS } from './index.js';

/** What one migration does, in the order it does it. */
export interface MigrationPlan {
  /** The tables it creates, with their columns. */
  readonly tables: readonly { readonly name: string; readonly columns: readonly string[] }[];
  /** The indexes it creates. */
  readonly indexes: readonly { readonly name: string; readonly table: string; readonly columns: readonly string[] }[];
  /** Its statements (schema, raw SQL, data changes), as Kysely built them. */
  readonly statements: readonly OperationNode[];
  /** sha256 (hex) of `statements` in canonical form: see `checksumOf`. */
  readonly checksum: string;
}

const plans = new Map<string, Promise<MigrationPlan>>();

/** The plan of migration `name` of `migrations`; of `MIGRATIONS`' computed once per process. */
export function planOf(name: string, migrations: Readonly<Record<string, Migration>> = MIGRATIONS): Promise<MigrationPlan> {
  if (migrations !== MIGRATIONS) return record(name, migrations).then(describe);
  let plan = plans.get(name);
  if (plan === undefined) {
    plan = record(name, migrations).then(describe);
    plans.set(name, plan);
  }
  return plan;
}

/** A table as the applied migrations leave it: its columns, and the last migration that shaped it. */
export interface ExpectedTable {
  readonly columns: readonly string[];
  readonly migration: string;
}

/**
 * The tables once `names` (applied migrations, in order) have run: created tables with their
 * columns, then columns added, dropped or renamed and tables renamed or dropped by later ones.
 */
export async function expectedTables(
  names: readonly string[],
  migrations: Readonly<Record<string, Migration>> = MIGRATIONS,
): Promise<Map<string, ExpectedTable>> {
  const tables = new Map<string, ExpectedTable>();
  for (const migration of names) {
    for (const node of (await planOf(migration, migrations)).statements) {
      if (CreateTableNode.is(node)) {
        tables.set(node.table.table.identifier.name, { columns: node.columns.map((c) => c.column.column.name), migration });
      } else if (DropTableNode.is(node)) {
        tables.delete(node.table.table.identifier.name);
      } else if (AlterTableNode.is(node)) {
        alterTable(tables, node, migration);
      }
    }
  }
  return tables;
}

function alterTable(tables: Map<string, ExpectedTable>, node: AlterTableNode, migration: string): void {
  const table = node.table.table.identifier.name;
  let columns = tables.get(table)?.columns;
  if (columns === undefined) return;
  for (const change of node.columnAlterations ?? []) {
    if (change.kind === 'AddColumnNode') columns = [...columns, change.column.column.column.name];
    else if (change.kind === 'DropColumnNode') columns = columns.filter((c) => c !== change.column.column.name);
    else if (change.kind === 'RenameColumnNode') columns = columns.map((c) => (c === change.column.column.name ? change.renameTo.column.name : c));
  }
  if (node.renameTo !== undefined) tables.delete(table);
  tables.set(node.renameTo?.table.identifier.name ?? table, { columns, migration });
}

/**
 * sha256 of the statements as canonical JSON: Kysely's operation nodes (the tree our builder calls
 * make, no dialect in it) with keys sorted and absent, false and empty values left out. Not the
 * compiled SQL: that is the compiler's text (quoting, spacing, keyword order, one per dialect), and
 * a Kysely upgrade that changed it would make every database look changed and refuse to start.
 * The nodes hold only what the migration asked for; a field Kysely adds is absent unless used. The
 * checksums of the shipped migrations are pinned by a test (`plan.test.ts`): a Kysely upgrade that
 * still changes one fails there, before a release, and this function is adjusted to keep them.
 */
function checksumOf(statements: readonly OperationNode[]): string {
  return createHash('sha256').update(JSON.stringify(statements.map(canonical))).digest('hex');
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value)
    .filter(([, v]) => v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([k, v]) => [k, canonical(v)]));
}

/**
 * A driver that runs nothing and keeps the statements it is sent, as Kysely compiled them for it:
 * `db.schema` statements, and raw SQL (`sql\`…\``, `sql.raw`, `CompiledQuery.raw`) just the same,
 * so editing a raw statement changes the checksum too. Selects built with Kysely are left out: they
 * change nothing, and the introspection's are Kysely's own. The guard reads no catalog here
 * (`PlanningAdapter`), so its reads are not taken for the migration's.
 */
class RecordingDriver extends DummyDriver {
  constructor(private readonly statements: OperationNode[]) {
    super();
  }

  override acquireConnection(): Promise<DatabaseConnection> {
    const statements = this.statements;
    return Promise.resolve({
      executeQuery: <R>(query: CompiledQuery): Promise<QueryResult<R>> => {
        if (!SelectQueryNode.is(query.query)) statements.push(withParameters(query));
        return Promise.resolve({ rows: [] });
      },
      streamQuery: () => {
        throw new Error('a migration being planned cannot stream');
      },
    });
  }
}

/**
 * The statement's node; for `CompiledQuery.raw(text, parameters)`, whose node holds the text only,
 * with the parameters put in it (a node built by Kysely, `sql\`…\`` too, holds its own values).
 */
function withParameters(query: CompiledQuery): OperationNode {
  const node = query.query;
  if (!RawNode.is(node) || node.parameters.length > 0 || query.parameters.length === 0) return node;
  return RawNode.create(node.sqlFragments, query.parameters.map((value) => ValueNode.create(value)));
}

async function record(name: string, migrations: Readonly<Record<string, Migration>>): Promise<OperationNode[]> {
  const migration = migrations[name];
  if (migration === undefined) throw new Error(`no migration named ${name}`);
  const statements: OperationNode[] = [];
  const recorder = new Kysely<unknown>({
    dialect: {
      createAdapter: () => new PlanningAdapter(),
      createDriver: () => new RecordingDriver(statements),
      createIntrospector: (db) => new SqliteIntrospector(db),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
  try {
    await migration.up(recorder);
  } finally {
    await recorder.destroy();
  }
  return statements;
}

function describe(statements: OperationNode[]): MigrationPlan {
  const tables: { name: string; columns: string[] }[] = [];
  const indexes: { name: string; table: string; columns: string[] }[] = [];
  for (const node of statements) {
    if (CreateTableNode.is(node)) {
      tables.push({ name: node.table.table.identifier.name, columns: node.columns.map((c) => c.column.column.name) });
    } else if (CreateIndexNode.is(node) && node.table !== undefined) {
      const columns = (node.columns ?? []).map((c) => (ColumnNode.is(c) ? c.column.name : '?'));
      indexes.push({ name: node.name.name, table: node.table.table.identifier.name, columns });
    }
  }
  return { tables, indexes, statements, checksum: checksumOf(statements) };
}
