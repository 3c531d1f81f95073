/**
 * `refresh_tokens.binding_hash`: what binds a refresh token to the browser it was issued to
 * (docs/auth.md, "A planted refresh cookie"). The SHA-256 of the value of the companion cookie
 * `__Host-lc_refresh_binding_token` set with the token; `'unbound'` for a token issued where no such
 * cookie can be set (plain HTTP, development); NULL only for a row written before this migration,
 * which is accepted once without a companion and bound at its rotation, so that a deploy signs no one
 * out. No code after this migration writes NULL.
 *
 * Nullable and without a default, so that rows of a release before it (still running during a rolling
 * deploy) insert as before and read as such a row. Re-runnable like `001_lc_kv` and `002_auth`: on
 * SQLite two processes starting on one new file run it at once (Kysely's migrator takes no lock
 * there), and the second one's `add column` finds the column added; that is not an error.
 */
import type { Kysely } from 'kysely';
import { tableShortfall } from './guard.js';

const TABLE = 'refresh_tokens';
const COLUMN = 'binding_hash';

/** Whether `refresh_tokens` has the column already (never, to the planning recorder: it reads no catalog). */
const added = async (db: Kysely<unknown>): Promise<boolean> => (await tableShortfall(db, TABLE, [COLUMN])) === undefined;

export async function up(db: Kysely<unknown>): Promise<void> {
  if (await added(db)) return;
  try {
    await db.schema.alterTable(TABLE).addColumn(COLUMN, 'text').execute();
  } catch (error) {
    // Another process added it meanwhile (SQLite only: PostgreSQL migrates under a lock, and its
    // aborted transaction could not even be asked).
    if (!(await added(db).catch(() => false))) throw error;
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (await added(db)) await db.schema.alterTable(TABLE).dropColumn(COLUMN).execute();
}
