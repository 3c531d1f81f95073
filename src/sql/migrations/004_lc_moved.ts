/**
 * `lc_moved`: one row per part of an embedded SQLite file that `livecomponents move-data` copied
 * elsewhere — `relational` (users, tokens, password resets → PostgreSQL) or `key-value` (sessions,
 * state, idempotency records, rate limits → Redis) — with where to (a description without
 * credentials) and when (ISO 8601). Start-up, `revoke-sessions`, `move-data` and `doctor` refuse a
 * file whose part they would use is marked: served again, it would bring back sessions signed out,
 * refresh tokens revoked and passwords changed since on the new stores (src/sql/moved-mark.ts).
 *
 * A table, not a pragma or a side file, so that it is part of the schema the checksum machinery
 * follows, travels with the file (a copy, a backup), and is cleared only by a stated step
 * (`move-data --unmark`). PostgreSQL gets it too (one set of migrations): it stays empty there, as
 * move-data never copies it. Idempotent like `001_lc_kv` (`if not exists`, the guard refusing a
 * table of that name it did not make).
 */
import type { Kysely } from 'kysely';
import { createTable } from './guard.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  await createTable(
    db,
    db.schema
      .createTable('lc_moved')
      .ifNotExists()
      .addColumn('part', 'text', (col) => col.primaryKey().notNull())
      .addColumn('target', 'text', (col) => col.notNull())
      .addColumn('moved_at', 'text', (col) => col.notNull()),
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('lc_moved').ifExists().execute();
}
