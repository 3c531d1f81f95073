/** Test helper: a PostgreSQL database of a suite's own (for settings a schema cannot have on its own). */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TEST_POSTGRES_URL } from '../../src/sql/test-postgres.js';

/**
 * A database of the test's own on the test server, which it can set read-only: `ALTER DATABASE … SET
 * default_transaction_read_only` reaches only it, as a failover to a standby reaches only the app.
 */
export async function ownDatabase(label: string): Promise<{ url: string; setReadOnly: (on: boolean) => Promise<void>; drop: () => Promise<void> }> {
  const name = `lc_test_${label}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async setReadOnly(on) {
      await admin.query(`alter database "${name}" set default_transaction_read_only = ${on ? 'on' : 'off'}`);
      // The setting reaches new sessions only: end the open ones, as a failover does.
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
      // For the pools to hear of it and drop their idle connections.
      await new Promise((resolve) => setTimeout(resolve, 300));
    },
    async drop() {
      await admin.query(`drop database if exists "${name}" with (force)`);
      await admin.end();
    },
  };
}
