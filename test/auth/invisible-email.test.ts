/**
 * Default-ignorable code points (Unicode's `Default_Ignorable_Code_Point`: characters that render as
 * nothing, or as blank) in an email address. In the local part they made a second account that looks
 * like another's (`ca\u034Frol@example.com` next to `carol@example.com`); in the domain the IDNA
 * conversion deleted some and refused others. Both are refused now, at registration and at every
 * lookup by email, except, in the domain, ZWNJ (U+200C) and ZWJ (U+200D) where a script uses them
 * (IDNA2008 CONTEXTJ: Persian `می\u200Cر.ir`, Devanagari `क्\u200Dष.in`): the conversion keeps them,
 * and refusing them locked those users out.
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

/** Persian `می‌ر.ir` (ZWNJ between YEH and REH) and its punycode, as Node's domainToASCII gives it. */
const MI = '\u0645\u06CC';
const RE = '\u0631';
const PERSIAN = `${MI}\u200C${RE}.ir`;
const PERSIAN_ASCII = 'xn--wgb3b4z774f.ir';
/** Devanagari KA + VIRAMA, and SSA: `क्‌ष` and `क्‍ष` with ZWNJ or ZWJ after the virama. */
const KA_VIRAMA = '\u0915\u094D';
const SSA = '\u0937';

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

  it('in the domain, accepts only ZWNJ and ZWJ, and only where the script uses them', () => {
    const accepted: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      if (!/\p{Default_Ignorable_Code_Point}/u.test(c)) continue;
      for (const [script, domain] of [
        ['Persian', `${MI}${c}${RE}.ir`],
        ['Devanagari', `${KA_VIRAMA}${c}${SSA}.in`],
        ['Latin', `exa${c}mple.com`],
        ['Latin, before Persian', `exa${c}${RE}.com`],
      ]) {
        if (normaliseEmail(`x@${domain}`) !== null) accepted.push(`${hex(cp)} ${script}`);
      }
    }
    expect(accepted).toEqual(['U+200C Persian', 'U+200C Devanagari', 'U+200D Devanagari']);
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

describe('normaliseEmail: ZWNJ and ZWJ in the domain (IDNA2008 CONTEXTJ)', () => {
  it('accepts a Persian domain with ZWNJ, as the punycode domainToASCII gives (which decodes back with the ZWNJ)', () => {
    expect(normaliseEmail(`x@${PERSIAN}`)).toBe(`x@${PERSIAN_ASCII}`);
    expect(normaliseEmail(`x@${PERSIAN_ASCII}`)).toBe(`x@${PERSIAN_ASCII}`); // typed (or stored) as punycode: the same account
    expect(normaliseEmail(`X@${PERSIAN}`)).toBe(`x@${PERSIAN_ASCII}`);
    expect(normaliseEmail(`x@${MI}\u064E\u200C${RE}.ir`)).toBe('x@xn--wgb3b1a47b732h.ir'); // a vowel mark (transparent) before the ZWNJ
  });

  it('accepts ZWNJ and ZWJ after a virama (Devanagari): two different domains, neither a lookalike of the other', () => {
    expect(normaliseEmail(`x@${KA_VIRAMA}\u200C${SSA}.in`)).toBe('x@xn--11b2ezcs70k.in');
    expect(normaliseEmail(`x@${KA_VIRAMA}\u200D${SSA}.in`)).toBe('x@xn--11b2ezcw70k.in');
  });

  it('refuses them next to Latin, Greek, Cyrillic, digits and hyphens, at a label\'s ends, and ZWJ between Persian letters', () => {
    for (const j of ['\u200C', '\u200D']) {
      for (const domain of [
        `exa${j}mple.com`,
        `${j}example.com`,
        `example${j}.com`,
        `example.${j}com`,
        `ex-${j}ample.com`,
        `ex1${j}ample.com`,
        `exa\u0301${j}mple.com`,
        `\u03b1${j}\u03b2.gr`,
        `\u0430${j}\u0431.ru`,
        `exa${j}${RE}.com`,
        `${MI}${j}${j}${RE}.ir`,
      ]) {
        expect(normaliseEmail(`carol@${domain}`), JSON.stringify(domain)).toBeNull();
      }
    }
    expect(normaliseEmail(`x@${MI}\u200D${RE}.ir`)).toBeNull();
    // The punycode of exa\u200Cmple, typed as such: refused too, not a second example.com.
    expect(normaliseEmail('carol@xn--example-b06c.com')).toBeNull();
  });

  it('refuses what the conversion deletes, in a Persian domain as in a Latin one', () => {
    for (const c of ['\u00AD', '\u034F', '\uFE0F', '\u200B', '\u2060', '\uFEFF']) {
      expect(normaliseEmail(`x@${MI}${c}${RE}.ir`), hex(c.codePointAt(0)!)).toBeNull();
      expect(normaliseEmail(`x@${MI}\u200C${c}${RE}.ir`), hex(c.codePointAt(0)!)).toBeNull();
      expect(normaliseEmail(`carol@exa${c}mple.com`), hex(c.codePointAt(0)!)).toBeNull();
    }
  });

  it('still accepts upper-case, NFD, full-width and punycode spellings of a domain, as the same one', () => {
    expect(normaliseEmail('carol@EXAMPLE.COM')).toBe('carol@example.com');
    expect(normaliseEmail('zo\u00eb@B\u00dcCHER.example')).toBe('zo\u00eb@xn--bcher-kva.example');
    expect(normaliseEmail('zoe\u0308@bu\u0308cher.example')).toBe('zo\u00eb@xn--bcher-kva.example');
    expect(normaliseEmail('zo\u00eb@xn--bcher-kva.example')).toBe('zo\u00eb@xn--bcher-kva.example');
    expect(normaliseEmail('carol@\uff45xample\uff0ecom')).toBe('carol@example.com');
    expect(normaliseEmail('carol@\u4f8b\u3048\u3002jp')).toBe(normaliseEmail('carol@\u4f8b\u3048.jp'));
    expect(normaliseEmail('x@STRA\u00dfE.de')).toBe('x@xn--strae-oqa.de');
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

  it('a Persian domain with ZWNJ registers, signs in (as typed, as punycode, upper-case) and gets its reset mail', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    const res = await t.register(`Shirin@${PERSIAN}`);
    expect(res.statusCode, res.body).toBe(201);
    expect((await t.db.selectFrom('users').select('email').execute()).map((u) => u.email)).toEqual([`shirin@${PERSIAN_ASCII}`]);
    for (const email of [`shirin@${PERSIAN}`, `shirin@${PERSIAN_ASCII}`, `SHIRIN@${PERSIAN}`]) {
      const login = await t.post('/login', { email, password: PASSWORD });
      expect(login.statusCode, `${JSON.stringify(email)}: ${login.body}`).toBe(200);
    }
    expect((await t.register(`shirin@${PERSIAN_ASCII}`)).statusCode).toBe(409); // one account, whichever spelling
    expect((await t.post('/forgot-password', { email: `shirin@${PERSIAN}` })).statusCode).toBe(202);
    await t.idle();
    expect(t.mail.messages.map((m) => m.to)).toEqual([`shirin@${PERSIAN_ASCII}`]);
  });

  it('exa\\u200Cmple.com (ZWNJ after a Latin letter) is refused at register, login and forgot-password', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    expect((await t.register('carol@example.com')).statusCode).toBe(201);
    for (const email of ['carol@exa\u200Cmple.com', 'carol@exa\u200Dmple.com', 'carol@xn--example-b06c.com']) {
      const register = await t.post('/register', { email, password: PASSWORD });
      expect(register.statusCode, register.body).toBe(400);
      expect(register.json().errors?.email).toBeDefined();
      expect((await t.post('/login', { email, password: PASSWORD })).statusCode).toBe(400);
      expect((await t.post('/forgot-password', { email })).statusCode).toBe(400);
    }
    await t.idle();
    expect(t.mail.messages).toEqual([]);
    expect((await t.db.selectFrom('users').select('email').execute()).map((u) => u.email)).toEqual(['carol@example.com']);
  });
});
