/**
 * The key-value table of the SQLite store: sessions, sealed component state, idempotency records
 * and rate-limit state, each row with its expiry (ms since the epoch). The index serves the sweep.
 * Text primary keys are declared NOT NULL: SQLite would otherwise accept NULL keys in a rowid table.
 * Idempotent (`if not exists`), so a run interrupted on SQLite (no transactional DDL in Kysely's
 * SQLite migrator) is completed by the next one. An existing table or index it did not make (other
 * columns, another tool's) fails the migration instead of being adopted (`./guard.ts`).
 */
import type { Kysely } from 'kysely';
import { createIndex, createTable } from './guard.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  await createTable(
    db,
    db.schema
      .createTable('lc_kv')
      .ifNotExists()
      .addColumn('key', 'text', (col) => col.primaryKey().notNull())
      .addColumn('value', 'text', (col) => col.notNull())
      .addColumn('expires_at', 'bigint', (col) => col.notNull())
  );
  await createIndex(db, 'lc_kv', 'expires_at');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('lc_kv').ifExists().execute();
}
