/**
 * Sign-out once the access token has expired (or the page lost it): `POST /logout` answered 401
 * `INVALID_TOKEN`, kept the refresh cookie and revoked nothing, so the next page load's refresh
 * signed the user back in. The refresh cookie now names the family to revoke; a valid bearer still
 * decides when there is one; every answer of the handler expires the cookie; the origin check
 * still comes first.
 *
 * Review of that change: a stolen, already rotated cookie replayed at `/logout` (no Origin: a
 * non-browser client passes the origin check) ended the victim's live sign-in and logged only an
 * INFO `authn_token_revoked`, where `/refresh-token` logs the CRITICAL `authn_token_reuse` that the
 * alert watches; and the cookie-only path had no rate limit. It is now a reuse, and limited.
 */
import { afterEach, expect, it } from 'vitest';
import { REVOKE_MARGIN_MS } from '../../src/auth/repository.js';
import { hashToken } from '../../src/auth/tokens.js';
import { authApp, bindingCookie, eachEngine, refreshCookie, refreshCookieLine, refreshCookies, type AuthApp, type Session } from './harness.js';

const ORIGIN = { origin: 'https://app.example.com' };
const CLEARED = 'refresh_token=; Max-Age=0; Path=/api/v1/auth; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict';
const MANY = { limit: 10_000, windowSeconds: 60 };
const LIMITS = { login: MANY, 'refresh-token': MANY, logout: MANY };

eachEngine('logout with the refresh cookie', (engine) => {
  let t: AuthApp;
  afterEach(async () => {
    await t.close();
  });

  /** Production, 1-minute access tokens: the reproduction's setting. */
  async function start(): Promise<void> {
    t = await authApp(engine, { production: true, env: { SANCTUM_ACCESS_TOKEN_EXPIRATION: '1' }, auth: { limits: LIMITS } });
    await t.register('ada@example.com');
  }
  const login = () => t.login('ada@example.com');
  const logout = (headers: Record<string, string>) => t.post('/logout', undefined, { ...ORIGIN, ...headers });
  const withCookie = (refresh: string, headers: Record<string, string> = {}) => ({ cookie: `refresh_token=${refresh}`, ...headers });
  // With its companion cookie (production: src/auth/cookie.ts), as the browser sends it.
  const rotate = async (s: Session): Promise<Session> => {
    const res = await t.post('/refresh-token', undefined, { ...ORIGIN, cookie: refreshCookies(s) });
    expect(res.statusCode).toBe(200);
    return { access: res.json().access_token as string, refresh: refreshCookie(res) as string, binding: bindingCookie(res) as string };
  };
  const familyOf = async (refresh: string) =>
    (await t.db.selectFrom('refresh_tokens').select('family_id').where('token_hash', '=', hashToken(refresh)).executeTakeFirstOrThrow()).family_id;
  const liveInFamily = async (familyId: string) => ({
    access: (await t.db.selectFrom('access_tokens').select('id').where('family_id', '=', familyId).where('revoked_at', 'is', null).execute()).length,
    refresh: (await t.db.selectFrom('refresh_tokens').select('id').where('family_id', '=', familyId).where('revoked_at', 'is', null).execute()).length,
  });
  /**
   * Unrevoked, and unexpired or expired within `REVOKE_MARGIN_MS` (an instance a little behind may
   * still accept it): what a revocation must leave none of (the older rows are the clean-up's).
   */
  const usable = (table: 'access_tokens' | 'refresh_tokens') =>
    t.db.selectFrom(table).select('id').where('revoked_at', 'is', null).where('expires_at', '>', t.clock.now() - REVOKE_MARGIN_MS);
  const usableInFamily = async (familyId: string) => ({
    access: (await usable('access_tokens').where('family_id', '=', familyId).execute()).length,
    refresh: (await usable('refresh_tokens').where('family_id', '=', familyId).execute()).length,
  });

  it('an expired access token and the cookie (65 s after a 1-minute token): 204, the family revoked, the cookie expired', async () => {
    await start();
    const s = await login();
    const other = await login();
    t.clock.advance(65_000);
    expect((await t.me(s.access)).statusCode).toBe(401);
    t.takeEvents();

    const out = await logout(withCookie(s.refresh, { authorization: `Bearer ${s.access}` }));
    expect([out.statusCode, out.body]).toEqual([204, '']);
    expect(refreshCookieLine(out)).toBe(CLEARED);
    expect(t.events.map((e) => [e.event, e.level])).toEqual([
      ['authn_token_revoked', 'INFO'],
      ['session_logout', 'INFO'],
    ]);
    expect(t.takeEvents().length).toBe(2);
    // The next page load's refresh does not sign the user back in.
    const again = await t.post('/refresh-token', undefined, { ...ORIGIN, cookie: `refresh_token=${s.refresh}` });
    expect([again.statusCode, again.json().code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
    expect(await usableInFamily(await familyOf(s.refresh))).toEqual({ access: 0, refresh: 0 });
    // A revoked token, not a rotated one: no reuse, one use after its end. The other sign-in lives on.
    expect(t.takeEvents()).toEqual(['session_use_after_expire']);
    expect((await rotate(other)).refresh).not.toBe(other.refresh);
  });

  it('no Authorization header at all, or a malformed one: the cookie alone signs out', async () => {
    await start();
    const variants: Record<string, string>[] = [{}, { authorization: 'Bearer null' }, { authorization: `Bearer ${'y'.repeat(43)}` }];
    for (const headers of variants) {
      const s = await login();
      t.takeEvents();
      const out = await logout(withCookie(s.refresh, headers));
      expect(out.statusCode, JSON.stringify(headers)).toBe(204);
      expect(refreshCookieLine(out)).toBe(CLEARED);
      expect(t.takeEvents()).toEqual(['authn_token_revoked', 'session_logout']);
      expect(await liveInFamily(await familyOf(s.refresh))).toEqual({ access: 0, refresh: 0 });
      // Its access token, still within its minute, is revoked with the family.
      expect((await t.me(s.access)).statusCode).toBe(401);
    }
  });

  it('a rotated cookie (a lost refresh answer, or a copy) is a reuse: its family revoked, and nothing more, with authn_token_reuse', async () => {
    await start();
    const first = await login();
    const second = await rotate(first);
    const third = await rotate(second);
    const other = await login();
    t.clock.advance(65_000);
    t.takeEvents();

    const out = await logout(withCookie(first.refresh));
    expect(out.statusCode).toBe(204);
    expect(refreshCookieLine(out)).toBe(CLEARED);
    const family = await familyOf(first.refresh);
    // Its three access tokens ended 5 s ago, within REVOKE_MARGIN_MS: revoked and counted too.
    expect(t.events.map((e) => [e.event, e.level, e.description])).toEqual([
      [
        'authn_token_reuse',
        'CRITICAL',
        expect.stringMatching(new RegExp(`^Rotated refresh token of user \\S+ presented again, 65 s after it was rotated: family ${family} revoked \\(3 refresh, 3 access tokens\\)$`)),
      ],
      ['authn_token_revoked', 'WARN', expect.stringMatching(new RegExp(`^Token family ${family} of user \\S+ revoked after reuse$`))],
      ['session_logout', 'INFO', expect.stringMatching(new RegExp(`^User \\S+ ended token family ${family}$`))],
    ]);
    expect(await usableInFamily(family)).toEqual({ access: 0, refresh: 0 });
    expect((await t.post('/refresh-token', undefined, { ...ORIGIN, cookie: `refresh_token=${third.refresh}` })).statusCode).toBe(401);
    expect(await liveInFamily(await familyOf(other.refresh))).toEqual({ access: 1, refresh: 1 });
  });

  it("the reviewer's theft: a rotated cookie replayed at /logout without Origin logs the reuse /refresh-token logs, ending the victim's sign-in", async () => {
    await start();
    // The same replay at each endpoint, one victim each, 120 ms after the rotation.
    const replays = { logout: await login(), refresh: await login() };
    const victims = { logout: await rotate(replays.logout), refresh: await rotate(replays.refresh) };
    t.clock.advance(120);
    t.takeEvents();

    const atLogout = await t.post('/logout', undefined, withCookie(replays.logout.refresh));
    expect([atLogout.statusCode, refreshCookieLine(atLogout)]).toEqual([204, CLEARED]);
    const logoutEvents = t.events.splice(0);
    const atRefresh = await t.post('/refresh-token', undefined, withCookie(replays.refresh.refresh));
    expect([atRefresh.statusCode, atRefresh.json().code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
    const refreshEvents = t.events.splice(0);

    const shape = (e: { event: string; level: string; description: string }) => [e.event, e.level, e.description.replace(/[0-9a-f-]{36}/g, 'ID')];
    expect(logoutEvents.map(shape)).toEqual([
      ['authn_token_reuse', 'CRITICAL', 'Rotated refresh token of user ID presented again, 120 ms after it was rotated: family ID revoked (2 refresh, 2 access tokens)'],
      ['authn_token_revoked', 'WARN', 'Token family ID of user ID revoked after reuse'],
      ['session_logout', 'INFO', 'User ID ended token family ID'],
    ]);
    // Exactly the refusal's events at /refresh-token (which ends no session by itself).
    expect(logoutEvents.slice(0, 2).map(shape)).toEqual(refreshEvents.map(shape));
    for (const victim of [victims.logout, victims.refresh]) {
      expect((await t.me(victim.access)).statusCode).toBe(401);
      expect((await t.post('/refresh-token', undefined, { ...ORIGIN, ...withCookie(victim.refresh) })).statusCode).toBe(401);
    }
  });

  it('an unknown, malformed or already revoked cookie: 204 and the cookie expired, nothing else revoked, no event for a token of no family', async () => {
    await start();
    const other = await login();
    t.takeEvents();
    for (const cookie of ['z'.repeat(43), 'garbage', other.access]) {
      const out = await logout(withCookie(cookie));
      expect([out.statusCode, refreshCookieLine(out)], cookie).toEqual([204, CLEARED]);
    }
    expect(t.takeEvents()).toEqual([]);
    expect(await liveInFamily(await familyOf(other.refresh))).toEqual({ access: 1, refresh: 1 });

    // Signing out twice with one cookie: the second finds its family revoked already.
    expect((await logout(withCookie(other.refresh))).statusCode).toBe(204);
    t.takeEvents();
    const twice = await logout(withCookie(other.refresh));
    expect([twice.statusCode, refreshCookieLine(twice)]).toEqual([204, CLEARED]);
    expect(t.events.map((e) => e.description)).toEqual([
      expect.stringMatching(/^User \S+ signed out with a revoked refresh cookie \(no live access token\): 0 access and 0 refresh tokens revoked$/),
      expect.stringMatching(/^User \S+ ended token family \S+$/),
    ]);
  });

  it('neither a valid bearer nor a cookie: 401 INVALID_TOKEN with its challenge, and the cookie expired all the same', async () => {
    await start();
    const s = await login();
    t.takeEvents();
    const none = await logout({});
    expect([none.statusCode, none.json().code, none.headers['www-authenticate']]).toEqual([401, 'INVALID_TOKEN', 'Bearer realm="api"']);
    expect(refreshCookieLine(none)).toBe(CLEARED);
    t.clock.advance(65_000);
    const expired = await logout({ authorization: `Bearer ${s.access}` });
    expect([expired.statusCode, expired.json().code, expired.headers['www-authenticate']]).toEqual([
      401,
      'INVALID_TOKEN',
      'Bearer realm="api", error="invalid_token"',
    ]);
    expect(refreshCookieLine(expired)).toBe(CLEARED);
    // An empty cookie is no cookie.
    expect((await logout(withCookie(''))).statusCode).toBe(401);
    expect(t.takeEvents()).toEqual([]);
    expect(await liveInFamily(await familyOf(s.refresh))).toEqual({ access: 1, refresh: 1 });
  });

  it('a valid bearer decides as before: its family is revoked, a cookie of another sign-in is only expired', async () => {
    await start();
    const a = await login();
    const b = await login();
    t.takeEvents();
    const out = await logout(withCookie(b.refresh, { authorization: `Bearer ${a.access}` }));
    expect([out.statusCode, refreshCookieLine(out)]).toEqual([204, CLEARED]);
    expect(t.events.map((e) => e.description)).toEqual([
      expect.stringMatching(/^User \S+ signed out: 1 access and 1 refresh tokens revoked$/),
      expect.stringMatching(new RegExp(`^User \\S+ ended token family ${await familyOf(a.refresh)}$`)),
    ]);
    expect(await liveInFamily(await familyOf(a.refresh))).toEqual({ access: 0, refresh: 0 });
    expect(await liveInFamily(await familyOf(b.refresh))).toEqual({ access: 1, refresh: 1 });
  });

  it('an origin that is not allowed is refused before the cookie is read: 403, the cookie kept, the family alive', async () => {
    await start();
    const s = await login();
    t.clock.advance(65_000);
    t.takeEvents();
    const refused = await t.post('/logout', undefined, { origin: 'https://evil.example.com', cookie: `refresh_token=${s.refresh}` });
    expect([refused.statusCode, refused.json().code]).toEqual([403, 'FORBIDDEN']);
    expect(refreshCookieLine(refused)).toBeUndefined();
    expect(await liveInFamily(await familyOf(s.refresh))).toEqual({ access: 1, refresh: 1 });
  });

  it('a sign-out by cookie of 30 families, each while the same family refreshes: nothing of them survives', async () => {
    await start();
    const sessions: Session[] = [];
    for (let i = 0; i < 30; i++) sessions.push(await login());
    t.clock.advance(65_000);
    t.takeEvents();
    const results = await Promise.all(
      sessions.map(async (s) => {
        const [out, refreshed] = await Promise.all([
          logout(withCookie(s.refresh)),
          t.post('/refresh-token', undefined, { ...ORIGIN, cookie: refreshCookies(s) }),
        ]);
        return { out: out.statusCode, refreshed };
      }),
    );
    expect(results.map((r) => r.out)).toEqual(Array(30).fill(204));
    expect({ access: (await usable('access_tokens').execute()).length, refresh: (await usable('refresh_tokens').execute()).length }).toEqual({ access: 0, refresh: 0 });
    for (const { refreshed } of results.filter((r) => r.refreshed.statusCode === 200)) {
      expect((await t.me(refreshed.json().access_token as string)).statusCode).toBe(401);
    }
  });

  it('the cookie-only path is limited to 10 a minute per client; a 429 keeps the cookie and the family; a live bearer is not limited', async () => {
    t = await authApp(engine, { production: true, auth: { limits: { login: MANY, 'refresh-token': MANY } } });
    await t.register('ada@example.com');
    const s = await t.login('ada@example.com');
    const spent = await t.login('ada@example.com');
    await t.post('/logout', undefined, { ...ORIGIN, authorization: `Bearer ${spent.access}` });
    t.takeEvents();
    const codes: number[] = [];
    // Unknown, malformed and revoked cookies, and a cookie with a dead bearer, all count.
    for (let i = 0; i < 10; i++) {
      const cookie = [`${'z'.repeat(42)}${i % 10}`, 'garbage', spent.refresh][i % 3] as string;
      const headers: Record<string, string> = i === 9 ? { authorization: `Bearer ${spent.access}` } : {};
      codes.push((await logout(withCookie(cookie, headers))).statusCode);
    }
    expect(codes).toEqual(Array(10).fill(204));

    const refused = await logout(withCookie(s.refresh));
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED', retry_after: 60, limit: 10, window: 60 });
    expect([refused.headers['retry-after'], refused.headers['x-ratelimit-remaining']]).toEqual(['60', '0']);
    expect(refreshCookieLine(refused)).toBeUndefined();
    expect(await liveInFamily(await familyOf(s.refresh))).toEqual({ access: 1, refresh: 1 });
    expect(t.events.filter((e) => e.event === 'excess_rate_limit_exceeded')).toHaveLength(1);
    expect(t.takeEvents().filter((e) => e.startsWith('authn_token_reuse'))).toEqual([]);

    // Neither a bearer nor a cookie is not counted (401, one cheap answer)…
    expect((await logout({})).statusCode).toBe(401);
    // …another client has its own budget…
    const elsewhere = await t.post('/logout', undefined, { ...ORIGIN, ...withCookie('y'.repeat(43)) }, '192.0.2.77');
    expect([elsewhere.statusCode, elsewhere.headers['x-ratelimit-remaining']]).toEqual([204, '9']);
    // …and a live bearer signs out whatever the budget.
    const out = await logout(withCookie(s.refresh, { authorization: `Bearer ${s.access}` }));
    expect([out.statusCode, refreshCookieLine(out)]).toEqual([204, CLEARED]);
    expect(await liveInFamily(await familyOf(s.refresh))).toEqual({ access: 0, refresh: 0 });
    // After the window, the cookie alone works again.
    t.clock.advance(60_000);
    const other = await t.login('ada@example.com');
    expect((await logout(withCookie(other.refresh))).statusCode).toBe(204);
    expect(await liveInFamily(await familyOf(other.refresh))).toEqual({ access: 0, refresh: 0 });
  });
});
