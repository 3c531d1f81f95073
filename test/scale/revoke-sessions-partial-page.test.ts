/**
 * `livecomponents revoke-sessions` failing part-way through a Redis page (found by review R3): the
 * page's UNLINKs go out together, and when one was refused the others had deleted their keys all the
 * same, but `Promise.all` dropped their answers, so the event said "0 sessions ended" for sessions
 * the run had ended (1f3e071: a failed run's event counts what it did). Now every answer of the page
 * is counted before the failure is thrown. The refusal is made by an ACL user that may read the
 * second session's keys but not delete them (`%R~`), so exactly one UNLINK of the page fails.
 */
import { describe, expect, it } from 'vitest';
import { revokeSessions } from '../../src/cli/revoke-sessions.js';
import { memorySecurityEvents } from '../../src/ops/security-events.js';
import { useSqliteAuthDatabase } from '../auth/harness.js';
import { REDIS_AVAILABLE, useRedisServer } from '../redis/server.js';

const { url: databaseUrl } = useSqliteAuthDatabase('revoke-partial');

describe.skipIf(!REDIS_AVAILABLE)('revoke-sessions: one UNLINK of a page refused', () => {
  const redis = useRedisServer();

  it('the event counts the sessions the page ended before the refusal (1 of 2)', { timeout: 60_000 }, async () => {
    await redis.admin.set('app:lc:{s:A1}:session', '{"u":null}');
    await redis.admin.set('app:lc:{s:B1}:session', '{"u":null}');
    await redis.admin.call('ACL', 'SETUSER', 'r3', 'on', '>pw', 'resetkeys', '~app:lc:{health}*', '~app:lc:{s:A*', '%R~app:lc:{s:B*', '+@all');
    const events = memorySecurityEvents();
    const err: string[] = [];
    const code = await revokeSessions(
      { all: true },
      { env: { DATABASE_URL: databaseUrl, REDIS_URL: redis.server.url.replace('redis://', 'redis://r3:pw@'), REDIS_KEY_PREFIX: 'app:' }, out: () => undefined, err: (l) => err.push(l), events },
    );
    expect(code).toBe(1);
    expect(err).toEqual([expect.stringMatching(/^revoke-sessions: NOPERM/)]);
    expect(await redis.admin.keys('app:*')).toEqual(['app:lc:{s:B1}:session']);
    expect(events.events).toHaveLength(1);
    expect(events.events[0]?.description).toMatch(/failed part-way: NOPERM.*; done before it: 0 access tokens, .* 1 sessions ended, 0 trusted devices forgotten;/);
  });
});
