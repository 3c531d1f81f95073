/**
 * Revocations across instances whose clocks differ a little. A revocation (logout-all, a reuse's,
 * a password reset) marked only the tokens unexpired on its own clock, so a token that had expired
 * a second earlier there was skipped, and an instance two seconds behind still accepted it: the
 * refresh cookie of a signed-out browser got a fresh 7-day grant. Now a revocation also marks what
 * expired less than `REVOKE_MARGIN_MS` ago, and the clean-up leaves those rows to it.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { createAuthRepository, REVOKE_MARGIN_MS } from '../../src/auth/repository.js';
import type { DatabaseSchema } from '../../src/sql/index.js';
import { authApp, eachEngine, PASSWORD, T0, type AuthApp } from './harness.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const DAY = 1440 * MINUTE;
/** The default lifetimes (`SANCTUM_*_TOKEN_EXPIRATION`). */
const ACCESS_TTL = 15 * MINUTE;
const REFRESH_TTL = 7 * DAY;

eachEngine('revocation with clocks a little apart', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const revokedEvents = (app: AuthApp) => app.events.filter((e) => e.event === 'authn_token_revoked').map((e) => e.description);

  it('logout-all on an instance 2 s ahead: a refresh token that expired there 1 s before is refused on the instance behind', async () => {
    t = await authApp(engine);
    await t.register('ada@example.com');
    const first = await t.login('ada@example.com', PASSWORD, '203.0.113.1');
    // The instance ahead: the first sign-in's refresh token expired a second ago on its clock.
    t.clock.set(T0 + REFRESH_TTL + SECOND);
    const second = await t.login('ada@example.com', PASSWORD, '203.0.113.2');
    expect((await t.post('/logout-all', undefined, { authorization: `Bearer ${second.access}` }, '203.0.113.2')).statusCode).toBe(204);
    // The instance 2 s behind (or the same one after an NTP step back): the token is still unexpired there.
    t.clock.set(T0 + REFRESH_TTL - SECOND);
    const res = await t.refresh(first.refresh, '203.0.113.3');
    expect([res.statusCode, res.json().code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
    // Both sign-ins' refresh tokens counted (the first's access token ended days ago: the clean-up's).
    expect(revokedEvents(t)).toEqual([expect.stringMatching(/\b1 access grants and 2 refresh tokens revoked\b/)]);
  });

  it('logout-all: an access token that expired 1 s before on the revoking clock is refused on the instance behind', async () => {
    t = await authApp(engine);
    await t.register('ada@example.com');
    const first = await t.login('ada@example.com', PASSWORD, '203.0.113.1');
    t.clock.set(T0 + ACCESS_TTL + SECOND);
    const second = await t.login('ada@example.com', PASSWORD, '203.0.113.2');
    expect((await t.post('/logout-all', undefined, { authorization: `Bearer ${second.access}` }, '203.0.113.2')).statusCode).toBe(204);
    t.clock.set(T0 + ACCESS_TTL - SECOND);
    expect((await t.me(first.access)).statusCode).toBe(401);
    expect(revokedEvents(t)).toEqual([expect.stringMatching(/\b2 access grants and 2 refresh tokens revoked\b/)]);
  });

  it('a token that ended longer than the margin ago is not counted, and the margin is a few minutes', async () => {
    expect(REVOKE_MARGIN_MS).toBe(5 * MINUTE);
    t = await authApp(engine);
    await t.register('ada@example.com');
    await t.login('ada@example.com', PASSWORD, '203.0.113.1');
    t.clock.set(T0 + ACCESS_TTL + REVOKE_MARGIN_MS);
    const second = await t.login('ada@example.com', PASSWORD, '203.0.113.2');
    expect((await t.post('/logout-all', undefined, { authorization: `Bearer ${second.access}` }, '203.0.113.2')).statusCode).toBe(204);
    expect(revokedEvents(t)).toEqual([expect.stringMatching(/\b1 access grants and 2 refresh tokens revoked\b/)]);
  });
});

eachEngine('revocation and clean-up around the margin', (engine) => {
  let db: Kysely<DatabaseSchema>;
  let drop: () => Promise<void>;
  afterEach(async () => {
    await db.destroy();
    await drop();
  });
  const userId = 'u-skew';
  const now = T0 + 30 * DAY;

  async function open() {
    ({ db, drop } = await engine.open());
    await db.insertInto('users').values({ id: userId, email: 'ada@example.com', password_hash: 'h', name: null, created_at: T0, updated_at: T0 }).execute();
    return createAuthRepository(db);
  }

  /** A refresh token of its own family, unrevoked and unused, with these ends; resolves its hash. */
  async function refreshToken(expiresAt: number, familyExpiresAt: number): Promise<string> {
    const hash = randomUUID();
    const familyId = randomUUID();
    await db
      .insertInto('refresh_tokens')
      .values({ id: randomUUID(), user_id: userId, family_id: familyId, token_hash: hash, parent_id: null, family_expires_at: familyExpiresAt, expires_at: expiresAt, used_at: null, revoked_at: null, created_at: T0 })
      .execute();
    return hash;
  }

  it('a refresh token whose family ended 1 s before on the revoking clock is revoked, and not rotated on a clock 2 s behind', async () => {
    const repo = await open();
    const hash = await refreshToken(now + DAY, now - SECOND);
    expect(await repo.revokeUser(userId, now)).toEqual({ accessTokens: 0, refreshTokens: 1 });
    expect((await repo.refreshByHash(hash))?.revoked_at).toBe(now);
    const successor = () => {
      throw new Error('a revoked token was rotated');
    };
    expect(await repo.rotateRefresh(hash, now - 2 * SECOND, successor)).toBeNull();
  });

  it('the clean-up leaves unrevoked tokens that ended within the margin to the revocations, and deletes them after it', async () => {
    const repo = await open();
    const withinOwn = await refreshToken(now - REVOKE_MARGIN_MS + SECOND, now + DAY);
    const withinFamily = await refreshToken(now + DAY, now - REVOKE_MARGIN_MS + SECOND);
    const pastOwn = await refreshToken(now - REVOKE_MARGIN_MS, now + DAY);
    const pastFamily = await refreshToken(now + DAY, now - REVOKE_MARGIN_MS);
    const access = (expiresAt: number) => ({ id: randomUUID(), user_id: userId, token_hash: randomUUID(), family_id: randomUUID(), expires_at: expiresAt, revoked_at: null, created_at: T0 });
    await db.insertInto('access_tokens').values([access(now - REVOKE_MARGIN_MS + SECOND), access(now - REVOKE_MARGIN_MS)]).execute();

    expect(await repo.deleteDead(now)).toEqual({ accessTokens: 1, refreshTokens: 2, passwordResets: 0 });
    expect(await repo.refreshByHash(pastOwn)).toBeUndefined();
    expect(await repo.refreshByHash(pastFamily)).toBeUndefined();
    // What is left is exactly what a revocation at the same moment takes.
    expect(await repo.revokeUser(userId, now)).toEqual({ accessTokens: 1, refreshTokens: 2 });
    expect((await repo.refreshByHash(withinOwn))?.revoked_at).toBe(now);
    expect((await repo.refreshByHash(withinFamily))?.revoked_at).toBe(now);
    // Unrevoked, they would have gone one margin after their end.
    expect(await repo.deleteDead(now)).toEqual({ accessTokens: 1, refreshTokens: 2, passwordResets: 0 });
  });
});
