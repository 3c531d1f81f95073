/**
 * A local part mixing scripts made a lookalike second account: `alice@x` and `аlice@x` (Cyrillic
 * а, U+0430) both registered (201), though the module says it refuses addresses that look like
 * another's. Registration now applies UTS #39's Highly Restrictive level (`isMixedScript`): one
 * script, or Latin with Han and Hiragana/Katakana, Bopomofo or Hangul; digits and `.`, `_`, `-`, `+`
 * count for no script. Sign-in and forgot-password look such an address up as before and get an
 * unknown account's answer.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createPasswordHasher, type PasswordHasher } from '../../src/auth/index.js';
import { readEmail } from '../../src/auth/email.js';
import { EMAIL_MIXED_SCRIPT } from '../../src/auth/input.js';
import { isMixedScript, KNOWN_SCRIPTS, withinPatterns } from '../../src/auth/scripts.js';
import { authApp, eachEngine, FAST_ARGON2, PASSWORD, T0, type AuthApp } from './harness.js';

/** [local part, why it is refused]. */
const MIXED: ReadonlyArray<readonly [string, string]> = [
  ['\u0430lice', 'Cyrillic а + Latin'],
  ['alic\u0435', 'Latin + Cyrillic е'],
  ['p\u0430ypal.support', 'Cyrillic а inside Latin, with a dot'],
  ['j\u043eh\u043f', 'Latin + Cyrillic о and п'],
  ['\u03bfscar', 'Greek ο + Latin'],
  ['ada.\u03b1', 'Latin + Greek α after a dot'],
  ['\u0561\u0564\u0561ada', 'Armenian + Latin'],
  ['\u0430\u03b2', 'Cyrillic + Greek'],
  ['\u4e2d\u0430', 'Han + Cyrillic'],
  ['\ud55c\u3072', 'Hangul + Hiragana'],
  ['\u3105\u3072', 'Bopomofo + Hiragana'],
  ['abc\u05d0', 'Latin + Hebrew'],
];

/** Each is one script (or an allowed mix), with Common characters around. */
const ALLOWED = [
  'alice',
  '\u0430\u043b\u0438\u0441\u0430', // алиса, pure Cyrillic
  '\u0430\u043b\u0438\u0441\u0430.1990_7-8+9', // Cyrillic with digits and . _ - +
  '\u03bd\u03b9\u03ba\u03bf\u03c3.42', // νικοσ.42, Greek
  '\u05d3\u05d5\u05d3-7', // Hebrew
  'tanaka\u592a\u90ce\u3072\u3089\u30ab\u30ca', // Latin + Han + Hiragana + Katakana
  '\u30c6\u30b9\u30c8\u30fc', // Katakana with the prolonged sound mark (Hiragana and Katakana)
  'wang\u738b\u3105\u3106', // Latin + Han + Bopomofo
  'kim\u91d1\ud55c\uae00', // Latin + Han + Hangul
  '\u0915\u0916\u0964\u0967', // Devanagari with a danda and a Devanagari digit
  '2024.01-99', // Common only
];

describe('isMixedScript: UTS #39 Highly Restrictive', () => {
  it.each(MIXED)('refuses %j (%s)', (local) => {
    expect(isMixedScript(local)).toBe(true);
    expect(readEmail(`${local}@example.com`)).toEqual({ ok: false, reason: 'mixed-script', asTyped: `${local}@example.com` });
  });

  it('leaves out a script name this runtime does not know rather than failing at import (Node 20.12 has Unicode 15.1; the list names Unicode 17 scripts)', () => {
    const patterns = withinPatterns(['Latin', 'Not_A_Script_Yet', 'Cyrillic'], [['Latin', 'Han']]);
    expect(patterns).toHaveLength(3);
    expect(patterns.map((p) => p.test('alice'))).toEqual([true, false, true]); // Latin alone, and the Latin+Han mix
    expect(patterns.map((p) => p.test('алиса'))).toEqual([false, true, false]);
  });

  it('allows one script, and Latin with Han and Japanese, Bopomofo or Hangul, with digits and . _ - +', () => {
    expect(ALLOWED.filter((local) => isMixedScript(local))).toEqual([]);
    expect(ALLOWED.map((local) => readEmail(`${local}@example.com`).ok)).toEqual(ALLOWED.map(() => true));
  });

  it('does not allow the CJK mixes without their own scripts: Hiragana + Hangul, Bopomofo + Katakana', () => {
    expect(['\u3072\ud55c', '\u3105\u30ab', 'a\u3105\ud55c'].map(isMixedScript)).toEqual([true, true, true]);
  });

  it('the case fold decides, not the typed case: an upper-case Cyrillic А among Latin is refused too', () => {
    expect(readEmail('\u0410LICE@example.com')).toEqual({ ok: false, reason: 'mixed-script', asTyped: '\u0430lice@example.com' });
    expect(readEmail('\u0410\u041b\u0418\u0421\u0410@example.com')).toEqual({ ok: true, email: '\u0430\u043b\u0438\u0441\u0430@example.com' });
  });

  it('every code point of a script is covered by the list: each one alone is allowed', () => {
    const listed = new RegExp(`[${KNOWN_SCRIPTS.map((name) => String.raw`\p{scx=${name}}`).join('')}]`, 'u');
    const ownScript = /[^\p{sc=Common}\p{sc=Inherited}\p{sc=Unknown}]/u;
    const neutral = /[\p{scx=Common}\p{scx=Inherited}]/u;
    const uncovered: string[] = [];
    let scriptChars = 0;
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      // A character with a script of its own, or a Common/Inherited one some scripts share (scx).
      if (!ownScript.test(c) && neutral.test(c)) continue;
      scriptChars++;
      if (!listed.test(c)) uncovered.push(`U+${cp.toString(16).toUpperCase()}`);
    }
    expect(uncovered).toEqual([]);
    expect(scriptChars).toBeGreaterThan(150_000);
    // And the function itself: every letter, mark and digit on its own is one script.
    const refused: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      const c = String.fromCodePoint(cp);
      if (/[\p{L}\p{M}\p{N}]/u.test(c) && isMixedScript(c)) refused.push(`U+${cp.toString(16)}`);
    }
    expect(refused).toEqual([]);
  });
});

const MANY = { limit: 10_000, windowSeconds: 60 };
const LIMITS = { register: MANY, login: MANY, 'forgot-password': MANY };

eachEngine('mixed-script addresses at the API', (engine) => {
  let t: AuthApp;
  afterEach(async () => {
    await t.close();
  });
  const emails = async () => (await t.db.selectFrom('users').select('email').orderBy('email').execute()).map((u) => u.email);

  it('register: 400 VALIDATION_FAILED on the email field for a mix, 201 for one script or an allowed mix', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    expect((await t.register('alice@example.com')).statusCode).toBe(201);
    for (const [local] of MIXED) {
      const res = await t.post('/register', { email: `${local}@example.com`, password: PASSWORD });
      expect([res.statusCode, res.json().code, res.json().errors], local).toEqual([400, 'VALIDATION_FAILED', { email: [EMAIL_MIXED_SCRIPT] }]);
    }
    for (const local of ['\u0430\u043b\u0438\u0441\u0430', 'tanaka\u592a\u90ce\u3072\u3089']) {
      expect((await t.register(`${local}@example.com`)).statusCode, local).toBe(201);
    }
    expect(await emails()).toEqual(['alice@example.com', 'tanaka\u592a\u90ce\u3072\u3089@example.com', '\u0430\u043b\u0438\u0441\u0430@example.com'].sort());
    // Other fields' errors come alongside, as with any refused address.
    const both = await t.post('/register', { email: '\u0430lice@example.com', password: 'short' });
    expect(both.json().errors).toEqual({ email: [EMAIL_MIXED_SCRIPT], password: ['The password must be 8 to 128 characters long.'] });
  });

  it('sign-in with a mix answers as an unknown account, after the same work; forgot-password mails nobody', async () => {
    const calls: string[] = [];
    const real = createPasswordHasher(FAST_ARGON2);
    const hasher: PasswordHasher = {
      params: real.params,
      hash: (p) => real.hash(p),
      verify: (h, p) => (calls.push('verify'), real.verify(h, p)),
      verifyDummy: (p) => (calls.push('verifyDummy'), real.verifyDummy(p)),
    };
    t = await authApp(engine, { auth: { limits: LIMITS, hasher } });
    await t.register('alice@example.com');
    const res = await t.post('/login', { email: '\u0430lice@example.com', password: PASSWORD });
    expect([res.statusCode, res.json().code]).toEqual([401, 'INVALID_CREDENTIALS']);
    expect(calls).toEqual(['verifyDummy']);
    expect((await t.post('/forgot-password', { email: '\u0430lice@example.com' })).statusCode).toBe(202);
    await t.idle();
    expect(t.mail.messages).toEqual([]);
  });

  it('an account registered under a mix before the rule still signs in and gets its reset mail', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    const hash = await createPasswordHasher(FAST_ARGON2).hash(PASSWORD);
    await t.db.insertInto('users').values({ id: randomUUID(), email: '\u0430lice@example.com', name: null, password_hash: hash, created_at: T0, updated_at: T0 }).execute();
    expect((await t.post('/login', { email: '\u0410lice@EXAMPLE.com', password: PASSWORD })).statusCode).toBe(200);
    expect((await t.post('/forgot-password', { email: '\u0430lice@example.com' })).statusCode).toBe(202);
    await t.idle();
    expect(t.mail.messages.map((m) => m.to)).toEqual(['\u0430lice@example.com']);
  });
});
