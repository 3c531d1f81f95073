/**
 * `livecomponents revoke-sessions`: the dry run's count of trusted devices is what the run forgets
 * (found by review R3). At an account's devices key, a value that is no list (another type: GET
 * answers WRONGTYPE) was left out of the dry run's count, but the run UNLINKed it and counted it as
 * an account forgotten: "of 1 account" dry, "of 2 accounts" for real. Now the run forgets the keys the
 * dry run counts, the lists, and leaves such a key as it leaves every key that is not the app's.
 */
import { describe, expect, it } from 'vitest';
import { authKeys } from '../../src/auth/keys.js';
import { useSqliteAuthDatabase } from '../auth/harness.js';
import { REDIS_AVAILABLE, useRedisServer } from '../redis/server.js';
import { runRevokeSessions } from './revoke-sessions.js';

const { url: databaseUrl } = useSqliteAuthDatabase('revoke-devices-dry');

describe.skipIf(!REDIS_AVAILABLE)('revoke-sessions: trusted devices, the dry run and the run', () => {
  const redis = useRedisServer();

  it('a key of another type at a devices key: counted by neither, left by both; the list: 1 account, 2 devices each time', { timeout: 60_000 }, async () => {
    const hashKey = `app:${authKeys.devices('ada@example.com')}`;
    await redis.admin.hset(hashKey, 'x', '1');
    await redis.admin.set(`app:${authKeys.devices('bob@example.com')}`, 'd1 d2', 'PX', 3_600_000);
    const run = async (dryRun: boolean) => {
      const { code, err, out } = await runRevokeSessions({ all: true, dryRun }, { env: { DATABASE_URL: databaseUrl, REDIS_URL: redis.server.url, REDIS_KEY_PREFIX: 'app:' } });
      return [code, err, out.find((l) => l.startsWith('revoke-sessions: trusted devices'))];
    };
    expect(await run(true)).toEqual([0, [], 'revoke-sessions: trusted devices of 1 account: 2 would be forgotten']);
    expect(await run(false)).toEqual([0, [], 'revoke-sessions: trusted devices of 1 account: 2 forgotten']);
    expect(await redis.admin.keys('app:*')).toEqual([hashKey]);
  });
});
