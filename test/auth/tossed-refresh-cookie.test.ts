/**
 * Cookie tossing: a sibling subdomain (same site, so `SameSite=Strict` does not stop it) can set a
 * `refresh_token` cookie for the app with `Domain=example.com` and a longer path
 * (`Path=/api/v1/auth/refresh-token`). The browser then sends both, the longer path first:
 * `Cookie: refresh_token=<attacker's>; refresh_token=<victim's>`. The cookie parser keeps the first,
 * so `/refresh-token` rotated the attacker's token and handed the victim's page an access token of
 * the attacker's account (the victim then types their data into it), and `/logout` revoked the
 * attacker's sign-in instead of the victim's. The server cannot tell which of two refresh cookies
 * is its own: it now refuses them both, rotates and revokes nothing.
 */
import { afterEach, expect, it } from 'vitest';
import { authApp, eachEngine, refreshCookie, refreshCookies, type AuthApp } from './harness.js';
import type { LightMyRequestResponse } from 'fastify';

const ORIGIN = { origin: 'https://app.example.com' };

eachEngine('two refresh cookies in one request (a tossed one)', (engine) => {
  let t: AuthApp;
  afterEach(async () => {
    await t.close();
  });

  async function start(): Promise<void> {
    t = await authApp(engine, { production: true });
    await t.register('victim@example.com');
    await t.register('attacker@example.com');
  }
  const emailOf = async (access: string) => (await t.me(access)).json().email as string;

  it('/refresh-token: 401 REFRESH_TOKEN_INVALID, neither token rotated, no access token of the other account', async () => {
    await start();
    const victim = await t.login('victim@example.com');
    const attacker = await t.login('attacker@example.com');

    const res = await t.post('/refresh-token', undefined, { ...ORIGIN, cookie: `refresh_token=${attacker.refresh}; refresh_token=${victim.refresh}` });
    expect([res.statusCode, res.json().code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
    expect(res.json().access_token).toBeUndefined();

    // Neither was spent: each still rotates once, alone (with its companion), for its own account.
    const own = await t.post('/refresh-token', undefined, { ...ORIGIN, cookie: refreshCookies(victim) });
    expect(own.statusCode).toBe(200);
    expect(await emailOf(own.json().access_token as string)).toBe('victim@example.com');
    const theirs = await t.post('/refresh-token', undefined, { ...ORIGIN, cookie: refreshCookies(attacker) });
    expect(theirs.statusCode).toBe(200);
    expect(await emailOf(theirs.json().access_token as string)).toBe('attacker@example.com');
  });

  it('the same value twice is one cookie: rotated as usual', async () => {
    await start();
    const victim = await t.login('victim@example.com');
    const res = await t.post('/refresh-token', undefined, { ...ORIGIN, cookie: `refresh_token=${victim.refresh}; ${refreshCookies(victim)}` });
    expect(res.statusCode).toBe(200);
    expect(refreshCookie(res)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await emailOf(res.json().access_token as string)).toBe('victim@example.com');
  });

  it('/logout without a bearer: revokes neither family (401 INVALID_TOKEN, as with no cookie)', async () => {
    await start();
    const victim = await t.login('victim@example.com');
    const attacker = await t.login('attacker@example.com');

    const res = await t.post('/logout', undefined, { ...ORIGIN, cookie: `refresh_token=${attacker.refresh}; refresh_token=${victim.refresh}` });
    expect([res.statusCode, res.json().code]).toEqual([401, 'INVALID_TOKEN']);
    expect((await t.me(victim.access)).statusCode).toBe(200);
    expect((await t.me(attacker.access)).statusCode).toBe(200);
  });

  /**
   * What the browser sends after an answer: the app's own cookie (host-only, `Path=/api/v1/auth`) is
   * dropped when the answer expires it; the planted one (`Domain=<site>`, a longer path) is not
   * touched by that `Set-Cookie` (another domain and path), so it stays.
   */
  function after(res: LightMyRequestResponse, planted: string, own: string): string {
    const value = refreshCookie(res);
    if (value === undefined) return `refresh_token=${planted}; refresh_token=${own}`;
    return value === '' ? `refresh_token=${planted}` : `refresh_token=${planted}; refresh_token=${value}`;
  }

  for (const route of ['/refresh-token', '/logout'] as const) {
    it(`${route} refusing two cookies does not expire the app's own: the planted one would then be read alone (the next /refresh-token signed the victim in to the attacker's account)`, async () => {
      await start();
      const victim = await t.login('victim@example.com');
      const attacker = await t.login('attacker@example.com');

      const res = await t.post(route, undefined, { ...ORIGIN, cookie: `refresh_token=${attacker.refresh}; refresh_token=${victim.refresh}` });
      expect(res.statusCode).toBe(401);
      // The page tries again (a reload): still two cookies, still refused, no access token of the attacker's.
      const next = await t.post('/refresh-token', undefined, { ...ORIGIN, cookie: after(res, attacker.refresh, victim.refresh) });
      expect([next.statusCode, next.json().code, next.json().access_token]).toEqual([401, 'REFRESH_TOKEN_INVALID', undefined]);
      expect(refreshCookie(res)).toBeUndefined();
    });
  }

  it('/logout with a live bearer and two cookies: revokes the bearer\'s family, and leaves both cookies, so the planted one is never read alone', async () => {
    await start();
    const victim = await t.login('victim@example.com');
    const attacker = await t.login('attacker@example.com');
    const res = await t.post('/logout', undefined, { ...ORIGIN, authorization: `Bearer ${victim.access}`, cookie: `refresh_token=${attacker.refresh}; refresh_token=${victim.refresh}` });
    expect(res.statusCode).toBe(204);
    expect((await t.me(victim.access)).statusCode).toBe(401);
    const next = await t.post('/refresh-token', undefined, { ...ORIGIN, cookie: after(res, attacker.refresh, victim.refresh) });
    expect([next.statusCode, next.json().code, next.json().access_token]).toEqual([401, 'REFRESH_TOKEN_INVALID', undefined]);
    expect(refreshCookie(res)).toBeUndefined();
  });

  it('one cookie: a refused one is still expired (as before)', async () => {
    await start();
    const res = await t.post('/refresh-token', undefined, { ...ORIGIN, cookie: 'refresh_token=not-a-token' });
    expect(res.statusCode).toBe(401);
    expect(refreshCookie(res)).toBe('');
  });
});
