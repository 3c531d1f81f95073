/**
 * An ACL user allowed the store's scripts (EVALSHA) but not a command they run: Redis 7.0 answers
 * `ERR The user executing the script can't run this command or subcommand script: <sha>, on
 * @user_script:<line>.`, naming neither the command nor NOPERM. Without `+time` every rate-limited
 * action answered 503 while the health check (a lone PEXPIRE) passed, so readiness stayed green;
 * and /health said only Redis's words. The health probe now reads TIME too (one round trip still),
 * and the refusal names the command to grant.
 */
import { describe, expect, it } from 'vitest';
import { createRedisStore, explainWriteRefusal, refusedScriptCommand } from '../../src/store/redis/index.js';
import type { Store } from '../../src/store/types.js';
import { REDIS_AVAILABLE, useRedisServer } from './server.js';

describe.skipIf(!REDIS_AVAILABLE)('an ACL user without a command the store scripts run', () => {
  const redis = useRedisServer({
    args: [
      '--user', 'notime', 'on', '>notime-pw', '~*', '&*', '+@all', '-time',
      '--user', 'nopexpire', 'on', '>nopexpire-pw', '~*', '&*', '+@all', '-pexpire',
    ],
  });

  const open = (user: string, extra: Partial<Parameters<typeof createRedisStore>[0]> = {}): Store =>
    createRedisStore({ url: `redis://${user}:${user}-pw@127.0.0.1:${redis.server.port}`, ...extra });

  it('without +time: health fails naming TIME, as the rate-limited calls fail', async () => {
    const rounds: string[] = [];
    const store = open('notime', { onRoundTrip: (op) => rounds.push(op) });
    try {
      const policy = { algorithm: 'gcra', limit: 10, windowMs: 1_000 } as const;
      await expect(store.rateLimit('lc:{acl}:rl', policy, Date.now())).rejects.toThrow(/can't run this command|ACL failure in script/);
      rounds.length = 0;
      await expect(store.health()).rejects.toThrow(/Redis refuses the TIME command the store's scripts run \(.*\): rate limits run on Redis's clock; grant the ACL user of REDIS_URL \+time/);
      // Still one round trip.
      expect(rounds).toEqual(['health']);
      // The other calls work for this user.
      await store.set('lc:{acl}:a', 'A', 10_000);
      await expect(store.get('lc:{acl}:a')).resolves.toBe('A');
    } finally {
      await store.close();
    }
  });

  it("without +time on the caller's clock: nothing reads TIME, health passes", async () => {
    const store = open('notime', { rateLimitClock: 'caller' });
    try {
      await expect(store.health()).resolves.toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('without +pexpire: health fails naming PEXPIRE', async () => {
    const store = open('nopexpire');
    try {
      await expect(store.health()).rejects.toThrow(/Redis refuses the PEXPIRE command .*grant the ACL user of REDIS_URL \+pexpire/);
    } finally {
      await store.close();
    }
  });
});

describe('explainWriteRefusal', () => {
  it('names the command of a Redis 7.2+ in-script refusal', () => {
    const message = "Redis failed: ERR ACL failure in script: User u has no permissions to run the 'time' command script: 0da9a7a839cabd9b36518b23c039aa95aaa22205, on @user_script:4.";
    expect(refusedScriptCommand(message)).toBe('TIME');
    expect(explainWriteRefusal(message)).toBe(
      "Redis refuses the TIME command the store's scripts run (ACL failure in script: User u has no permissions to run the 'time' command): rate limits run on Redis's clock; grant the ACL user of REDIS_URL +time",
    );
  });

  it('says what is needed when the script is not one of the store', () => {
    const message = "ERR The user executing the script can't run this command or subcommand script: ffffffffffffffffffffffffffffffffffffffff, on @user_script:4.";
    expect(refusedScriptCommand(message)).toBeUndefined();
    expect(explainWriteRefusal(message)).toMatch(/^Redis refuses a command the store's scripts run \(The user executing the script can't run this command or subcommand\): .*\+time/);
  });

  it('explains a refused key, and leaves READONLY / NOPERM as they were', () => {
    expect(explainWriteRefusal("ERR The user executing the script can't access at least one of the keys mentioned in the command arguments script: 0da9a7a839cabd9b36518b23c039aa95aaa22205, on @user_script:9.")).toMatch(/read\/write access/);
    expect(explainWriteRefusal("NOPERM this user has no permissions to run the 'evalsha' command")).toMatch(/\+@scripting/);
    expect(explainWriteRefusal("READONLY You can't write against a read only replica.")).toMatch(/names a replica/);
    expect(explainWriteRefusal('ERR something else')).toBeUndefined();
  });
});
