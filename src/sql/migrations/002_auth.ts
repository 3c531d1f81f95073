/**
 * The auth schema (PROTOCOL §4): users, access tokens, rotating refresh tokens grouped in families,
 * single-use password resets. Tokens are stored only as hashes. Deleting a user deletes its tokens
 * and resets. Times are BIGINT ms since the epoch. Idempotent, like `001_lc_kv`,
 * and like it refuses to adopt another tool's table (`users` is a common name). Indexes are named
 * `<table>_<column>_idx`; foreign keys are indexed too (cascades and per-user revocation scan them).
 */
import type { Kysely } from 'kysely';
import { createIndex, createTable } from './guard.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  await createTable(
    db,
    db.schema
      .createTable('users')
      .ifNotExists()
      .addColumn('id', 'text', (col) => col.primaryKey().notNull())
      .addColumn('email', 'text', (col) => col.notNull().unique())
      .addColumn('password_hash', 'text', (col) => col.notNull())
      .addColumn('name', 'text')
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('updated_at', 'bigint', (col) => col.notNull())
  );

  await createTable(
    db,
    db.schema
      .createTable('access_tokens')
      .ifNotExists()
      .addColumn('id', 'text', (col) => col.primaryKey().notNull())
      .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
      .addColumn('token_hash', 'text', (col) => col.notNull().unique())
      .addColumn('family_id', 'text', (col) => col.notNull())
      .addColumn('expires_at', 'bigint', (col) => col.notNull())
      .addColumn('revoked_at', 'bigint')
      .addColumn('created_at', 'bigint', (col) => col.notNull())
  );
  await createIndex(db, 'access_tokens', 'user_id');
  await createIndex(db, 'access_tokens', 'family_id');
  await createIndex(db, 'access_tokens', 'expires_at');

  await createTable(
    db,
    db.schema
      .createTable('refresh_tokens')
      .ifNotExists()
      .addColumn('id', 'text', (col) => col.primaryKey().notNull())
      .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
      .addColumn('family_id', 'text', (col) => col.notNull())
      .addColumn('token_hash', 'text', (col) => col.notNull().unique())
      .addColumn('parent_id', 'text', (col) => col.references('refresh_tokens.id').onDelete('set null'))
      .addColumn('family_expires_at', 'bigint', (col) => col.notNull())
      .addColumn('expires_at', 'bigint', (col) => col.notNull())
      .addColumn('used_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .addColumn('created_at', 'bigint', (col) => col.notNull())
  );
  await createIndex(db, 'refresh_tokens', 'user_id');
  await createIndex(db, 'refresh_tokens', 'family_id');
  await createIndex(db, 'refresh_tokens', 'parent_id');
  await createIndex(db, 'refresh_tokens', 'expires_at');

  await createTable(
    db,
    db.schema
      .createTable('password_resets')
      .ifNotExists()
      .addColumn('token_hash', 'text', (col) => col.primaryKey().notNull())
      .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
      .addColumn('expires_at', 'bigint', (col) => col.notNull())
      .addColumn('used_at', 'bigint')
      .addColumn('created_at', 'bigint', (col) => col.notNull())
  );
  await createIndex(db, 'password_resets', 'user_id');
  await createIndex(db, 'password_resets', 'expires_at');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['password_resets', 'refresh_tokens', 'access_tokens', 'users']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
