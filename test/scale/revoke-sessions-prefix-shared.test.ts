/**
 * `livecomponents revoke-sessions` on a Redis shared by several apps (`app1:`, `app2:`), found by
 * review R3:
 *
 * - The documented restore (docs/deployment.md §8: the app stopped, its database restored, its Redis
 *   keys gone) on a Redis another app shares: `app1:` holds no key of the framework, `app2:` holds
 *   sessions, so the run for app1 was refused as a mistyped prefix, exit 1, and nothing let it
 *   through: the restored database's tokens stayed live. `keyPrefixEmpty` (`--key-prefix-empty`)
 *   lets it go on; app2's sessions stay, and the refusal names it.
 * - SIGINT before the prefix survey was not asked during it: on a Redis of millions of keys the
 *   survey walks them all (twice for a prefix with no key), and Ctrl-C waited for it, then the run
 *   was refused (exit 1) instead of stopping (130). `surveyPrefixes` asks `stop` before each SCAN.
 * - The survey kept every session key of every other prefix in memory to count each once: millions
 *   for a big neighbour. It remembers 10,000 per prefix (`SURVEY_CAP`) and says "or more" past it.
 */
import { EventEmitter } from 'node:events';
import { beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/auth/tokens.js';
import { main } from '../../src/cli/index.js';
import type { RevokeSessionsArgs } from '../../src/cli/revoke-sessions.js';
import { surveyPrefixes } from '../../src/cli/revoke-sessions-redis-survey.js';
import { Interrupted } from '../../src/cli/revoke-sessions-stop.js';
import { createSessionManager } from '../../src/session/index.js';
import { REDIS_AVAILABLE, useRedisServer } from '../redis/server.js';
import { runRevokeSessions, useUsersDatabase } from './revoke-sessions.js';

const HOUR = 3_600_000;
const { url: databaseUrl, repo, users } = useUsersDatabase('revoke-shared', ['ada@example.com']);
let ada: string;

beforeAll(() => {
  ada = users['ada@example.com'] as string;
});

/** `revoke-sessions` on this file's database, with `env`: `events`, how many it emitted. With `signals`, a SIGINT from them as it starts. */
async function revoke(args: RevokeSessionsArgs, env: Record<string, string>, signals?: EventEmitter) {
  // Listened to from the call on: a signal now comes before anything is read.
  const { code, out, err, events } = await runRevokeSessions(args, { env: { DATABASE_URL: databaseUrl, ...env }, ...(signals ? { signals } : {}) }, () => signals?.emit('SIGINT', 'SIGINT'));
  return { code, out, err, events: events.length };
}

describe.skipIf(!REDIS_AVAILABLE)('revoke-sessions: a Redis shared by two apps, the first one\'s keys all gone', () => {
  const redis = useRedisServer();

  it('--key-prefix-empty: app1\'s tokens are revoked, app2\'s 3 sessions stay; without it, refused naming the option', { timeout: 60_000 }, async () => {
    const app2 = redis.open({ database: 3, keyPrefix: 'app2:' });
    for (let i = 0; i < 3; i++) await createSessionManager({ store: app2 }).regenerate(null, null);
    const keys = redis.adminOf(3);
    const before = (await keys.keys('*')).sort();
    expect(before).toHaveLength(3);
    const web = (await repo.createWebSession(ada, hashToken('web-1'), Date.now(), Date.now() + HOUR, 'hash')) as string;
    const env = { REDIS_URL: `${redis.urlOf(3)}`, REDIS_KEY_PREFIX: 'app1:' };

    const refused = await revoke({ all: true }, env);
    expect([refused.code, refused.out, refused.events]).toEqual([1, [], 0]);
    expect(refused.err).toEqual([expect.stringContaining('but sessions under "app2:" (3 sessions): set REDIS_KEY_PREFIX as the app\'s environment sets it (or, when the app has no key there now, its Redis emptied and the app stopped, add --key-prefix-empty); nothing was changed')]);

    const dry = await revoke({ all: true, dryRun: true, keyPrefixEmpty: true }, env);
    expect([dry.code, dry.err, dry.events]).toEqual([0, [], 0]);
    expect(dry.out).toContain('revoke-sessions: browser sign-ins: 1 would be revoked');
    expect(dry.out).toContain(`revoke-sessions: none to end: no key of this app under the key prefix "app1:" in ${redis.urlOf(3)} (--key-prefix-empty); the sessions under "app2:" (3 sessions) are left alone`);
    expect((await repo.webSessionUser(ada, web, Date.now())) !== undefined).toBe(true);
    // The same dry run from the command line: the option parses (it was an unknown option, exit 2).
    const cli: string[] = [];
    const cliCode = await main(['revoke-sessions', '--all', '--dry-run', '--key-prefix-empty'], { env: { DATABASE_URL: databaseUrl, ...env }, out: (l) => cli.push(l), err: (l) => cli.push(l) });
    expect([cliCode, cli]).toEqual([0, dry.out]);

    const done = await revoke({ all: true, keyPrefixEmpty: true }, env);
    expect([done.code, done.err, done.events]).toEqual([0, [], 1]);
    expect(done.out).toContain('revoke-sessions: browser sign-ins: 1 revoked');
    expect(done.out).toContain('revoke-sessions: sessions anonymous: 0 ended');
    expect(done.out.at(-1)).toBe('revoke-sessions: done');
    expect(await repo.webSessionUser(ada, web, Date.now())).toBeUndefined();
    expect((await keys.keys('*')).sort()).toEqual(before);
  });

  it('SIGINT before the survey: stopped (130) before anything changed, not refused after walking every key', { timeout: 60_000 }, async () => {
    const keys = redis.adminOf(4);
    // Another app's 5,000 keys of this framework: the survey of an unused prefix takes 10 SCANs or more.
    const pipeline = keys.pipeline();
    for (let i = 0; i < 5_000; i++) pipeline.set(`app2:lc:{s:k${i}}:session`, '{"u":null}');
    await pipeline.exec();

    const signals = new EventEmitter();
    const stopped = await revoke({ all: true }, { REDIS_URL: `${redis.urlOf(4)}`, REDIS_KEY_PREFIX: 'app1:' }, signals);
    expect([stopped.code, stopped.events]).toEqual([130, 0]);
    expect(stopped.out.at(-1)).toBe('revoke-sessions: interrupted by SIGINT before anything changed');
    expect(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM')).toBe(0);
    expect(await keys.dbsize()).toBe(5_000);

    // surveyPrefixes itself: asked before each SCAN, it stops at the third.
    let asked = 0;
    const survey = surveyPrefixes(keys, 'app1:', () => (++asked === 3 ? 'SIGTERM' : undefined));
    await expect(survey).rejects.toBeInstanceOf(Interrupted);
    expect(asked).toBe(3);
  });

  it('the survey remembers at most 10,000 session keys of another prefix: past it, "or more"', { timeout: 60_000 }, async () => {
    const keys = redis.adminOf(5);
    const pipeline = keys.pipeline();
    for (let i = 0; i < 10_005; i++) pipeline.set(`big:lc:{s:k${i}}:session`, '{"u":null}');
    for (let i = 0; i < 2; i++) pipeline.set(`small:lc:{s:k${i}}:session`, '{"u":null}');
    await pipeline.exec();
    const survey = await surveyPrefixes(keys, 'app1:');
    expect(survey).toEqual({ inUse: false, elsewhere: new Map([['big:', 10_000], ['small:', 2]]) });
    const refused = await revoke({ all: true }, { REDIS_URL: `${redis.urlOf(5)}`, REDIS_KEY_PREFIX: 'app1:' });
    expect(refused.code).toBe(1);
    expect(refused.err).toEqual([expect.stringContaining('but sessions under "big:" (10000 or more sessions), "small:" (2 sessions): ')]);
  });
});
