/**
 * `doctor --connect` against a Redis that refuses the database REDIS_URL names: a FAIL line, not
 * an uncaught ReplyError, and not an ok for a client that fell back to database 0.
 */
import { describe, expect, it } from 'vitest';
import { REDIS_AVAILABLE, useRedisServer } from '../../test/redis/server.js';
import { loadConfig } from '../ops/config.js';
import { runServiceChecks } from './doctor-services.js';

describe.skipIf(!REDIS_AVAILABLE)('doctor --connect: the Redis database', () => {
  const redis = useRedisServer();
  const check = async (url: string) => (await runServiceChecks(loadConfig({ REDIS_URL: url, DATABASE_URL: 'sqlite::memory:' }), { timeoutMs: 2_000 }))[0];

  it('fails a database number the server does not have (16 by default)', async () => {
    const result = await check(`${redis.server.url}/99`);
    expect(result?.ok).toBe(false);
    expect(result?.problems).toEqual([
      "REDIS_URL: Redis refused the database the URL names (ERR DB index is out of range), so the app's store would answer 503: check the number after the port in REDIS_URL against the databases setting of the server",
    ]);
  });

  it('fails a database an ACL user may not SELECT, sending the operator to the ACL, not the databases setting', async () => {
    await redis.admin.acl('SETUSER', 'doctor-no-select', 'on', '>doctor-no-select-pw', '~*', '&*', '+@all', '-select');
    const url = new URL(redis.server.url);
    url.username = 'doctor-no-select';
    url.password = 'doctor-no-select-pw';
    url.pathname = '/2';
    const result = await check(url.href);
    expect(result?.ok).toBe(false);
    expect(result?.problems).toEqual([
      "REDIS_URL: Redis refused the database the URL names (NOPERM this user has no permissions to run the 'select' command), so the app's store would answer 503: REDIS_URL's user may not run SELECT (its ACL rules): allow +select for it, or drop the number after the port to use database 0",
    ]);
  });

  it('passes one it has', async () => {
    expect((await check(`${redis.server.url}/9`))?.ok).toBe(true);
  });
});
