/**
 * One decision for every cookie of the reference app: `config.secureCookies` (production with an
 * https `APP_URL`), which names the session cookie `__Host-lc_session`. The auth module took
 * `config.production` instead, so a production configuration without an https `APP_URL` (which
 * `loadConfig` refuses at start-up, but `parseEnv` and an app passing its own `config` do not) got a
 * plain `lc_session` beside a `Secure` refresh cookie and a `__Host-` companion, which a browser on
 * that plain-HTTP address drops: every refresh of its tokens (bound to the dropped companion) refused.
 */
import { afterEach, expect, it } from 'vitest';
import { BINDING_COOKIE } from '../../src/auth/cookie.js';
import { authApp, eachEngine, PASSWORD, setCookies, type AuthApp } from './harness.js';

eachEngine('the refresh cookie is Secure exactly when the session cookie is', (engine) => {
  let t: AuthApp;
  afterEach(async () => {
    await t.close();
  });

  it('production without an https APP_URL: no Secure refresh cookie, no companion, and its tokens refresh', async () => {
    t = await authApp(engine, { production: true, env: { APP_URL: 'http://app.example.com' } });
    expect([t.config.production, t.config.secureCookies]).toEqual([true, false]);
    await t.register('ada@example.com');
    const login = await t.post('/login', { email: 'ada@example.com', password: PASSWORD }, { origin: 'http://app.example.com' });
    expect(login.statusCode).toBe(200);
    const lines = setCookies(login);
    expect(lines.filter((l) => / Secure/.test(l))).toEqual([]);
    expect(lines.some((l) => l.startsWith(`${BINDING_COOKIE}=`))).toBe(false);
    const refresh = (lines.find((l) => l.startsWith('refresh_token=')) as string).split(';')[0] as string;
    const res = await t.post('/refresh-token', undefined, { origin: 'http://app.example.com', cookie: refresh });
    expect(res.statusCode).toBe(200);
  });

  it('production with an https APP_URL: Secure, with the companion', async () => {
    t = await authApp(engine, { production: true });
    expect(t.config.secureCookies).toBe(true);
    await t.register('ada@example.com');
    const login = await t.post('/login', { email: 'ada@example.com', password: PASSWORD }, { origin: 'https://app.example.com' });
    const lines = setCookies(login);
    expect(lines.find((l) => l.startsWith('refresh_token='))).toMatch(/; Secure;/);
    expect(lines.find((l) => l.startsWith(`${BINDING_COOKIE}=`))).toMatch(/; Secure;/);
  });
});
