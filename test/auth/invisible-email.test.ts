/**
 * Default-ignorable code points (Unicode's `Default_Ignorable_Code_Point`: characters that render as
 * nothing, or as blank) in an email address. In the local part they made a second account that looks
 * like another's (`ca\u034Frol@example.com` next to `carol@example.com`); in the domain the IDNA
 * conversion deleted some and refused others. Both are refused now, at registration and at every
 * lookup by email.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { normaliseEmail } from '../../src/auth/index.js';
import { authApp, eachEngine, PASSWORD, type AuthApp } from './harness.js';

/** [code point, name]: the five that registered a lookalike account, then more of the property. */
const IGNORABLES: ReadonlyArray<readonly [number, string]> = [
  [0x034f, 'COMBINING GRAPHEME JOINER'],
  [0x3164, 'HANGUL FILLER'],
  [0xfe0f, 'VARIATION SELECTOR-16'],
  [0x115f, 'HANGUL CHOSEONG FILLER'],
  [0xffa0, 'HALFWIDTH HANGUL FILLER'],
  [0x1160, 'HANGUL JUNGSEONG FILLER'],
  [0x2060, 'WORD JOINER'],
  [0x180e, 'MONGOLIAN VOWEL SEPARATOR'],
  [0x180b, 'MONGOLIAN FREE VARIATION SELECTOR ONE'],
  [0x17b4, 'KHMER VOWEL INHERENT AQ'],
  [0x2064, 'INVISIBLE PLUS'],
  [0x2065, 'unassigned, default-ignorable'],
  [0xfeff, 'ZERO WIDTH NO-BREAK SPACE (inside the address)'],
  [0xe0041, 'TAG LATIN CAPITAL LETTER A'],
  [0xe0100, 'VARIATION SELECTOR-17'],
  [0x200b, 'ZERO WIDTH SPACE'],
];

const MANY = { limit: 10_000, windowSeconds: 60 };
const LIMITS = { register: MANY, login: MANY, 'forgot-password': MANY };

const hex = (cp: number): string => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

describe('normaliseEmail: default-ignorable code points', () => {
  describe.each(IGNORABLES.map(([cp, name]) => [hex(cp), name, String.fromCodePoint(cp)] as const))('%s %s', (_hex, _name, c) => {
    it('refuses it inside, at the end and at the start of the local part', () => {
      expect(normaliseEmail(`ca${c}rol@example.com`)).toBeNull();
      expect(normaliseEmail(`carol${c}@example.com`)).toBeNull();
      // (U+FEFF at an end is trimmed like a space: the same account, not a second one.)
      if (c.trim() !== '') expect(normaliseEmail(`${c}carol@example.com`)).toBeNull();
    });

    it('refuses it in the domain (IDNA would have deleted some and refused others)', () => {
      expect(normaliseEmail(`carol@exa${c}mple.com`)).toBeNull();
      expect(normaliseEmail(`carol@example${c}.com`)).toBeNull();
      expect(normaliseEmail(`carol@b\u00fccher${c}.example`)).toBeNull();
    });
  });

  it('refuses every default-ignorable code point, in the local part and in the domain', () => {
    const accepted: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      if (!/\p{Default_Ignorable_Code_Point}/u.test(c)) continue;
      if (normaliseEmail(`ca${c}rol@example.com`) !== null) accepted.push(`${hex(cp)} in the local part`);
      if (normaliseEmail(`carol@exa${c}mple.com`) !== null) accepted.push(`${hex(cp)} in the domain`);
    }
    expect(accepted).toEqual([]);
  });

  it('refuses tabs and line breaks inside the domain (IDNA deleted them: exa\\tmple.com was example.com)', () => {
    for (const c of ['\t', '\n', '\r', ' ', '\u00a0']) expect(normaliseEmail(`carol@exa${c}mple.com`)).toBeNull();
  });

  it('still accepts visible non-ASCII letters, Hangul syllables included', () => {
    expect(normaliseEmail('zo\u00eb@b\u00fccher.example')).toBe('zo\u00eb@xn--bcher-kva.example');
    expect(normaliseEmail('\ud55c\uae00@example.com')).toBe('\ud55c\uae00@example.com');
    expect(normaliseEmail(' carol@example.com\ufeff')).toBe('carol@example.com'); // a BOM at an end is trimmed, like a space
  });
});

eachEngine('default-ignorable code points at the API', (engine) => {
  let t: AuthApp;
  afterEach(async () => {
    await t.close();
  });

  it('register: 400 VALIDATION_FAILED for each lookalike of carol@example.com, and carol stays the only user', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    expect((await t.register('carol@example.com')).statusCode).toBe(201);
    const outcomes: string[] = [];
    for (const [cp] of IGNORABLES) {
      const c = String.fromCodePoint(cp);
      for (const email of [`ca${c}rol@example.com`, `carol${c}@example.com`, `carol@exa${c}mple.com`]) {
        const res = await t.post('/register', { email, password: PASSWORD });
        const body = res.json();
        if (res.statusCode !== 400 || body.code !== 'VALIDATION_FAILED' || body.errors?.email === undefined) outcomes.push(`${hex(cp)} ${JSON.stringify(email)}: ${res.statusCode} ${res.body}`);
      }
    }
    expect(outcomes).toEqual([]);
    expect((await t.db.selectFrom('users').select('email').execute()).map((u) => u.email)).toEqual(['carol@example.com']);
  });

  it('login and forgot-password: a lookalike address is refused as invalid, never looked up as carol', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    expect((await t.register('carol@example.com')).statusCode).toBe(201);
    expect((await t.post('/login', { email: 'carol@example.com', password: PASSWORD })).statusCode).toBe(200);
    const outcomes: string[] = [];
    for (const [cp] of IGNORABLES) {
      const c = String.fromCodePoint(cp);
      for (const email of [`ca${c}rol@example.com`, `carol@exa${c}mple.com`]) {
        const login = await t.post('/login', { email, password: PASSWORD });
        if (login.statusCode !== 400 || login.json().errors?.email === undefined) outcomes.push(`login ${hex(cp)} ${JSON.stringify(email)}: ${login.statusCode} ${login.body}`);
        const forgot = await t.post('/forgot-password', { email });
        if (forgot.statusCode !== 400) outcomes.push(`forgot-password ${hex(cp)} ${JSON.stringify(email)}: ${forgot.statusCode} ${forgot.body}`);
      }
    }
    await t.idle();
    expect(outcomes).toEqual([]);
    expect(t.mail.messages).toEqual([]);
  });
});
