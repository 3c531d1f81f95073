/**
 * `secureCookies` decides two things at once: the cookies' `Secure` (and `__Host-` names), which
 * take any truthy value, and the binding of refresh tokens to their companion cookie, which took only
 * `true`. A string from the environment (`'true'`, and `'false'` alike) gave Secure cookies and
 * tokens bound to nothing: the login-CSRF defence off without a word. A non-boolean is refused.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
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
