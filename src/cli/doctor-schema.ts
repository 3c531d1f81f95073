/** The schema check `doctor --connect` makes of the database, on PostgreSQL (doctor-postgres.ts) and SQLite (doctor-sqlite.ts) alike. */
import type { Kysely } from 'kysely';
import { changedMigrations, migrationConflicts, newerMigrations, newerReleaseMessage, pendingMigrations, unwritableTables } from '../sql/migrate.js';

/** What one check found: its problems, and the line when there is none. */
export interface Outcome {
  readonly problems: string[];
  readonly summary: string;
}

/**
 * What the schema lacks, in words; a failure when a newer release migrated the database, when an
 * applied migration differs from this release's, or when a pending migration would meet a table or
 * index of its name that is something else (another tool's `users`): start-up would refuse each.
 * And when a table of ours has a column NOT NULL without a default that we never write: start-up
 * passes, and every insert into that table fails.
 */
export async function schemaCheck<DB>(db: Kysely<DB>, where: string, answers: string, prefix: string): Promise<Outcome> {
  // Start-up and `migrate` refuse such a database (a rollback across a migration): no "up to date".
  const newer = await newerMigrations(db);
  if (newer.length > 0) return { problems: [`${prefix}${where}: ${newerReleaseMessage(newer)}`], summary: '' };
  const changed = [...(await changedMigrations(db)), ...(await unwritableTables(db))].map((c) => `${prefix}${where}: ${c}`);
  const pending = await pendingMigrations(db);
  if (pending.length === 0) return { problems: changed, summary: `${where} ${answers}; schema up to date` };
  const conflicts = await migrationConflicts(db, pending);
  return {
    problems: [...changed, ...conflicts.map((c) => `${prefix}${where}: migration ${c}`)],
    summary: `${where} ${answers}; ${pending.length} migration(s) pending (${pending.join(', ')}), applied at start-up or by livecomponents migrate`,
  };
}
