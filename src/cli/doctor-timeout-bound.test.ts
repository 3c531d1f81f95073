/**
 * `doctor --connect`'s `timeoutMs` is the Redis client's command timeout too, whose socket timeout
 * (four of them) is a Node timer: past 536,870,911 ms it fired after 1 ms, so every Redis check
 * failed (`Socket timeout`), and PostgreSQL refused the session timeouts derived from it. It is
 * refused before any service is asked.
 */
import { describe, expect, it } from 'vitest';
import { REDIS_AVAILABLE, useRedisServer } from '../../test/redis/server.js';
import { loadConfig } from '../ops/config.js';
import { postgresAvailability, TEST_POSTGRES_URL } from '../sql/test-postgres.js';
import { runServiceChecks } from './doctor-services.js';

const MAX_TIMEOUT_MS = 536_870_911;

const pgUp = (await postgresAvailability()).state !== 'skip';

describe('doctor --connect timeoutMs', () => {
  it.each([MAX_TIMEOUT_MS + 1, 2 ** 31])('refuses %d before asking any service', async (timeoutMs) => {
    await expect(runServiceChecks(loadConfig({ DATABASE_URL: 'sqlite::memory:' }), { timeoutMs })).rejects.toThrow(
      /^doctor: timeoutMs must be a positive number of ms, at most 536870911 /,
    );
  });
});

describe.skipIf(!REDIS_AVAILABLE || !pgUp)('doctor --connect with the longest timeoutMs', () => {
  const redis = useRedisServer();

  it('asks Redis and PostgreSQL, and both answer', async () => {
    const results = await runServiceChecks(loadConfig({ REDIS_URL: redis.server.url, DATABASE_URL: TEST_POSTGRES_URL }), { timeoutMs: MAX_TIMEOUT_MS });
    expect(results.map((r) => [r.name, r.ok, r.problems])).toEqual([
      ['redis-server', true, []],
      ['database', true, []],
      ['clock', true, []],
    ]);
  });
});
