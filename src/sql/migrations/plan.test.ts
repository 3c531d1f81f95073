/**
 * The recorded plan of a migration: its checksum (pinned: a shipped migration's must never change,
 * whatever Kysely version compiles it), the tables and indexes it creates, and the columns the
 * applied migrations leave when later ones alter tables. A raw-SQL statement counts like any other.
 */
import { CompiledQuery, sql, type Kysely, type Migration } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createIndex, createTable } from './guard.js';
import { MIGRATIONS } from './index.js';
import { expectedTables, planOf } from './plan.js';

describe('migration plans', () => {
  it('pins the checksum of every shipped migration (a change here refuses every database that applied it)', async () => {
    // If a Kysely upgrade changes one of these, adjust `checksumOf`'s canonical form until it is
    // back: never the pinned value. A new migration adds its line.
    const checksums = Object.fromEntries(await Promise.all(Object.keys(MIGRATIONS).map(async (name) => [name, (await planOf(name)).checksum])));
    expect(checksums).toEqual({
      '001_lc_kv': '4aa250093b19475a69f918ccafdd3d728827534771a3589eb0d6aab541e67899',
      '002_auth': 'e636488e03c9cc4dde79e240917b54c13b1e59d901cd89a91b2613fb708563e3',
      '003_refresh_binding': 'cbed2f5876053c0df627ef96a96c8c2df77d21de68249a94daa53b56a27c10f1',
      '004_lc_moved': '3892e21fc5275cab46c4e9b39fb60e246dc55cc70bf217cc61a27cc917d498f1',
    });
  });

  it('records the tables and indexes a migration creates, and not the guard\'s catalog reads', async () => {
    const plan = await planOf('001_lc_kv');
    expect(plan.tables).toEqual([{ name: 'lc_kv', columns: ['key', 'value', 'expires_at'] }]);
    expect(plan.indexes).toEqual([{ name: 'lc_kv_expires_at_idx', table: 'lc_kv', columns: ['expires_at'] }]);
    expect(plan.statements.map((s) => s.kind)).toEqual(['CreateTableNode', 'CreateIndexNode']);
    expect((await planOf('002_auth')).indexes.map((i) => i.name)).toContain('refresh_tokens_expires_at_idx');
  });

  it('gives a changed migration another checksum: a column, a type, a constraint', async () => {
    const variant = (extra: (b: ReturnType<Kysely<unknown>['schema']['createTable']>) => ReturnType<Kysely<unknown>['schema']['createTable']>) =>
      ({
        up: async (db: Kysely<unknown>) => {
          await createTable(db, extra(db.schema.createTable('t').ifNotExists().addColumn('id', 'text', (col) => col.primaryKey())));
        },
      }) satisfies Migration;
    const checksum = async (m: Migration) => (await planOf('m', { m })).checksum;
    const base = await checksum(variant((b) => b));
    expect(await checksum(variant((b) => b))).toBe(base);
    const others = [
      await checksum(variant((b) => b.addColumn('name', 'text'))),
      await checksum(variant((b) => b.addColumn('name', 'bigint'))),
      await checksum(variant((b) => b.addColumn('name', 'text', (col) => col.notNull()))),
    ];
    expect(new Set([base, ...others]).size).toBe(4);
  });

  it('gives an edited raw-SQL migration another checksum: sql`…`, sql.raw, CompiledQuery.raw', async () => {
    // Once left out of the checksum (only db.schema statements were kept), so an edited one passed as applied.
    const checksum = async (up: (db: Kysely<unknown>) => Promise<unknown>) => (await planOf('m', { m: { up: async (db) => void (await up(db)) } })).checksum;
    const forms = [
      (columns: string) => async (db: Kysely<unknown>) => sql`create table t (${sql.raw(columns)})`.execute(db),
      (columns: string) => async (db: Kysely<unknown>) => sql.raw(`create table t (${columns})`).execute(db),
      (columns: string) => async (db: Kysely<unknown>) => db.executeQuery(CompiledQuery.raw(`create table t (${columns})`)),
    ];
    for (const form of forms) {
      const base = await checksum(form('id text'));
      expect(await checksum(form('id text'))).toBe(base);
      expect(await checksum(form('id text, name text'))).not.toBe(base);
      expect(base).not.toBe(await checksum(async () => undefined));
    }
    // A parameter is part of the statement too (a data migration's value).
    const update = (value: string) => async (db: Kysely<unknown>) => sql`update t set state = ${value}`.execute(db);
    expect(await checksum(update('a'))).not.toBe(await checksum(update('b')));
    const compiled = (value: string) => async (db: Kysely<unknown>) => db.executeQuery(CompiledQuery.raw('update t set state = ?', [value]));
    expect(await checksum(compiled('a'))).toBe(await checksum(compiled('a')));
    expect(await checksum(compiled('a'))).not.toBe(await checksum(compiled('b')));
  });

  it('gives a changed sql`…` piece of a db.schema statement another checksum (already covered: the piece is in the node)', async () => {
    const checksum = async (piece: string) =>
      (await planOf('m', { m: { up: (db: Kysely<unknown>) => db.schema.createTable('t').addColumn('n', 'bigint', (col) => col.defaultTo(sql.raw(piece))).execute() } })).checksum;
    expect(await checksum('0')).toBe(await checksum('0'));
    expect(await checksum('0')).not.toBe(await checksum('1'));
  });

  it('follows later migrations that add, drop and rename columns, rename and drop tables', async () => {
    const migrations: Record<string, Migration> = {
      a: {
        up: async (db: Kysely<unknown>) => {
          await createTable(db, db.schema.createTable('t').ifNotExists().addColumn('id', 'text').addColumn('old', 'text').addColumn('gone', 'text'));
          await createTable(db, db.schema.createTable('u').ifNotExists().addColumn('id', 'text'));
          await createTable(db, db.schema.createTable('v').ifNotExists().addColumn('id', 'text'));
          await createIndex(db, 't', 'id');
        },
      },
      b: {
        up: async (db: Kysely<unknown>) => {
          await db.schema.alterTable('t').addColumn('added', 'text').execute();
          await db.schema.alterTable('t').dropColumn('gone').execute();
          await db.schema.alterTable('t').renameColumn('old', 'new').execute();
          await db.schema.alterTable('u').renameTo('w').execute();
          await db.schema.dropTable('v').execute();
        },
      },
    };
    const tables = Object.fromEntries(await expectedTables(['a', 'b'], migrations));
    expect(tables).toEqual({
      t: { columns: ['id', 'new', 'added'], migration: 'b' },
      w: { columns: ['id'], migration: 'b' },
    });
    expect(Object.fromEntries(await expectedTables(['a'], migrations))).toEqual({
      t: { columns: ['id', 'old', 'gone'], migration: 'a' },
      u: { columns: ['id'], migration: 'a' },
      v: { columns: ['id'], migration: 'a' },
    });
  });
});
