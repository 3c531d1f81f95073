/**
 * `livecomponents move-data`, the relational half: every table this release's migrations create
 * (users, access and refresh tokens, password resets, and whatever a later migration adds), but
 * `lc_kv` (the key-value rows, which go to Redis), `lc_moved` (this file's marks) and the migration bookkeeping, copied from the
 * SQLite file into PostgreSQL row for row — ids, hashes and times as they are — in ONE transaction:
 * a failure anywhere (a constraint the target enforces, a lost connection) leaves the target as it
 * was. A target that holds rows already is refused (no merge), unless they are exactly the rows
 * being copied: then an earlier run copied them, and the tables are left as they are (the run goes
 * on with the key-value data).
 */
import type BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { MIGRATIONS } from '../sql/migrations/index.js';
import { expectedTables } from '../sql/migrations/plan.js';
import { MOVED_TABLE } from '../sql/moved-mark.js';

/** The key-value table: moved to Redis, not to PostgreSQL (`./move-data-kv.ts`). */
const KV_TABLE = 'lc_kv';
/** The source's own marks of a move (`./move-data-mark.ts`): about this file, never copied (the target keeps its table empty). */
const NOT_COPIED = new Set([KV_TABLE, MOVED_TABLE]);

export interface SourceTable {
  readonly name: string;
  readonly columns: readonly string[];
  /** In insertion order: a row referring to another row of its table (a refresh token's parent) after it. */
  readonly rows: readonly Record<string, unknown>[];
}

/**
 * The relational tables of a source migrated to this release, with their rows, in the order the
 * migrations create them (a table referred to before the tables that refer to it).
 */
export async function readSourceTables(native: BetterSqlite3.Database): Promise<SourceTable[]> {
  const tables = await expectedTables(Object.keys(MIGRATIONS).sort());
  const result: SourceTable[] = [];
  for (const [name, { columns }] of tables) {
    if (NOT_COPIED.has(name)) continue;
    const list = columns.map((c) => `"${c}"`).join(', ');
    const rows = native.prepare(`SELECT ${list} FROM "${name}" ORDER BY rowid`).all() as Record<string, unknown>[];
    result.push({ name, columns, rows: parentsFirst(native, name, rows) });
  }
  return result;
}

/** `rows` with each row after the row of the same table its foreign key names (`parent_id`). */
function parentsFirst(native: BetterSqlite3.Database, table: string, rows: Record<string, unknown>[]): Record<string, unknown>[] {
  const selfKeys = (native.pragma(`foreign_key_list("${table}")`) as { table: string; from: string; to: string }[]).filter((fk) => fk.table === table);
  let ordered = rows;
  for (const fk of selfKeys) {
    const byTarget = new Map(ordered.map((row) => [row[fk.to], row]));
    const placed = new Set<Record<string, unknown>>();
    const out: Record<string, unknown>[] = [];
    for (const row of ordered) {
      // The chain of parents not yet placed, oldest first (iterative: a long rotation chain is no recursion).
      const chain: Record<string, unknown>[] = [];
      for (let r: Record<string, unknown> | undefined = row; r !== undefined && !placed.has(r) && !chain.includes(r); r = byTarget.get(r[fk.from])) chain.push(r);
      for (const r of chain.reverse()) {
        placed.add(r);
        out.push(r);
      }
    }
    ordered = out;
  }
  return ordered;
}

/** What the target's tables held before the copy. */
export type TargetState =
  | { readonly state: 'empty' }
  /** Exactly the source's rows: an earlier run copied them. */
  | { readonly state: 'same' }
  /** Other rows: refused. */
  | { readonly state: 'occupied'; readonly counts: Readonly<Record<string, number>> };

/** Rows per INSERT (PostgreSQL takes at most 65,535 parameters a statement). */
const MAX_PARAMETERS = 30_000;

/**
 * Copies `tables` into `target` (migrated to this release) in one transaction, unless the target's
 * tables hold rows already. The tables are locked first (SHARE ROW EXCLUSIVE: reads go on, no
 * other writer gets in between the check and the commit). `dryRun`: checks, writes nothing.
 * `beforeCommit` runs once every row is inserted, before the COMMIT: the source's mark is written
 * there, so a source that cannot take it rolls the copy back (a throw) instead of being left unmarked.
 */
export async function copyTables<DB>(target: Kysely<DB>, tables: readonly SourceTable[], dryRun: boolean, beforeCommit: () => void = () => undefined): Promise<TargetState> {
  return target.transaction().execute(async (trx) => {
    if (!dryRun) await sql`lock table ${sql.join(tables.map((t) => sql.table(t.name)))} in share row exclusive mode`.execute(trx);
    const state = await targetState(trx, tables);
    if (state.state !== 'empty' || dryRun) return state;
    for (const table of tables) {
      const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / table.columns.length));
      for (let i = 0; i < table.rows.length; i += perStatement) {
        const rows = table.rows.slice(i, i + perStatement);
        const values = sql.join(rows.map((row) => sql`(${sql.join(table.columns.map((c) => row[c] ?? null))})`));
        await sql`insert into ${sql.table(table.name)} (${sql.join(table.columns.map((c) => sql.ref(c)))}) values ${values}`.execute(trx);
      }
    }
    beforeCommit();
    return state;
  });
}

async function targetState<DB>(db: Kysely<DB>, tables: readonly SourceTable[]): Promise<TargetState> {
  const counts: Record<string, number> = {};
  let any = false;
  for (const table of tables) {
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table.name)}`.execute(db);
    counts[table.name] = Number(rows[0]?.n ?? 0);
    if (counts[table.name] !== 0) any = true;
  }
  if (!any) return { state: 'empty' };
  for (const table of tables) {
    if (counts[table.name] !== table.rows.length) return { state: 'occupied', counts };
    const { rows } = await sql<Record<string, unknown>>`select ${sql.join(table.columns.map((c) => sql.ref(c)))} from ${sql.table(table.name)}`.execute(db);
    const held = new Set(rows.map((row) => rowText(row, table.columns)));
    if (!table.rows.every((row) => held.has(rowText(row, table.columns)))) return { state: 'occupied', counts };
  }
  return { state: 'same' };
}

/** A row as comparable text: its values in column order (numbers, strings and nulls in both engines). */
function rowText(row: Record<string, unknown>, columns: readonly string[]): string {
  return JSON.stringify(columns.map((c) => row[c] ?? null));
}
