/**
 * OWASP ASVS 5.0 6.2.2 (users can change their password), 6.2.3 (the change asks for the current
 * and the new password), 7.4.3 (other sessions end after a change of the password), 7.5.1
 * (re-authentication before a change of what authenticates), 6.3.7 (the owner is told), 6.2.4 /
 * 6.2.11 (the new password passes the common-password and context-word checks) and 16.3.1 (the
 * attempts are logged): `POST /api/v1/auth/change-password` (src/auth/password-change.ts). Before
 * it, the reset mail was the only way to a new password (the route answered 404).
 */
import { afterEach, expect, it } from 'vitest';
import { createAccounts } from '../../src/auth/accounts.js';
import { PASSWORD_COMMON, PASSWORD_HAS_EMAIL } from '../../src/auth/password-policy.js';
import { PASSWORD_UNCHANGED } from '../../src/auth/input.js';
import { createAuthRepository } from '../../src/auth/repository.js';
import { waitUntil } from '../helpers/wait-until.js';
import { authApp, eachEngine, PASSWORD, refreshCookie, type AuthApp } from './harness.js';

const NEW_PASSWORD = 'a brand new passphrase 2026';
const MANY = { limit: 10_000, windowSeconds: 60 };
const LIMITS = { login: MANY, 'change-password': MANY, 'forgot-password': MANY, 'reset-password': MANY };

eachEngine('ASVS 6.2.2/6.2.3/7.4.3: changing a password', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function app(): Promise<AuthApp> {
    t = await authApp(engine, { auth: { limits: LIMITS, resetMailMax: { perClient: 100, perAccount: 100, windowSeconds: 3600 } } });
    expect((await t.register('ada@example.com')).statusCode).toBe(201);
    return t;
  }

  const change = (a: AuthApp, access: string, body: unknown, headers: Record<string, string> = {}) =>
    a.post('/change-password', body, { authorization: `Bearer ${access}`, ...headers });

  it('with the current password: 204, every sign-in of the user ends (this one too), the new password signs in, the owner gets a mail', async () => {
    const a = await app();
    const here = await a.login('ada@example.com');
    const elsewhere = await a.login('ada@example.com');
    // A browser sign-in (the /login form's record) and an outstanding reset link of the same user.
    const repo = createAuthRepository(a.db);
    const user = await repo.userByEmail('ada@example.com');
    const web = await a.app.livecomponentsAuth.service.startWebSession(user!, undefined);
    if (web.type !== 'ok') throw new Error('web sign-in refused');
    const accounts = createAccounts({ db: a.db, clock: a.clock });
    expect(await accounts.resolveUser(web.sessionUserId)).not.toBeNull();
    expect((await a.post('/forgot-password', { email: 'ada@example.com' })).statusCode).toBe(202);
    await a.idle();
    const link = /#token=([A-Za-z0-9_-]{43})/.exec(a.mail.messages[0]?.text ?? '')?.[1];
    expect(link).toMatch(/^[A-Za-z0-9_-]{43}$/);
    a.takeEvents();

    const res = await change(a, here.access, { current_password: PASSWORD, new_password: NEW_PASSWORD });
    expect(res.statusCode).toBe(204);
    expect(refreshCookie(res)).toBe('');

    for (const s of [here, elsewhere]) {
      expect((await a.me(s.access)).statusCode).toBe(401);
      expect((await a.refresh(s.refresh)).json().code).toBe('REFRESH_TOKEN_INVALID');
    }
    expect(await accounts.resolveUser(web.sessionUserId)).toBeNull();
    expect((await a.post('/reset-password', { token: link, password: 'yet another passphrase 9' })).json().code).toBe('RESET_TOKEN_INVALID');
    expect((await a.post('/login', { email: 'ada@example.com', password: PASSWORD })).json().code).toBe('INVALID_CREDENTIALS');
    expect((await a.post('/login', { email: 'ada@example.com', password: NEW_PASSWORD })).statusCode).toBe(200);

    const events = a.events.map((e) => e.event);
    expect(events.filter((e) => e === 'authn_password_change')).toHaveLength(1);
    const revoked = a.events.find((e) => e.event === 'authn_token_revoked' && e.description.includes('changed'));
    expect(revoked?.description).toContain('2 access grants, 1 browser sign-ins, 2 refresh tokens and 1 reset links revoked');
    const notice = await waitUntil('the notification mail', () => a.mail.messages.find((m) => m.subject === 'Your password was changed'));
    expect(notice.to).toBe('ada@example.com');
    expect(notice.text).not.toContain(NEW_PASSWORD);
    expect(a.logs.join('\n')).not.toContain(NEW_PASSWORD);
  });

  it('a wrong current password: 401 INVALID_CREDENTIALS, logged, nothing changes', async () => {
    const a = await app();
    const s = await a.login('ada@example.com');
    a.takeEvents();
    const res = await change(a, s.access, { current_password: 'not the password at all', new_password: NEW_PASSWORD });
    expect({ status: res.statusCode, code: res.json().code }).toEqual({ status: 401, code: 'INVALID_CREDENTIALS' });
    expect(a.takeEvents()).toEqual(['authn_password_change_fail']);
    expect((await a.me(s.access)).statusCode).toBe(200);
    expect((await a.post('/login', { email: 'ada@example.com', password: PASSWORD })).statusCode).toBe(200);
    expect(a.mail.messages).toEqual([]);
  });

  it('the new password passes the policy: common, built on the email, equal to the current one, too short or too long: 400 on new_password', async () => {
    const a = await app();
    const s = await a.login('ada@example.com');
    const cases: [unknown, Record<string, string[]>][] = [
      [{ current_password: PASSWORD, new_password: 'password123' }, { new_password: [PASSWORD_COMMON] }],
      [{ current_password: PASSWORD, new_password: 'ada@example.com!!' }, { new_password: [PASSWORD_HAS_EMAIL] }],
      // The same password in another Unicode form (NFKC: the ligature ﬁ is fi) is the same password.
      [{ current_password: PASSWORD, new_password: PASSWORD }, { new_password: [PASSWORD_UNCHANGED] }],
      [{ current_password: 'correct horse battery staple', new_password: 'correct horse battery staple'.replace('st', '\uFB06') }, { new_password: [PASSWORD_UNCHANGED] }],
      [{ current_password: PASSWORD, new_password: 'short' }, { new_password: ['The password must be 8 to 128 characters long.'] }],
      [{ current_password: PASSWORD, new_password: 'x'.repeat(129) }, { new_password: ['The password must be 8 to 128 characters long.'] }],
      [{ new_password: NEW_PASSWORD }, { current_password: ['Enter your current password.'] }],
    ];
    for (const [body, errors] of cases) {
      const res = await change(a, s.access, body);
      expect({ status: res.statusCode, code: res.json().code, errors: res.json().errors }, JSON.stringify(body)).toEqual({ status: 400, code: 'VALIDATION_FAILED', errors });
    }
    // 64 characters and more are accepted (ASVS 6.2.9), spaces and any script included (6.2.5).
    const long = 'Ωμέγα пароль 密码 '.repeat(5).slice(0, 80);
    expect((await change(a, s.access, { current_password: PASSWORD, new_password: long })).statusCode).toBe(204);
    expect((await a.post('/login', { email: 'ada@example.com', password: long })).statusCode).toBe(200);
  });

  it('needs a live bearer token: none, a refresh token in its place, or a foreign origin are refused before any password is checked', async () => {
    const a = await app();
    const s = await a.login('ada@example.com');
    const body = { current_password: PASSWORD, new_password: NEW_PASSWORD };
    expect((await a.post('/change-password', body)).json().code).toBe('INVALID_TOKEN');
    expect((await change(a, s.refresh, body)).json().code).toBe('INVALID_TOKEN');
    const foreign = await change(a, s.access, body, { origin: 'https://evil.example' });
    expect({ status: foreign.statusCode, code: foreign.json().code }).toEqual({ status: 403, code: 'FORBIDDEN' });
    expect((await a.post('/login', { email: 'ada@example.com', password: PASSWORD })).statusCode).toBe(200);
  });

  it('a stolen access token buys at most 10 guesses of the current password an hour, from any number of clients', async () => {
    const a = await app();
    const s = await a.login('ada@example.com');
    for (let i = 0; i < 10; i++) {
      const res = await a.app.inject({
        method: 'POST',
        url: '/api/v1/auth/change-password',
        remoteAddress: `203.0.113.${i + 1}`,
        headers: { authorization: `Bearer ${s.access}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ current_password: `guess number ${i}`, new_password: NEW_PASSWORD }),
      });
      expect(res.json().code).toBe('INVALID_CREDENTIALS');
    }
    const res = await change(a, s.access, { current_password: PASSWORD, new_password: NEW_PASSWORD });
    expect({ status: res.statusCode, code: res.json().code, limit: res.json().limit, window: res.json().window }).toEqual({
      status: 429,
      code: 'RATE_LIMIT_EXCEEDED',
      limit: 10,
      window: 3600,
    });
    expect((await a.post('/login', { email: 'ada@example.com', password: PASSWORD })).statusCode).toBe(200);
  });
});
