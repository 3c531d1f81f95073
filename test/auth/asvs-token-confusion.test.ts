/**
 * OWASP ASVS 5.0 7.2.1 / 7.2.2 (session tokens verified by the backend, each kind for its own use)
 * and the type confusion V9 warns of for self-contained tokens (9.2.2: a token accepted only for
 * its intended use), applied to this service's opaque tokens: an access token, a refresh token and
 * a password-reset token all look alike (43 base64url characters), so each endpoint must accept
 * only its own kind. Each is presented where another kind belongs: every one is refused, nothing
 * rotates or is revoked, no reset token is spent, and the token still works where it belongs.
 */
import { afterEach, expect, it } from 'vitest';
import { authApp, eachEngine, PASSWORD, type AuthApp } from './harness.js';

const MANY = { limit: 10_000, windowSeconds: 60 };
const LIMITS = { login: MANY, 'refresh-token': MANY, 'forgot-password': MANY, 'reset-password': MANY, logout: MANY };

eachEngine('ASVS 7.2 / 9.2.2: each token only where it belongs', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('access, refresh and reset tokens each refused in the other places, and still good in their own', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    const a = t;
    expect((await a.register('ada@example.com')).statusCode).toBe(201);
    const s = await a.login('ada@example.com');
    expect((await a.post('/forgot-password', { email: 'ada@example.com' })).statusCode).toBe(202);
    await a.idle();
    const reset = /#token=([A-Za-z0-9_-]{43})/.exec(a.mail.messages[0]?.text ?? '')?.[1] as string;
    expect(reset).toMatch(/^[A-Za-z0-9_-]{43}$/);
    a.takeEvents();

    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    // An access token as the refresh cookie, a refresh or reset token as the bearer.
    expect((await a.refresh(s.access)).json().code).toBe('REFRESH_TOKEN_INVALID');
    expect((await a.refresh(reset)).json().code).toBe('REFRESH_TOKEN_INVALID');
    for (const token of [s.refresh, reset]) {
      expect((await a.me(token)).json().code).toBe('INVALID_TOKEN');
      expect((await a.post('/logout-all', undefined, bearer(token))).json().code).toBe('INVALID_TOKEN');
    }
    // An access or refresh token as the reset token.
    for (const token of [s.access, s.refresh]) {
      expect((await a.post('/reset-password', { token, password: 'a brand new passphrase 2026' })).json().code).toBe('RESET_TOKEN_INVALID');
    }
    // An access token or a reset token as the refresh cookie of a cookie-only sign-out: no family is named, nothing revoked.
    for (const token of [s.access, reset]) {
      expect((await a.post('/logout', undefined, { cookie: `refresh_token=${token}` })).statusCode).toBe(204);
    }

    // Nothing was rotated, revoked or spent, and no reuse was taken for one.
    expect(a.takeEvents().filter((e) => e === 'authn_token_reuse' || e === 'authn_token_revoked' || e === 'authn_password_change')).toEqual([]);
    expect((await a.me(s.access)).statusCode).toBe(200);
    const rotated = await a.refresh(s.refresh);
    expect(rotated.statusCode).toBe(200);
    expect((await a.post('/reset-password', { token: reset, password: 'a brand new passphrase 2026' })).statusCode).toBe(204);
    expect((await a.post('/login', { email: 'ada@example.com', password: PASSWORD })).json().code).toBe('INVALID_CREDENTIALS');
  });
});
