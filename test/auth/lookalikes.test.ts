/**
 * Lookalikes through Unicode compatibility characters and a dotted i, in email addresses, and
 * spoofing format characters in display names.
 *
 * Emails: the domain gets NFKC, the local part only NFC and lower-casing, so `ﬁnance@x` (U+FB01),
 * `𝖿inance@x`, `ａda@x` (full-width) and `İzzy@x` (lower-cased to i + U+0307) were each accepted as
 * an account apart from the ASCII one. Registration refuses them now (400 VALIDATION_FAILED on the
 * email field). Sign-in and forgot-password look them up as typed: no account can be registered
 * under them, so they get an unknown account's answer, and one registered earlier keeps working.
 *
 * Names: `readName` refused control characters only; bidi overrides and isolates (which reverse
 * what follows them on the page) and other invisible format characters are refused now.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createAccounts, createPasswordHasher, normaliseEmail, type PasswordHasher } from '../../src/auth/index.js';
import { EMAIL_LOOKALIKE, readName } from '../../src/auth/input.js';
import { readEmail } from '../../src/auth/email.js';
import { authApp, eachEngine, FAST_ARGON2, PASSWORD, T0, type AuthApp } from './harness.js';

/** [typed, what it looks like]: each was a second account before. */
const LOOKALIKES: ReadonlyArray<readonly [string, string]> = [
  ['\uFB01nance@example.com', 'finance@example.com'], // LATIN SMALL LIGATURE FI
  ['\u{1D5BF}inance@example.com', 'finance@example.com'], // MATHEMATICAL SANS-SERIF SMALL F
  ['\uFF41da@example.com', 'ada@example.com'], // FULLWIDTH LATIN SMALL LETTER A
  ['\uFF21DA@example.com', 'ada@example.com'], // FULLWIDTH LATIN CAPITAL LETTER A
  ['\u0130zzy@example.com', 'izzy@example.com'], // LATIN CAPITAL LETTER I WITH DOT ABOVE
  ['i\u0307zzy@example.com', 'izzy@example.com'], // i + COMBINING DOT ABOVE, as İ was stored
  ['\u0131\u0307zzy@example.com', 'izzy@example.com'], // dotless ı + COMBINING DOT ABOVE
  ['j\u0323\u0307o@example.com', 'jo@example.com'], // a dot above a j, another mark between
  ['\u00AAda@example.com', 'ada@example.com'], // FEMININE ORDINAL INDICATOR
  ['\u017Fam@example.com', 'sam@example.com'], // LATIN SMALL LETTER LONG S
  ['ada\u00B2@example.com', 'ada2@example.com'], // SUPERSCRIPT TWO
  ['\u01C5ana@example.com', 'dzana@example.com'], // LATIN CAPITAL LETTER D WITH SMALL LETTER Z WITH CARON
];

describe('readEmail: compatibility characters and a dotted i in the local part', () => {
  it.each(LOOKALIKES)('refuses %j for a new account, and reads it as typed for a lookup', (typed) => {
    expect(normaliseEmail(typed)).toBeNull();
    const read = readEmail(typed);
    expect(read).toMatchObject({ ok: false, reason: 'lookalike' });
    // As typed: NFC and lower-cased, as before the rule (the way an earlier account was stored).
    const local = typed.trim().normalize('NFC').slice(0, typed.lastIndexOf('@')).toLowerCase();
    expect(read.ok === false && read.reason === 'lookalike' && read.asTyped).toBe(`${local}@example.com`);
  });

  it('still accepts plain non-ASCII letters, and a Turkish dotless ı or a dot above another letter', () => {
    for (const email of ['zo\u00eb@example.com', '\ud55c\uae00@example.com', '\u0131zzy@example.com', 'm\u0117ta@example.com', 'x\u0307@example.com']) {
      expect(readEmail(email), JSON.stringify(email)).toEqual({ ok: true, email: email.normalize('NFC') });
    }
    // ß is accepted, and stored case-folded (email-case.test.ts).
    expect(readEmail('stra\u00dfe@example.com')).toEqual({ ok: true, email: 'strasse@example.com' });
    expect(readEmail('Ada@EXAMPLE.com')).toEqual({ ok: true, email: 'ada@example.com' });
    // The domain gets NFKC as before: full-width letters there are the same domain.
    expect(readEmail('ada@\uff45xample.com')).toEqual({ ok: true, email: 'ada@example.com' });
  });

  it('a malformed address is malformed whatever it holds', () => {
    expect(readEmail('\uFB01nance')).toEqual({ ok: false, reason: 'malformed' });
    expect(readEmail('\uFB01 nance@example.com')).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('readName: spoofing format characters', () => {
  const FORMAT: ReadonlyArray<readonly [number, string]> = [
    [0x202a, 'LEFT-TO-RIGHT EMBEDDING'],
    [0x202b, 'RIGHT-TO-LEFT EMBEDDING'],
    [0x202c, 'POP DIRECTIONAL FORMATTING'],
    [0x202d, 'LEFT-TO-RIGHT OVERRIDE'],
    [0x202e, 'RIGHT-TO-LEFT OVERRIDE'],
    [0x2066, 'LEFT-TO-RIGHT ISOLATE'],
    [0x2067, 'RIGHT-TO-LEFT ISOLATE'],
    [0x2068, 'FIRST STRONG ISOLATE'],
    [0x2069, 'POP DIRECTIONAL ISOLATE'],
    [0x200e, 'LEFT-TO-RIGHT MARK'],
    [0x200f, 'RIGHT-TO-LEFT MARK'],
    [0x061c, 'ARABIC LETTER MARK'],
    [0x200b, 'ZERO WIDTH SPACE'],
    [0x2060, 'WORD JOINER'],
    [0xfeff, 'ZERO WIDTH NO-BREAK SPACE'],
    [0x00ad, 'SOFT HYPHEN'],
    [0x034f, 'COMBINING GRAPHEME JOINER'],
    [0x3164, 'HANGUL FILLER'],
    [0x2028, 'LINE SEPARATOR'],
    [0x2029, 'PARAGRAPH SEPARATOR'],
    [0xe0041, 'TAG LATIN CAPITAL LETTER A'],
    [0xfff9, 'INTERLINEAR ANNOTATION ANCHOR'],
  ];
  const MESSAGE = 'The name must be visible text, without invisible formatting characters such as text-direction overrides.';

  it.each(FORMAT.map(([cp, name]) => [`U+${cp.toString(16).toUpperCase().padStart(4, '0')}`, name, String.fromCodePoint(cp)] as const))(
    'refuses %s %s inside a name',
    (_hex, _name, c) => {
      expect(readName(`Ada${c}Lovelace`)).toEqual({ ok: false, message: MESSAGE });
      // At an end, what `trim` counts as white space (U+FEFF, U+2028, U+2029) is trimmed instead.
      if (c.trim() !== '') expect(readName(`Ada Lovelace${c}`)).toEqual({ ok: false, message: MESSAGE });
      else expect(readName(`Ada Lovelace${c}`)).toEqual({ ok: true, name: 'Ada Lovelace' });
    },
  );

  it('refuses a name that shows nothing', () => {
    for (const name of ['\u200d', '\u200c\u200d', '\ufe0f']) expect(readName(name), JSON.stringify(name)).toEqual({ ok: false, message: MESSAGE });
  });

  it('keeps ZWNJ and ZWJ (Persian and Indic names, emoji sequences) and variation selectors', () => {
    for (const name of [
      '\u0639\u0644\u06CC\u200C\u0627\u06A9\u0628\u0631', // Persian "Ali-Akbar" with ZWNJ
      '\u0915\u094D\u200D\u0937', // Devanagari with ZWJ after a virama
      'Ada \u{1F469}\u200D\u{1F4BB}', // woman technologist
      'Ada \u2764\uFE0F',
      'Zo\u00eb \u674E',
      '\u05D3\u05E0\u05D4', // Hebrew: right-to-left letters need no control
    ]) {
      expect(readName(name), JSON.stringify(name)).toEqual({ ok: true, name });
    }
  });

  it('keeps the Mongolian free variation selectors FVS1–FVS4 and the vowel separator (traditional Mongolian needs them)', () => {
    for (const name of [
      '\u182D\u180B\u1820\u1828', // FVS1 picks a form of GA
      '\u1824\u1828\u180C\u1821', // FVS2
      '\u1828\u180D\u1820\u1837', // FVS3
      '\u1828\u1820\u1837\u180E\u1820', // "Nara" + vowel separator before its final A
      '\u1832\u1826\u180F\u182F', // FVS4 (Unicode 14)
      'Bat \u182A\u1820\u1832\u180E\u1820', // mixed with Latin
    ]) {
      expect(readName(name), JSON.stringify(name)).toEqual({ ok: true, name });
    }
    // Alone they show nothing, like ZWJ alone.
    expect(readName('\u180B\u180E')).toEqual({ ok: false, message: MESSAGE });
  });

  it('the control-character refusal keeps its own message', () => {
    expect(readName('bad\u0007name')).toEqual({ ok: false, message: 'The name must be 1 to 80 characters, without control characters.' });
  });
});

const MANY = { limit: 10_000, windowSeconds: 60 };
const LIMITS = { register: MANY, login: MANY, 'forgot-password': MANY };

eachEngine('lookalike addresses and spoofing names at the API', (engine) => {
  let t: AuthApp;
  const calls: string[] = [];
  const real = createPasswordHasher(FAST_ARGON2);
  const hasher: PasswordHasher = {
    params: real.params,
    hash: (p) => (calls.push('hash'), real.hash(p)),
    verify: (h, p) => (calls.push('verify'), real.verify(h, p)),
    verifyDummy: (p) => (calls.push('verifyDummy'), real.verifyDummy(p)),
  };
  afterEach(async () => {
    await t.close();
  });
  const emails = async () => (await t.db.selectFrom('users').select('email').orderBy('email').execute()).map((u) => u.email);

  it('register: 400 VALIDATION_FAILED on the email field for each lookalike, and only the plain accounts exist', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    const plain = [...new Set(LOOKALIKES.map(([, looksLike]) => looksLike))];
    for (const email of plain) expect((await t.register(email)).statusCode, email).toBe(201);
    const outcomes: string[] = [];
    for (const [typed] of LOOKALIKES) {
      const res = await t.post('/register', { email: typed, password: PASSWORD });
      const body = res.json();
      if (res.statusCode !== 400 || body.code !== 'VALIDATION_FAILED' || JSON.stringify(body.errors) !== JSON.stringify({ email: [EMAIL_LOOKALIKE] })) {
        outcomes.push(`${JSON.stringify(typed)}: ${res.statusCode} ${res.body}`);
      }
    }
    expect(outcomes).toEqual([]);
    expect(await emails()).toEqual([...plain].sort());
    // Refused with the other fields' errors alongside, as any email refusal.
    const both = await t.post('/register', { email: '\uFB01nance@example.com', password: 'short' });
    expect(both.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: { email: [EMAIL_LOOKALIKE], password: ['The password must be 8 to 128 characters long.'] } });
  });

  it('login: a lookalike of an existing account answers exactly as an unknown account, after the same work', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS, hasher } });
    await t.register('finance@example.com');
    await t.register('izzy@example.com');
    t.takeEvents();
    const strip = (body: Record<string, unknown>) => ({ ...body, request_id: undefined });
    const names = (res: { headers: Record<string, unknown> }) => Object.keys(res.headers).filter((h) => h !== 'date' && h !== 'x-request-id').sort();
    calls.length = 0;
    const unknown = await t.post('/login', { email: 'nobody@example.com', password: PASSWORD }, {}, '10.0.0.1');
    expect([unknown.statusCode, unknown.json().code]).toEqual([401, 'INVALID_CREDENTIALS']);
    expect(calls).toEqual(['verifyDummy']);
    const unknownEvents = t.takeEvents();
    expect(unknownEvents).toEqual(['authn_login_fail']);
    let i = 2;
    for (const typed of ['\uFB01nance@example.com', '\u{1D5BF}inance@example.com', '\u0130zzy@example.com', 'I\u0307ZZY@example.com']) {
      calls.length = 0;
      const res = await t.post('/login', { email: typed, password: PASSWORD }, {}, `10.0.0.${i++}`);
      expect([res.statusCode, strip(res.json())], typed).toEqual([401, strip(unknown.json())]);
      expect(names(res)).toEqual(names(unknown));
      expect(calls, typed).toEqual(['verifyDummy']);
      expect(t.takeEvents()).toEqual(unknownEvents);
    }
    // forgot-password: the same 202, and no mail to the account it looks like.
    for (const typed of ['\uFB01nance@example.com', '\u0130zzy@example.com']) {
      const res = await t.post('/forgot-password', { email: typed });
      expect(res.statusCode).toBe(202);
    }
    await t.idle();
    expect(t.mail.messages).toEqual([]);
  });

  it('an account registered under a lookalike before the rule still signs in and gets its reset mail, as typed', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    await t.register('finance@example.com');
    const hash = await createPasswordHasher(FAST_ARGON2).hash(PASSWORD);
    for (const email of ['\uFB01nance@example.com', 'i\u0307zzy@example.com']) {
      await t.db.insertInto('users').values({ id: randomUUID(), email, name: null, password_hash: hash, created_at: T0, updated_at: T0 }).execute();
    }
    expect((await t.post('/login', { email: '\uFB01nance@example.com', password: PASSWORD })).statusCode).toBe(200);
    expect((await t.post('/login', { email: '\u0130ZZY@example.com', password: PASSWORD })).statusCode).toBe(200);
    expect((await t.post('/forgot-password', { email: '\uFB01nance@example.com' })).statusCode).toBe(202);
    await t.idle();
    expect(t.mail.messages.map((m) => m.to)).toEqual(['\uFB01nance@example.com']);
    // The operator's listing (docs/auth.md, Upgrading) finds them.
    expect((await emails()).filter((email) => normaliseEmail(email) !== email)).toEqual(['i\u0307zzy@example.com', '\uFB01nance@example.com'].sort());
  });

  it('register and the profile refuse a name with a bidi override or isolate: 400 VALIDATION_FAILED on the name field', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    const MESSAGE = 'The name must be visible text, without invisible formatting characters such as text-direction overrides.';
    let n = 0;
    for (const c of ['\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069', '\u200F']) {
      const res = await t.post('/register', { email: `user${n++}@example.com`, password: PASSWORD, name: `Ada${c}gnp.exe` });
      expect([res.statusCode, res.json().code, res.json().errors], JSON.stringify(c)).toEqual([400, 'VALIDATION_FAILED', { name: [MESSAGE] }]);
    }
    expect(await emails()).toEqual([]);
    const created = await t.register('ada@example.com', PASSWORD, 'Ada Lovelace');
    expect(created.statusCode).toBe(201);
    const accounts = createAccounts({ db: t.db });
    const id = created.json().id as string;
    expect(await accounts.setName(id, 'Ada\u202Eecalevol')).toEqual({ ok: false, message: MESSAGE });
    expect(await accounts.setName(id, 'Ada\u2067x\u2069')).toEqual({ ok: false, message: MESSAGE });
    expect((await t.db.selectFrom('users').select('name').where('id', '=', id).executeTakeFirstOrThrow()).name).toBe('Ada Lovelace');
    expect(await accounts.setName(id, 'Ada \u{1F469}\u200D\u{1F4BB}')).toEqual({ ok: true, name: 'Ada \u{1F469}\u200D\u{1F4BB}' });
  });
});
