/**
 * The longest lifetimes and delays the auth module accepts work end to end, on both engines: at
 * 100 years a token's end still fits PostgreSQL's bigint and the refresh cookie's Max-Age a safe
 * integer (2^53 − 1 minutes had failed every sign-in, a reset lifetime of 1.6e14 minutes every
 * reset mail on PostgreSQL); a breached-password check may take up to 2^31 − 1 ms and is still
 * waited for (2^31 had made it always late, so it failed open).
 */
import { afterEach, expect, it } from 'vitest';
import { authApp, eachEngine, refreshCookieLine, type AuthApp } from './harness.js';

const EMAIL = 'ada@example.com';
const CENTURY_MINUTES = '52596000';

eachEngine('auth lifetime bounds', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('signs in and refreshes with access and refresh tokens of 100 years', async () => {
    t = await authApp(engine, { env: { SANCTUM_ACCESS_TOKEN_EXPIRATION: CENTURY_MINUTES, SANCTUM_REFRESH_TOKEN_EXPIRATION: CENTURY_MINUTES } });
    expect((await t.register(EMAIL)).statusCode).toBe(201);
    const res = await t.post('/login', { email: EMAIL, password: 'correct horse battery staple' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().expires_in).toBe(3_155_760_000);
    expect(refreshCookieLine(res)).toMatch(/Max-Age=3155760000;/);
    expect((await t.me(res.json().access_token)).statusCode).toBe(200);
    const refresh = refreshCookieLine(res)!.split(';')[0]!.split('=')[1];
    expect((await t.refresh(refresh)).statusCode).toBe(200);
  });

  it('mails a reset link with a reset token of 100 years', async () => {
    t = await authApp(engine, { auth: { resetTokenMinutes: Number(CENTURY_MINUTES) } });
    await t.register(EMAIL);
    expect((await t.post('/forgot-password', { email: EMAIL })).statusCode).toBe(202);
    await t.idle();
    expect(t.mail.messages).toHaveLength(1);
  });

  it('waits for a breached-password check with the longest deadline a timer can take', async () => {
    const errors: unknown[] = [];
    t = await authApp(engine, {
      auth: {
        passwordCheckTimeoutMs: 2 ** 31 - 1,
        isPasswordRejected: () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 20)),
        onPasswordCheckError: (error: unknown) => errors.push(error),
      },
    });
    const res = await t.register(EMAIL, 'breached but long enough passphrase');
    expect(res.statusCode, res.body).toBe(400);
    expect(errors).toEqual([]);
  });
});
