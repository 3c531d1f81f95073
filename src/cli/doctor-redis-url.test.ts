/**
 * `doctor --connect`'s `redis-server` line for a REDIS_URL that does not parse, and for an ACL user
 * refused EVALSHA alone.
 * - An invalid REDIS_URL is none in the configuration: the line said "ok … no REDIS_URL: sessions
 *   and state stay in the embedded SQLite file", though the app would not start at all.
 * - ioredis sends a script by EVAL the first time on a socket, by EVALSHA after: one probe passed a
 *   user with `-evalsha`, and the app then answered 503 on every action.
 */
import { describe, expect, it } from 'vitest';
import { REDIS_AVAILABLE, useRedisServer } from '../../test/redis/server.js';
import { runDoctorConnected } from './doctor.js';

const PASSWORD = 'Ee4SECRETee';

describe('doctor --connect with a REDIS_URL that does not parse', () => {
  it('says the Redis server was not checked, quoting none of it', async () => {
    for (const url of [`redis://:${PASSWORD}%zz@127.0.0.1:6390`, 'unix:///run/redis/redis.sock', `redis://:${PASSWORD}@127.0.0.1:6390?enableOfflineQueue=false`]) {
      const report = await runDoctorConnected({ REDIS_URL: url, DATABASE_URL: 'sqlite::memory:' }, { timeoutMs: 500 });
      expect(report.ok, url).toBe(false);
      expect(report.lines, url).toContain('ok  redis-server: not checked: REDIS_URL does not parse (see config)');
      expect(report.lines.filter((l) => l.startsWith('FAIL redis: REDIS_URL'))).toHaveLength(1);
      for (const line of report.lines) expect(line).not.toContain(PASSWORD);
    }
  });
});

describe.skipIf(!REDIS_AVAILABLE)('doctor --connect with an ACL user refused EVALSHA', () => {
  const redis = useRedisServer({ args: ['--user', 'noevalsha', 'on', `>${PASSWORD}`, '~*', '&*', '+@all', '-evalsha', '--user', 'app', 'on', `>${PASSWORD}`, '~*', '&*', '+@all'] });
  const check = async (user: string) => {
    const report = await runDoctorConnected({ REDIS_URL: `redis://${user}:${PASSWORD}@127.0.0.1:${redis.server.port}`, DATABASE_URL: 'sqlite::memory:' }, { timeoutMs: 2_000 });
    return report.lines.filter((l) => / redis-server: /.test(l));
  };

  it('fails, naming +evalsha; a user with it passes', async () => {
    const refused = await check('noevalsha');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatch(/^FAIL redis-server: REDIS_URL: Redis refuses EVALSHA \(NOPERM .*'evalsha'.*\) though it ran the store's script by EVAL: .*grant the ACL user \+evalsha$/);
    expect(refused[0]).not.toContain(PASSWORD);
    expect(await check('app')).toEqual([expect.stringMatching(/^ok {2}redis-server: Redis answers/)]);
  });
});
