/**
 * New passwords were only length-checked: the account's own email, `password` and `12345678`
 * registered with 201, and a reset took them too. NIST SP 800-63B asks for a blocklist: registration
 * and reset now refuse the common passwords (after NFKC and case folding), a password containing
 * the email or its local part (4+ characters), and whatever the app's `isPasswordRejected` hook
 * refuses (fail-open when it throws or is late). Sign-in does not apply the policy.
 */
import { randomUUID } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createPasswordHasher } from '../../src/auth/index.js';
import { COMMON_PASSWORDS } from '../../src/auth/common-passwords.js';
import { foldCase } from '../../src/auth/email.js';
import { PASSWORD_MIN_LENGTH } from '../../src/auth/password.js';
import { PASSWORD_BREACHED, PASSWORD_COMMON, PASSWORD_HAS_EMAIL, passwordRefusal } from '../../src/auth/password-policy.js';
import { authApp, eachEngine, FAST_ARGON2, PASSWORD, T0, type AuthApp } from './harness.js';

describe('passwordRefusal', () => {
  it('refuses the common passwords in any case and compatibility form', () => {
    for (const p of ['password', 'PASSWORD', 'Password', 'pAsSwOrD1', '12345678', '123456789', '1234567890', 'qwertyuiop', 'iloveyou', 'Sunshine1']) {
      expect(passwordRefusal(p), p).toBe(PASSWORD_COMMON);
    }
    // Full-width letters and digits (NFKC), and the fold of a capital sharp s: each is on the list.
    expect(passwordRefusal('\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44')).toBe(PASSWORD_COMMON);
    expect(passwordRefusal('\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18')).toBe(PASSWORD_COMMON);
    expect(passwordRefusal('PASSWORD1'.normalize('NFD'))).toBe(PASSWORD_COMMON);
  });

  it('the list holds only folded passwords that meet the length rule', () => {
    const bad = [...COMMON_PASSWORDS].filter((p) => foldCase(p.normalize('NFKC')) !== p || [...p].length < PASSWORD_MIN_LENGTH);
    expect(bad).toEqual([]);
    // The hand-picked list; the top 5,000 (TOP_PASSWORDS) are checked beside it.
    expect(COMMON_PASSWORDS.size).toBeGreaterThanOrEqual(200);
    expect(COMMON_PASSWORDS.size).toBeLessThanOrEqual(500);
  });

  it('refuses the email, and a password containing it or its local part of 4+ characters', () => {
    const email = 'ada.lovelace@example.com';
    for (const p of ['ada.lovelace@example.com', 'ADA.LOVELACE@EXAMPLE.COM', 'my ada.lovelace@example.com!', 'ada.lovelace', 'Ada.Lovelace1815', 'xx-ADA.LOVELACE-xx']) {
      expect(passwordRefusal(p, email), p).toBe(PASSWORD_HAS_EMAIL);
    }
    // The domain as typed in Unicode, against the stored punycode form.
    expect(passwordRefusal('zoë@bücher.example', 'zoë@xn--bcher-kva.example')).toBe(PASSWORD_HAS_EMAIL);
    expect(passwordRefusal('ZOË@BÜCHER.EXAMPLE', 'zoë@xn--bcher-kva.example')).toBe(PASSWORD_HAS_EMAIL);
    expect(passwordRefusal('i am zoë, hello', 'zoë@xn--bcher-kva.example')).toBeNull(); // a 3-letter local part is not looked for
    expect(passwordRefusal('jöhn-straße-2024', 'jöhnstrasse@example.com')).toBeNull();
    expect(passwordRefusal('JÖHNSTRASSE2024', 'jöhnstrasse@example.com')).toBe(PASSWORD_HAS_EMAIL); // folded: ß = ss
    // A domain with IDNA's deviation characters (ß, ς), which its Unicode form keeps and the password's fold does not.
    expect(passwordRefusal('ada@straße.de', 'ada@xn--strae-oqa.de')).toBe(PASSWORD_HAS_EMAIL);
    expect(passwordRefusal('ADA@STRASSE.DE', 'ada@xn--strae-oqa.de')).toBe(PASSWORD_HAS_EMAIL);
    expect(passwordRefusal('adu@σας.gr', `adu@${domainToASCII('σας.gr')}`)).toBe(PASSWORD_HAS_EMAIL);
    expect(passwordRefusal('johnstrasse-2024', 'jöhnstrasse@example.com')).toBeNull();
  });

  it('lets a strong password through, with or without an email', () => {
    expect(passwordRefusal('correct horse battery staple')).toBeNull();
    expect(passwordRefusal('correct horse battery staple', 'ada.lovelace@example.com')).toBeNull();
    expect(passwordRefusal('password manager ftw 42')).toBeNull(); // contains a common password, is not one
  });
});

const MANY = { limit: 10_000, windowSeconds: 60 };
const LIMITS = { register: MANY, login: MANY, 'forgot-password': MANY, 'reset-password': MANY };
const STRONG = 'a brand new passphrase';

eachEngine('the password policy at the API', (engine) => {
  let t: AuthApp;
  afterEach(async () => {
    await t.close();
  });
  const users = async () => (await t.db.selectFrom('users').select('email').orderBy('email').execute()).map((u) => u.email);
  const refusedWith = (res: { statusCode: number; json: () => Record<string, unknown> }) => [res.statusCode, res.json().code, res.json().errors];

  async function mailedToken(email: string): Promise<string> {
    await t.post('/forgot-password', { email });
    await t.idle();
    const token = /#token=([A-Za-z0-9_-]{43})/.exec(t.mail.messages.at(-1)?.text ?? '')?.[1];
    if (token === undefined) throw new Error('no reset mail');
    return token;
  }

  it('register: 400 VALIDATION_FAILED on password for the email, its local part and common passwords; no account is made', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    const cases: ReadonlyArray<readonly [string, string, string]> = [
      ['same@example.com', 'same@example.com', PASSWORD_HAS_EMAIL],
      ['Same.Case@Example.com', 'SAME.CASE@EXAMPLE.COM', PASSWORD_HAS_EMAIL],
      ['margaret@example.com', 'margaret-1969!', PASSWORD_HAS_EMAIL],
      ['p@example.com', 'password', PASSWORD_COMMON],
      ['q@example.com', '12345678', PASSWORD_COMMON],
      ['r@example.com', 'QwertyUIOP', PASSWORD_COMMON],
      ['s@example.com', '\uff49\uff4c\uff4f\uff56\uff45\uff59\uff4f\uff55', PASSWORD_COMMON],
    ];
    for (const [email, password, message] of cases) {
      const res = await t.post('/register', { email, password });
      expect(refusedWith(res), `${email} / ${password}`).toEqual([400, 'VALIDATION_FAILED', { password: [message] }]);
      // The answer never echoes the password (`password` is the field's name, of course in it).
      if (password !== 'password') expect(res.body.includes(password), password).toBe(false);
    }
    expect(await users()).toEqual([]);
    // With other fields' errors alongside.
    const both = await t.post('/register', { email: 'not an email', password: 'password1' });
    expect(both.json().errors).toEqual({ email: ['Enter a valid email address.'], password: [PASSWORD_COMMON] });
    // A strong password, and one holding a short (3-letter) local part, register.
    expect((await t.register('margaret@example.com', STRONG)).statusCode).toBe(201);
    expect((await t.register('ada@example.com', 'ada and her engine')).statusCode).toBe(201);
    expect(await users()).toEqual(['ada@example.com', 'margaret@example.com']);
  });

  it('reset: refused likewise (the token stays live for a better password); the email is the token owner\u2019s', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    await t.register('margaret@example.com');
    await t.register('other.user@example.com');
    const token = await mailedToken('margaret@example.com');
    for (const [password, message] of [
      ['password', PASSWORD_COMMON],
      ['Margaret@Example.com', PASSWORD_HAS_EMAIL],
      ['margaret-1969!', PASSWORD_HAS_EMAIL],
    ] as const) {
      const res = await t.post('/reset-password', { token, password });
      expect(refusedWith(res), password).toEqual([400, 'VALIDATION_FAILED', { password: [message] }]);
    }
    // Another account's local part is no reason to refuse.
    expect((await t.post('/reset-password', { token, password: 'other.user 2024 xyz' })).statusCode).toBe(204);
    expect((await t.post('/login', { email: 'margaret@example.com', password: 'other.user 2024 xyz' })).statusCode).toBe(200);
    // A common password with an unknown token: the password is refused first, as the length rule is.
    const unknown = await t.post('/reset-password', { token: 'z'.repeat(43), password: 'iloveyou' });
    expect(refusedWith(unknown)).toEqual([400, 'VALIDATION_FAILED', { password: [PASSWORD_COMMON] }]);
    // An email-based password with an unknown token: the token's answer, nothing about any account.
    const unknownEmail = await t.post('/reset-password', { token: 'z'.repeat(43), password: 'margaret@example.com' });
    expect([unknownEmail.statusCode, unknownEmail.json().code]).toEqual([400, 'RESET_TOKEN_INVALID']);
  });

  it('sign-in does not apply the policy: accounts with weak passwords from before still sign in', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    const hasher = createPasswordHasher(FAST_ARGON2);
    const old: ReadonlyArray<readonly [string, string]> = [
      ['weak@example.com', 'password'],
      ['digits@example.com', '12345678'],
      ['self@example.com', 'self@example.com'],
    ];
    for (const [email, password] of old) {
      await t.db
        .insertInto('users')
        .values({ id: randomUUID(), email, name: null, password_hash: await hasher.hash(password), created_at: T0, updated_at: T0 })
        .execute();
    }
    for (const [email, password] of old) expect((await t.post('/login', { email, password })).statusCode, email).toBe(200);
  });

  it('isPasswordRejected: true refuses at register and reset; false lets through; it sees the NFKC password once per check', async () => {
    const asked: string[] = [];
    const breached = new Set(['correct horse battery staple', 'tr0ub4dor&3 is breached']);
    t = await authApp(engine, {
      auth: { limits: LIMITS, isPasswordRejected: async (p: string) => (asked.push(p), breached.has(p)) },
    });
    const refused = await t.post('/register', { email: 'ada@example.com', password: PASSWORD });
    expect(refusedWith(refused)).toEqual([400, 'VALIDATION_FAILED', { password: [PASSWORD_BREACHED] }]);
    expect(await users()).toEqual([]);
    // Not asked about what the built-in checks refuse already.
    expect((await t.post('/register', { email: 'ada@example.com', password: 'password' })).statusCode).toBe(400);
    expect(asked).toEqual([PASSWORD]);
    expect((await t.post('/register', { email: 'ada@example.com', password: '\ufb01ne strong words' })).statusCode).toBe(201);
    expect(asked).toEqual([PASSWORD, 'fine strong words']);
    const token = await mailedToken('ada@example.com');
    asked.length = 0;
    const reset = await t.post('/reset-password', { token, password: 'tr0ub4dor&3 is breached' });
    expect(refusedWith(reset)).toEqual([400, 'VALIDATION_FAILED', { password: [PASSWORD_BREACHED] }]);
    expect((await t.post('/reset-password', { token, password: STRONG })).statusCode).toBe(204);
    expect(asked).toEqual(['tr0ub4dor&3 is breached', STRONG]);
    // An unknown token never reaches the hook.
    expect((await t.post('/reset-password', { token: 'z'.repeat(43), password: 'unknown token words' })).json().code).toBe('RESET_TOKEN_INVALID');
    expect(asked).toEqual(['tr0ub4dor&3 is breached', STRONG]);
    // Sign-in never asks it.
    expect((await t.post('/login', { email: 'ada@example.com', password: STRONG })).statusCode).toBe(200);
    expect(asked).toHaveLength(2);
  });

  it('isPasswordRejected fails open: a throw, a rejection, a non-boolean and a hook past its deadline each accept the password and are reported', async () => {
    const errors: string[] = [];
    const hooks: Array<(p: string) => Promise<boolean> | boolean> = [
      () => {
        throw new Error('breach service: sync failure');
      },
      async () => Promise.reject(new Error('breach service: 503')),
      () => 'yes' as unknown as boolean,
      () => new Promise<boolean>(() => undefined), // never answers
      () => new Promise<boolean>((_, reject) => setTimeout(() => reject(new Error('late failure')), 60)), // rejects after the deadline
    ];
    let current = hooks[0]!;
    t = await authApp(engine, {
      auth: {
        limits: LIMITS,
        isPasswordRejected: (p: string) => current(p),
        passwordCheckTimeoutMs: 20,
        onPasswordCheckError: (error: unknown) => errors.push(error instanceof Error ? error.message : String(error)),
      },
    });
    for (const [i, hook] of hooks.entries()) {
      current = hook;
      expect((await t.register(`user${i}@example.com`, STRONG)).statusCode, `hook ${i}`).toBe(201);
    }
    expect(errors).toEqual([
      'breach service: sync failure',
      'breach service: 503',
      'isPasswordRejected answered string, not a boolean',
      'isPasswordRejected gave no answer within 20 ms',
      'isPasswordRejected gave no answer within 20 ms',
    ]);
    // The reset path fails open the same way.
    current = hooks[1]!;
    const token = await mailedToken('user0@example.com');
    expect((await t.post('/reset-password', { token, password: 'another strong phrase' })).statusCode).toBe(204);
    expect(errors.at(-1)).toBe('breach service: 503');
    expect(errors).toHaveLength(6);
    // The late rejection of hook 4 settles unread (no unhandled rejection reaches the process).
    await new Promise((resolve) => setTimeout(resolve, 80));
  });
});
