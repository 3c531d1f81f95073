/**
 * Whether a PostgreSQL server takes writes now. A hot standby (after a failover the URL may still
 * name the old primary, or a moved address the standby before its promotion) and sessions that start
 * read-only (`default_transaction_read_only`) answer every read, so `select 1` passes, while every
 * sign-in, refresh and logout answers 503. Readiness (`sqlHealthCheck`) and `doctor --connect` ask
 * this one query and say it in their own words.
 */
import { sql, type QueryExecutorProvider } from 'kysely';

/** Why the server takes no writes, as the messages name it. */
export type ReadOnlyReason = 'a standby in recovery' | 'default_transaction_read_only';

/** Why the PostgreSQL server behind `db` takes no writes, or `undefined` when it does. */
export async function postgresReadOnlyReason(db: QueryExecutorProvider): Promise<ReadOnlyReason | undefined> {
  const { rows } = await sql<{ standby: boolean; read_only: string }>`select pg_is_in_recovery() as standby, current_setting('transaction_read_only') as read_only`.execute(db);
  const { standby, read_only: readOnly } = rows[0] ?? {};
  if (standby === true) return 'a standby in recovery';
  return readOnly === 'on' ? 'default_transaction_read_only' : undefined;
}
