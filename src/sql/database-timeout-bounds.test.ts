/**
 * createDatabase's timeouts are refused at start-up past what takes them: SQLite's busy timeout and
 * PostgreSQL's are 32-bit `int`s of ms, and Node fires a timer of more than 2^31 − 1 ms after 1 ms.
 * `queryTimeoutMs` 2^30 passed and then PostgreSQL refused every connection (its
 * `idle_in_transaction_session_timeout`, twice it, is out of range); `connectTimeoutMs` 2^31 failed
 * every connection at once; `busyTimeoutMs` 2^31 failed to open the file with a message about its
 * permissions.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, sqliteConnectionOf } from './database.js';
import { createTestSchema, postgresAvailability, TEST_POSTGRES_URL, warnSkipped } from './test-postgres.js';

const MAX_TIMER_MS = 2 ** 31 - 1;
/** Twice it is still a PostgreSQL int. */
const MAX_QUERY_TIMEOUT_MS = 1_073_741_823;

const pgState = await postgresAvailability();
if (pgState.state === 'skip') warnSkipped('createDatabase timeout bounds on PostgreSQL', pgState.reason);

describe('createDatabase timeout bounds', () => {
  it.each([
    [{ queryTimeoutMs: MAX_QUERY_TIMEOUT_MS + 1 }, /^createDatabase: queryTimeoutMs must be a positive integer, at most 1073741823$/],
    [{ queryTimeoutMs: 2 ** 31 }, /queryTimeoutMs must be a positive integer, at most 1073741823$/],
    [{ connectTimeoutMs: MAX_TIMER_MS + 1 }, /^createDatabase: connectTimeoutMs must be a positive integer, at most 2147483647$/],
  ])('refuses PostgreSQL %j at start-up, naming the option and the bound', (options, message) => {
    expect(() => createDatabase(TEST_POSTGRES_URL, options)).toThrow(message);
  });

  it('refuses an SQLite busyTimeoutMs over 2^31 − 1 as the option, not as an unopenable file', () => {
    expect(() => createDatabase('sqlite::memory:', { busyTimeoutMs: MAX_TIMER_MS + 1 })).toThrow(/^createDatabase: busyTimeoutMs must be a non-negative integer, at most 2147483647$/);
  });

  it('opens SQLite with the longest busy timeout', async () => {
    const db = createDatabase('sqlite::memory:', { busyTimeoutMs: MAX_TIMER_MS });
    try {
      // Taken at open; after it the lock is waited for off the event loop (src/sql/sqlite-lock-wait.ts).
      expect(sqliteConnectionOf(db)?.pragma('busy_timeout', { simple: true })).toBe(0);
    } finally {
      await db.destroy();
    }
  });
});

describe.skipIf(pgState.state === 'skip')('createDatabase timeout bounds on PostgreSQL', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  beforeAll(async () => {
    if (pgState.state === 'fail') throw new Error(pgState.reason);
    schema = await createTestSchema('timeoutbounds');
  });
  afterAll(async () => {
    await schema?.drop();
  });

  it('connects and queries with the longest query and connect timeouts', async () => {
    const db = createDatabase(schema.url, { queryTimeoutMs: MAX_QUERY_TIMEOUT_MS, connectTimeoutMs: MAX_TIMER_MS });
    try {
      const { rows } = await sql<{ idle: string; statement: string }>`select current_setting('idle_in_transaction_session_timeout') as idle, current_setting('statement_timeout') as statement`.execute(db);
      expect(rows[0]).toEqual({ idle: '2147483646ms', statement: '1073740823ms' });
    } finally {
      await db.destroy();
    }
  });
});
