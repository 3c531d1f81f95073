/**
 * `livecomponents revoke-sessions` with a mistyped `REDIS_KEY_PREFIX` under which a key of the
 * framework was left — a rate-limit counter or an idempotency record of an old deployment or a test —
 * but no session. Any framework key made the prefix "the app's": the run ended 0 sessions and exited 0
 * while the app's sessions, under its real prefix, lived on. Now a prefix holding no session while
 * other prefixes do is refused (exit 1, dry run too, nothing changed) unless `--key-prefix-empty`
 * says the app has no session now; an app with no session anywhere (a fresh deploy) is not refused.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createAccounts } from '../../src/auth/accounts.js';
import { hashToken } from '../../src/auth/tokens.js';
import type { RevokeSessionsArgs } from '../../src/cli/revoke-sessions.js';
import { surveyPrefixes } from '../../src/cli/revoke-sessions-redis-survey.js';
import { createSessionManager } from '../../src/session/index.js';
import { storeKeys } from '../../src/store/keys.js';
import { REDIS_AVAILABLE, useRedisServer } from '../redis/server.js';
import { runRevokeSessions, useUsersDatabase } from './revoke-sessions.js';

const HOUR = 3_600_000;
const { db, url: databaseUrl, repo, users } = useUsersDatabase('revoke-leftover', ['ada@example.com']);
const accounts = createAccounts({ db });
let ada: string;

beforeAll(() => {
  ada = users['ada@example.com'] as string;
});

/** `revoke-sessions` on this file's database, with `env`: `events`, how many it emitted. */
async function revoke(args: RevokeSessionsArgs, env: Record<string, string>) {
  const { code, out, err, events } = await runRevokeSessions(args, { env: { DATABASE_URL: databaseUrl, ...env } });
  return { code, out, err, events: events.length };
}

describe.skipIf(!REDIS_AVAILABLE)('revoke-sessions: a mistyped REDIS_KEY_PREFIX holding a leftover key of the framework', () => {
  const redis = useRedisServer();

  it('a rate-limit key under "ap:", the sessions under "app:": refused (dry run too), nothing changed; --key-prefix-empty goes on and leaves "app:" alone', { timeout: 60_000 }, async () => {
    const app = redis.open({ database: 1, keyPrefix: 'app:' });
    const web = (await repo.createWebSession(ada, hashToken('web-leftover'), Date.now(), Date.now() + HOUR, 'hash')) as string;
    const signedIn = await createSessionManager({ store: app }).regenerate(null, `${ada}/${web}`);
    await createSessionManager({ store: app }).regenerate(null, null);
    // What a test or an old deployment left under the mistyped prefix: a rate limit and an idempotency record.
    const old = redis.open({ database: 1, keyPrefix: 'ap:' });
    await old.set(storeKeys.rateLimit('ip:192.0.2.1', 'counter', 'increment'), 'g:1', HOUR);
    await old.set(storeKeys.idempotency('u:1', 'key-1'), 'record', HOUR);
    const keys = redis.adminOf(1);
    const before = (await keys.keys('*')).sort();
    expect(before).toHaveLength(4);
    const where = `${redis.urlOf(1)}`;
    const env = { REDIS_URL: where, REDIS_KEY_PREFIX: 'ap:' };

    const refusal =
      `revoke-sessions: ${where}: no session under the key prefix "ap:" (REDIS_KEY_PREFIX; only other keys of this framework, rate limits or idempotency records, which an old deployment or a test may leave there), ` +
      `but sessions under "app:" (2 sessions): set REDIS_KEY_PREFIX as the app's environment sets it (or, when the app has no session now — a fresh deploy, every session expired or ended by an earlier run — add --key-prefix-empty); nothing was changed`;
    for (const args of [{ all: true }, { all: true, dryRun: true }, { user: 'ada@example.com' }]) {
      expect(await revoke(args, env), JSON.stringify(args)).toEqual({ code: 1, out: [], err: [refusal], events: 0 });
    }
    expect(await surveyPrefixes(keys, 'ap:')).toEqual({ inUse: false, elsewhere: new Map([['ap:', 0], ['app:', 2]]) });
    expect((await keys.keys('*')).sort()).toEqual(before);
    expect(await accounts.resolveUser(`${ada}/${web}`)).toMatchObject({ id: ada });

    // The operator says the app has no session there: the tokens are revoked, "app:" is left alone.
    const done = await revoke({ all: true, keyPrefixEmpty: true }, env);
    expect([done.code, done.err, done.events]).toEqual([0, [], 1]);
    expect(done.out).toContain(`revoke-sessions: none to end: no session under the key prefix "ap:" in ${where} (--key-prefix-empty); the sessions under "app:" (2 sessions) are left alone`);
    expect(done.out).toContain('revoke-sessions: browser sign-ins: 1 revoked');
    expect(done.out).toContain('revoke-sessions: sessions signed in: 0 ended');
    expect((await keys.keys('*')).sort()).toEqual(before);
    expect(await app.get(storeKeys.session(signedIn.key))).not.toBeNull();

    // The app's own prefix ends both sessions, and exits 0.
    const right = await revoke({ all: true }, { REDIS_URL: where, REDIS_KEY_PREFIX: 'app:' });
    expect([right.code, right.err]).toEqual([0, []]);
    expect(right.out).toContain('revoke-sessions: sessions signed in: 1 ended');
    expect(right.out).toContain('revoke-sessions: sessions anonymous: 1 ended');
    expect(await keys.keys('app:*')).toEqual([]);
  });

  it('an app with no session anywhere (a fresh deploy: its rate limits only) is not refused; sessions of its own besides another prefix\'s are ended', { timeout: 60_000 }, async () => {
    const fresh = redis.open({ database: 2, keyPrefix: 'app:' });
    await fresh.set(storeKeys.rateLimit('ip:192.0.2.1', 'counter', 'increment'), 'g:1', HOUR);
    await redis.open({ database: 2, keyPrefix: 'other:' }).set(storeKeys.rateLimit('ip:192.0.2.2', 'counter', 'increment'), 'g:1', HOUR);
    const env = { REDIS_URL: `${redis.urlOf(2)}`, REDIS_KEY_PREFIX: 'app:' };
    const first = await revoke({ all: true }, env);
    expect([first.code, first.err]).toEqual([0, []]);
    // The app's own prefix is not listed among the "other" keys.
    expect(first.out).toContain(`revoke-sessions: none to end: no session under any key prefix in ${redis.urlOf(2)} (other keys of this framework under "other:")`);

    // A session of the app and one of another app: the app's prefix is in use, the other's stays.
    const session = await createSessionManager({ store: fresh }).regenerate(null, null);
    await createSessionManager({ store: redis.open({ database: 2, keyPrefix: 'other:' }) }).regenerate(null, null);
    const second = await revoke({ all: true }, env);
    expect([second.code, second.err]).toEqual([0, []]);
    expect(second.out).toContain('revoke-sessions: sessions anonymous: 1 ended');
    expect(await fresh.get(storeKeys.session(session.key))).toBeNull();
    expect(await redis.adminOf(2).keys('other:lc:{s:*')).toHaveLength(1);

    // Run again, the app's sessions all ended, the other app's there: refused, saying what to do.
    const again = await revoke({ all: true }, env);
    expect(again.code).toBe(1);
    expect(again.err).toEqual([expect.stringContaining('no session under the key prefix "app:" (REDIS_KEY_PREFIX; only other keys of this framework')]);
    expect(again.err[0]).toContain('but sessions under "other:" (1 session)');
    const through = await revoke({ all: true, keyPrefixEmpty: true }, env);
    expect([through.code, through.err]).toEqual([0, []]);
  });
});
