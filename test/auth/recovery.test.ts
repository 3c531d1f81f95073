/**
 * Password recovery and the absence of account enumeration: forgot-password answers the same
 * whatever the email, before it looks at it; reset tokens are hashed, single use, 60 minutes, and a
 * reset ends every token of the user. Sign-in failures take the same path for both kinds.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createPasswordHasher, FORGOT_PASSWORD_ANSWER, type MailMessage, type PasswordHasher } from '../../src/auth/index.js';
import { hashToken } from '../../src/auth/tokens.js';
import { authApp, eachEngine, FAST_ARGON2, PASSWORD, refreshCookieLine, type AuthApp } from './harness.js';

const MINUTE = 60_000;
const LINK_RE = /^http:\/\/127\.0\.0\.1:3000\/reset-password#token=([A-Za-z0-9_-]{43})$/m;

function tokenOf(message: MailMessage | undefined): string {
  const token = LINK_RE.exec(message?.text ?? '')?.[1];
  if (token === undefined) throw new Error(`no reset link in ${JSON.stringify(message)}`);
  return token;
}

eachEngine('password recovery', (engine) => {
  let t: AuthApp;
  beforeEach(async () => {
    t = await authApp(engine, { auth: { limits: { 'forgot-password': { limit: 100, windowSeconds: 60 }, 'reset-password': { limit: 100, windowSeconds: 60 } } } });
    await t.register('ada@example.com');
  });
  afterEach(async () => {
    await t.close();
  });

  const forgot = (email: unknown) => t.post('/forgot-password', { email });
  const reset = (token: unknown, password: string) => t.post('/reset-password', { token, password });

  it('answers 202 with the same body and headers for an existing and an unknown email; mails only the account', async () => {
    const known = await forgot('ADA@example.com');
    const unknown = await forgot('nobody@example.com');
    for (const res of [known, unknown]) {
      expect(res.statusCode).toBe(202);
      expect(res.json()).toEqual(FORGOT_PASSWORD_ANSWER);
      expect(refreshCookieLine(res)).toBeUndefined();
    }
    expect(known.body).toBe(unknown.body);
    const names = (res: typeof known) => Object.keys(res.headers).filter((h) => !['date', 'x-request-id'].includes(h)).sort();
    expect(names(known)).toEqual(names(unknown));
    await t.idle();
    expect(t.mail.messages).toHaveLength(1);
    const [message] = t.mail.messages;
    expect(message?.to).toBe('ada@example.com');
    expect(message?.subject).toBe('Reset your password');
    const token = tokenOf(message);
    const rows = await t.db.selectFrom('password_resets').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ token_hash: hashToken(token), expires_at: t.clock.now() + 60 * MINUTE, used_at: null });
  });

  it('answers before it even looks at the account: the answer does not wait for the lookup or the mail', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sent: string[] = [];
    await t.close();
    t = await authApp(engine, {
      auth: {
        mail: {
          kind: 'blocked',
          send: async (m) => {
            await gate;
            sent.push(m.to);
          },
        },
      },
    });
    await t.register('ada@example.com');
    const res = await forgot('ada@example.com');
    expect(res.statusCode).toBe(202);
    expect(sent).toEqual([]);
    release();
    await t.idle();
    expect(sent).toEqual(['ada@example.com']);
  });

  it('still validates the input: 400 VALIDATION_FAILED for a malformed email, 400 INVALID_REQUEST for a non-object', async () => {
    expect((await forgot('not an email')).json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: { email: ['Enter a valid email address.'] } });
    expect((await t.post('/forgot-password', ['ada@example.com'])).json()).toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('a reset sets the new password, is single use, and revokes every token of the user', async () => {
    const a = await t.login('ada@example.com');
    const b = await t.login('ada@example.com');
    await forgot('ada@example.com');
    await t.idle();
    const token = tokenOf(t.mail.messages[0]);
    t.takeEvents();

    const res = await reset(token, 'a brand new password');
    expect(res.statusCode).toBe(204);
    expect(refreshCookieLine(res)).toBe('refresh_token=; Max-Age=0; Path=/api/v1/auth; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict');
    expect(t.takeEvents()).toEqual(['authn_password_change', 'authn_token_revoked']);
    for (const s of [a, b]) {
      expect((await t.me(s.access)).statusCode).toBe(401);
      expect((await t.refresh(s.refresh)).statusCode).toBe(401);
    }
    expect((await t.post('/login', { email: 'ada@example.com', password: PASSWORD })).statusCode).toBe(401);
    expect((await t.post('/login', { email: 'ada@example.com', password: 'a brand new password' })).statusCode).toBe(200);

    const again = await reset(token, 'yet another password');
    expect([again.statusCode, again.json().code]).toEqual([400, 'RESET_TOKEN_INVALID']);
    expect(t.events.filter((e) => e.event === 'authn_password_change_fail').map((e) => [e.level, e.description])).toEqual([
      ['WARN', 'Password reset refused: unknown, used or expired reset token'],
    ]);
    expect((await t.post('/login', { email: 'ada@example.com', password: 'a brand new password' })).statusCode).toBe(200);
  });

  it('two concurrent resets with one token: exactly one succeeds', async () => {
    await forgot('ada@example.com');
    await t.idle();
    const token = tokenOf(t.mail.messages[0]);
    const results = await Promise.all([reset(token, 'first new password'), reset(token, 'second new password')]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([204, 400]);
  });

  it('a reset spends every other outstanding reset token of the user', async () => {
    await forgot('ada@example.com');
    await forgot('ada@example.com');
    await t.idle();
    const [first, second] = t.mail.messages.map(tokenOf);
    expect(first).not.toBe(second);
    expect((await reset(second, 'a brand new password')).statusCode).toBe(204);
    expect((await reset(first, 'another new password')).json()).toMatchObject({ code: 'RESET_TOKEN_INVALID' });
  });

  it('mails one account at most 3 times an hour at the requests of one client, 20 in all: the answer stays 202, the rest is withheld and logged', async () => {
    await t.register('bob@example.com');
    t.takeEvents();
    const ask = (email: string, address: string) => t.post('/forgot-password', { email }, {}, address);
    const answers = [];
    // One client: 3 mails, then withheld. It does not spend the account's budget past its own 3.
    for (let i = 0; i < 5; i++) answers.push(await ask('ada@example.com', '192.0.2.1'));
    await t.idle();
    expect(answers.map((r) => [r.statusCode, r.body])).toEqual(Array(5).fill([202, JSON.stringify(FORGOT_PASSWORD_ANSWER)]));
    expect(t.mail.messages).toHaveLength(3);
    const withheld = () => t.events.filter((e) => e.event === 'excess_rate_limit_exceeded').map((e) => e.description);
    expect(withheld()).toEqual(Array(2).fill(expect.stringMatching(/^Password reset mail for user \S+ withheld: 3 already requested at the requests of this client within 3600 s$/)));
    // Other clients: 17 more reach the account-wide 20, then withheld, whoever asks; another account is not affected.
    for (let i = 2; i <= 8; i++) for (let j = 0; j < 3; j++) await ask('ada@example.com', `192.0.2.${i}`);
    await ask('bob@example.com', '192.0.2.9');
    await t.idle();
    expect(t.mail.messages.filter((m) => m.to === 'ada@example.com')).toHaveLength(20);
    expect(t.mail.messages.filter((m) => m.to === 'bob@example.com')).toHaveLength(1);
    expect(withheld().slice(2)).toEqual(Array(4).fill(expect.stringMatching(/withheld: 20 already requested in all within 3600 s$/)));
    expect(await t.db.selectFrom('password_resets').select('user_id').execute()).toHaveLength(21);
    // An hour after the first, the client's budget is back.
    t.clock.advance(60 * MINUTE);
    await ask('ada@example.com', '192.0.2.1');
    await t.idle();
    expect(t.mail.messages).toHaveLength(22);
  });

  it('reset tokens expire after 60 minutes', async () => {
    await forgot('ada@example.com');
    await t.idle();
    const token = tokenOf(t.mail.messages[0]);
    t.clock.advance(60 * MINUTE);
    expect((await reset(token, 'a brand new password')).json()).toMatchObject({ code: 'RESET_TOKEN_INVALID' });
    expect((await t.post('/login', { email: 'ada@example.com', password: PASSWORD })).statusCode).toBe(200);
  });

  it('refuses malformed and unknown tokens with RESET_TOKEN_INVALID, and weak passwords with VALIDATION_FAILED', async () => {
    for (const token of [undefined, 42, 'short', 'z'.repeat(43)]) {
      const res = await reset(token, 'a brand new password');
      expect([res.statusCode, res.json().code], String(token)).toEqual([400, 'RESET_TOKEN_INVALID']);
    }
    // Each refusal leaves a trace: three malformed tokens, one well-formed but unknown.
    expect(t.takeEvents().filter((e) => e === 'authn_password_change_fail')).toHaveLength(4);
    await forgot('ada@example.com');
    await t.idle();
    const token = tokenOf(t.mail.messages[0]);
    expect((await reset(token, 'short')).json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: { password: ['The password must be 8 to 128 characters long.'] } });
    // The refused attempt did not spend the token.
    expect((await reset(token, 'a brand new password')).statusCode).toBe(204);
  });
});

eachEngine('no enumeration at sign-in', (engine) => {
  let t: AuthApp;
  const calls: string[] = [];
  const counting = (inner: PasswordHasher): PasswordHasher => ({
    params: inner.params,
    hash: (p) => (calls.push('hash'), inner.hash(p)),
    verify: (h, p) => (calls.push('verify'), inner.verify(h, p)),
    verifyDummy: (p) => (calls.push('verifyDummy'), inner.verifyDummy(p)),
  });
  beforeEach(async () => {
    t = await authApp(engine, { auth: { hasher: counting(createPasswordHasher(FAST_ARGON2)) } });
    await t.register('ada@example.com');
    calls.length = 0;
    t.takeEvents();
  });
  afterEach(async () => {
    await t.close();
  });

  it('an unknown email costs one argon2 verification against the dummy hash, a wrong password one against the real hash', async () => {
    await t.post('/login', { email: 'nobody@example.com', password: 'wrong password' }, {}, '10.0.0.1');
    expect(calls).toEqual(['verifyDummy']);
    const unknownEvents = t.takeEvents();
    calls.length = 0;
    await t.post('/login', { email: 'ada@example.com', password: 'wrong password' }, {}, '10.0.0.2');
    expect(calls).toEqual(['verify']);
    expect(t.takeEvents()).toEqual(unknownEvents);
    expect(unknownEvents).toEqual(['authn_login_fail']);
    calls.length = 0;
    await t.post('/login', { email: 'ada@example.com', password: PASSWORD }, {}, '10.0.0.3');
    expect(calls).toEqual(['verify']);
  });
});
