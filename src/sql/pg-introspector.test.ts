/**
 * `OidPostgresIntrospector` (pg-introspector.ts): the same tables as Kysely's introspector, and no
 * error for a schema another session drops while the catalog is read — which failed start-up's
 * migrations (`schema "…" does not exist`) whenever another schema of the database went away at that
 * moment. A REPEATABLE READ transaction makes the moment deterministic: its snapshot still lists a
 * schema dropped after its first statement, while look-ups by name see the current catalog.
 */
import { Kysely, PostgresDialect, PostgresIntrospector, sql, type TableMetadata } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from './database.js';
import { OidPostgresIntrospector } from './pg-introspector.js';
import { createTestSchema, postgresAvailability, TEST_POSTGRES_URL, warnSkipped } from './test-postgres.js';

const pgState = await postgresAvailability();
if (pgState.state === 'skip') warnSkipped('PostgreSQL introspection by OID', pgState.reason);

describe.skipIf(pgState.state === 'skip')('OidPostgresIntrospector', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let db: Kysely<unknown>;
  beforeAll(async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    schema = await createTestSchema('introspect');
    db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: schema.url, max: 2 }) }) });
    await sql`create type mood as enum ('ok', 'meh')`.execute(db);
    await sql`create table plain (id serial primary key, name text not null default 'x', feeling mood, big bigint generated always as identity, dropped int)`.execute(db);
    await sql`alter table plain drop column dropped`.execute(db);
    await sql`comment on column plain.name is 'the name'`.execute(db);
    await sql`create table parted (at date not null, n int) partition by range (at)`.execute(db);
    await sql`create view plain_names as select id, name from plain`.execute(db);
    await sql`create sequence loose_seq`.execute(db);
    await sql`create table defaults (n int default nextval('loose_seq'))`.execute(db);
    await sql`create table kysely_migration (name text)`.execute(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await schema?.drop();
  });

  /** Only this suite's schema: other suites' schemas come and go meanwhile. */
  const ours = (tables: TableMetadata[]) => tables.filter((t) => t.schema === schema.schema);

  it("lists the tables, views, columns and flags Kysely's introspector lists, with and without its internal tables", async () => {
    for (const options of [undefined, { withInternalKyselyTables: true }, { withInternalKyselyTables: false }]) {
      const theirs = ours(await new PostgresIntrospector(db).getTables(options));
      const mine = ours(await new OidPostgresIntrospector(db).getTables(options));
      expect(mine).toEqual(theirs);
      expect(mine.map((t) => t.name)).toEqual(options?.withInternalKyselyTables ? ['defaults', 'kysely_migration', 'parted', 'plain', 'plain_names'] : ['defaults', 'parted', 'plain', 'plain_names']);
    }
    const plain = ours(await new OidPostgresIntrospector(db).getTables()).find((t) => t.name === 'plain');
    expect(plain?.columns.map((c) => [c.name, c.isAutoIncrementing, c.hasDefaultValue, c.isNullable, c.dataType, c.comment ?? null])).toEqual([
      ['id', true, true, false, 'int4', null],
      ['name', false, true, false, 'text', 'the name'],
      ['feeling', false, false, true, 'mood', null],
      ['big', true, false, false, 'int8', null],
    ]);
  });

  /** `introspect` on a snapshot that still lists a schema dropped just before: its tables, or its error's message. */
  async function duringDrop(introspect: (trx: Kysely<unknown>) => Promise<TableMetadata[]>): Promise<{ doomed: string; result: TableMetadata[] | string }> {
    const doomed = await createTestSchema('introspect_doomed');
    const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await admin.connect();
    try {
      await admin.query(`create table "${doomed.schema}".t (id serial primary key)`);
      const result = await db
        .transaction()
        .setIsolationLevel('repeatable read')
        .execute(async (trx) => {
          await sql`select 1`.execute(trx); // takes the snapshot, which lists the doomed schema
          await doomed.drop();
          return introspect(trx);
        })
        .catch((error: Error) => error.message);
      return { doomed: doomed.schema, result };
    } finally {
      await doomed.drop();
      await admin.end();
    }
  }

  it("does not fail on a schema another session drops while the catalog is read, where Kysely's does", async () => {
    const kysely = await duringDrop((trx) => new PostgresIntrospector(trx).getTables());
    expect(kysely.result).toBe(`schema "${kysely.doomed}" does not exist`);
    const mine = await duringDrop((trx) => new OidPostgresIntrospector(trx).getTables());
    expect(typeof mine.result).not.toBe('string');
    const tables = mine.result as TableMetadata[];
    expect(tables.filter((t) => t.schema === mine.doomed)).toEqual([]);
    expect(ours(tables).map((t) => t.name)).toEqual(['defaults', 'parted', 'plain', 'plain_names']);
  });

  it("is the introspector of createDatabase's PostgreSQL connections (the migrator's and migrate.ts's look-ups)", async () => {
    const app = createDatabase(schema.url);
    try {
      expect(app.introspection).toBeInstanceOf(OidPostgresIntrospector);
    } finally {
      await app.destroy();
    }
  });
});
