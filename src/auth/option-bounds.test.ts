/**
 * The auth options are refused at start-up when the store, the database or a timer could not take
 * them: before, they started and then every sign-in (or every reset mail) failed.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { MAX_LIFETIME_MINUTES } from '../pipeline/options.js';
import { createRefreshCookie } from './cookie.js';
import { registerAuth, type RegisterAuthOptions } from './index.js';
import { resolveSettings, type AuthServiceOptions } from './settings.js';

const base = {
  db: { getExecutor: () => ({ adapter: {} }) },
  store: {},
  events: { emit: () => undefined },
  mail: { send: async () => undefined },
  hasher: {},
  resetUrl: 'https://app.example.com/reset-password',
} as unknown as AuthServiceOptions;

const settings = (extra: Partial<AuthServiceOptions>) => resolveSettings({ ...base, ...extra });

describe('auth lifetimes', () => {
  it.each([
    [{ accessTokenMinutes: 1e14, refreshTokenMinutes: 1e14 }, /accessTokenMinutes must be a positive whole number of minutes, at most 52596000 minutes \(100 years\)/],
    [{ refreshTokenMinutes: Number.MAX_SAFE_INTEGER }, /refreshTokenMinutes must be .* at most 52596000/],
    [{ refreshFamilyMinutes: MAX_LIFETIME_MINUTES + 1 }, /refreshFamilyMinutes must be .* at most 52596000/],
    [{ resetTokenMinutes: 1.6e14 }, /resetTokenMinutes must be .* at most 52596000/],
    [{ webSessionMinutes: MAX_LIFETIME_MINUTES + 1 }, /webSessionMinutes must be .* at most 52596000/],
    [{ resetTokenMinutes: 0 }, /resetTokenMinutes must be a positive whole number of minutes/],
  ])('refuses %j', (extra, message) => {
    expect(() => settings(extra)).toThrow(message);
  });

  it('takes 100 years for each', () => {
    const m = MAX_LIFETIME_MINUTES;
    const s = settings({ accessTokenMinutes: m, refreshTokenMinutes: m, refreshFamilyMinutes: m, resetTokenMinutes: m, webSessionMinutes: m });
    expect([s.accessTtlMs, s.refreshTtlMs, s.familyTtlMs, s.resetTtlMs, s.webSessionTtlMs]).toEqual(Array(5).fill(m * 60_000));
  });
});

describe('auth rate limits take the bounds of the action rate limits', () => {
  it.each([
    [{ limits: { 'login-account': { limit: 2 ** 31, windowSeconds: 60 } } }, /limits\['login-account'\]\.limit must be a positive integer, at most 2147483647/],
    [{ limits: { 'login-account': { limit: 5, windowSeconds: 2_000_000_000 } } }, /limits\['login-account'\]\.windowSeconds must be .* at most 1099511627/],
    [{ limits: { 'login-device': { limit: 2 ** 31, windowSeconds: 60 } } }, /limits\['login-device'\]\.limit must be/],
    [{ limits: { 'login-device': { limit: 5, windowSeconds: 2_000_000_000 } } }, /limits\['login-device'\]\.windowSeconds must be/],
    [{ limits: { 'login-device': { limit: 0, windowSeconds: 60 } } }, /limits\['login-device'\]\.limit must be a positive integer/],
    [{ loginFailMax: { failures: 2 ** 31, windowSeconds: 60 } }, /loginFailMax\.failures must be a positive integer, at most 2147483647/],
    [{ loginFailMax: { failures: 5, windowSeconds: 2_000_000_000 } }, /loginFailMax\.windowSeconds must be .* at most 1099511627/],
    [{ loginFailMax: { failures: 5, windowSeconds: 1.5 } }, /loginFailMax\.windowSeconds must be a positive whole number of seconds/],
    [{ resetMailMax: { perClient: 2 ** 31, perAccount: 20, windowSeconds: 60 } }, /resetMailMax\.perClient must be .* at most 2147483647/],
    [{ resetMailMax: { perClient: 3, perAccount: 2 ** 31, windowSeconds: 60 } }, /resetMailMax\.perAccount must be .* at most 2147483647/],
    [{ resetMailMax: { perClient: 3, perAccount: 20, windowSeconds: 2_000_000_000 } }, /resetMailMax\.windowSeconds must be .* at most 1099511627/],
  ])('refuses %j', (extra, message) => {
    expect(() => settings(extra as Partial<AuthServiceOptions>)).toThrow(message);
  });

  it('takes the largest limit and window the store accepts', () => {
    const big = { limit: 2 ** 31 - 1, windowSeconds: 1_099_511_627 };
    const s = settings({
      limits: { 'login-account': big, 'login-device': big },
      loginFailMax: { failures: big.limit, windowSeconds: big.windowSeconds },
      resetMailMax: { perClient: big.limit, perAccount: big.limit, windowSeconds: big.windowSeconds },
    });
    expect([s.loginPerAccount, s.loginPerDevice]).toEqual([big, big]);
    expect(s.resetMailMax.windowMs).toBe(big.windowSeconds * 1000);
  });
});

describe('auth timers', () => {
  it('refuses a passwordCheckTimeoutMs a timer cannot wait (the hook was always late, and failed open)', () => {
    expect(() => settings({ passwordCheckTimeoutMs: 2 ** 31 })).toThrow(/^Auth: passwordCheckTimeoutMs must be a positive whole number of ms, at most 2147483647 ms/);
    expect(() => settings({ passwordCheckTimeoutMs: 0 })).toThrow(/passwordCheckTimeoutMs must be a positive whole number/);
    expect(settings({ passwordCheckTimeoutMs: 2 ** 31 - 1 }).passwordCheckTimeoutMs).toBe(2 ** 31 - 1);
  });

  it('refuses a closeWaitMs a timer cannot wait, before registering anything', async () => {
    for (const closeWaitMs of [2 ** 31, -1, 1.5, Number.NaN]) {
      const app = Fastify();
      await expect(registerAuth(app, { ...base, appOrigin: 'https://app.example.com', closeWaitMs } as RegisterAuthOptions), String(closeWaitMs)).rejects.toThrow(
        /^Auth: closeWaitMs must be a whole number of ms from 0 to 2147483647 ms/,
      );
      expect(app.hasDecorator('livecomponentsAuth')).toBe(false);
      await app.close();
    }
  });
});

describe('refresh cookie', () => {
  it('refuses a Max-Age the cookie serialiser would refuse later, outside the app error handler', () => {
    const set: unknown[] = [];
    const reply = { getHeader: () => undefined, header: (...args: unknown[]) => set.push(args) };
    const cookie = createRefreshCookie(false);
    for (const bad of [5.4e17, 1.5, -1, Number.NaN]) expect(() => cookie.write(reply as never, 'token', bad), String(bad)).toThrow(/Max-Age must be a whole number of seconds/);
    expect(set).toEqual([]);
    cookie.write(reply as never, 'token', 3_155_760_000);
    expect(set).toHaveLength(1);
  });
});

/**
 * `secureCookies` decides two things at once: the cookies' `Secure` (and `__Host-` names), which
 * take any truthy value, and the binding of refresh tokens to their companion cookie, which took only
 * `true`. A string from the environment (`'true'`, and `'false'` alike) gave Secure cookies and
 * tokens bound to nothing: the login-CSRF defence off without a word. A non-boolean is refused.
 */
describe('secureCookies', () => {
  it.each(['true', 'false', 1, 0, null])('refuses %j', (value) => {
    expect(() => resolveSettings({ ...base, secureCookies: value as unknown as boolean })).toThrow('Auth: secureCookies must be true or false');
  });

  it('binds refresh tokens exactly when it is true', () => {
    expect([true, false, undefined].map((secureCookies) => resolveSettings({ ...base, secureCookies }).bindRefreshTokens)).toEqual([true, false, false]);
  });

  it('registerAuth refuses a string before it registers anything', async () => {
    const app = Fastify();
    try {
      const options = { ...base, appOrigin: 'https://app.example.com', cleanupIntervalMs: 0, secureCookies: 'true' } as unknown as RegisterAuthOptions;
      await expect(registerAuth(app, options)).rejects.toThrow('Auth: secureCookies must be true or false, got string');
    } finally {
      await app.close();
    }
  });
});
