/**
 * Email addresses compare on Unicode full case folding, not `toLowerCase()`: `ΝΙΚΟΣ.Χ` and `νικος.χ`
 * (a final sigma), `STRASSE` and `straße`, `ᲀ` (U+1C80) and `в` are one account, at registration,
 * sign-in and password recovery alike.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { foldCase, readEmail } from '../../src/auth/email.js';
import { CASE_FOLDING_EXCEPTIONS } from './case-folding-table.js';
import { authApp, eachEngine, PASSWORD, type AuthApp } from './harness.js';

const fromHex = (hex: string) => String.fromCodePoint(...hex.split(' ').map((h) => parseInt(h, 16)));

describe('foldCase', () => {
  it('is Unicode full case folding (NFC) for every code point: the exceptions to toLowerCase exactly, toLowerCase elsewhere', () => {
    const exceptions = new Map(CASE_FOLDING_EXCEPTIONS.map(([cp, fold]) => [cp, fromHex(fold)]));
    expect(exceptions.size).toBe(273);
    const wrong: string[] = [];
    for (let cp = 0; cp < 0x110000; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      const want = exceptions.get(cp) ?? c.toLowerCase().normalize('NFC');
      if (foldCase(c) !== want) wrong.push(cp.toString(16));
    }
    expect(wrong).toEqual([]);
  });

  it('folds whole strings: a final sigma, ß, U+0345, the old Cyrillic letters', () => {
    expect(foldCase('ΝΙΚΟΣ.ΠΑΠ')).toBe('νικοσ.παπ');
    expect(foldCase('νικος.παπ')).toBe('νικοσ.παπ');
    expect(foldCase('Straße')).toBe(foldCase('STRASSE'));
    expect(foldCase('\u1e9e')).toBe('ss');
    expect(foldCase('\u03b1\u0345')).toBe('\u03b1\u03b9');
    expect(foldCase('\u1c80')).toBe('\u0432');
    expect(foldCase('ı')).toBe('ı');
  });
});

describe('readEmail: case spellings of one address', () => {
  it('maps every case spelling to one stored form', () => {
    const pairs: [string, string][] = [
      ['νικος.παπ@example.gr', 'ΝΙΚΟΣ.ΠΑΠ@EXAMPLE.GR'],
      ['straße@example.de', 'STRASSE@example.de'],
      ['ꭰꭱ@example.com', 'ᎠᎡ@example.com'],
      ['д\u1c80л@example.com', 'ДВЛ@example.com'], // Cyrillic rounded ve folds to в (the local part is one script)
      ['zoë@ΣΑΣ.gr', 'ZOË@σασ.gr'],
    ];
    for (const [a, b] of pairs) {
      const first = readEmail(a);
      expect(first.ok, a).toBe(true);
      expect(readEmail(b), b).toEqual(first);
      expect(readEmail(a.toUpperCase()), a.toUpperCase()).toEqual(first);
      expect(readEmail(a.normalize('NFD')), 'NFD').toEqual(first);
    }
    expect(readEmail('ΝΙΚΟΣ.ΠΑΠ@EXAMPLE.GR')).toEqual({ ok: true, email: 'νικοσ.παπ@example.gr' });
    expect(readEmail('Straße@example.de')).toEqual({ ok: true, email: 'strasse@example.de' });
  });
});

eachEngine('one account per case-folded address', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('register lower case, sign in upper case: 200; registering the upper case: 409 EMAIL_TAKEN; the reset mail goes to the stored form', async () => {
    t = await authApp(engine);
    const app = t;
    for (const [lower, upper] of [
      ['νικος.παπ@example.gr', 'ΝΙΚΟΣ.ΠΑΠ@EXAMPLE.GR'],
      ['straße@example.de', 'STRASSE@EXAMPLE.DE'],
    ] as const) {
      expect((await app.register(lower)).statusCode).toBe(201);
      expect((await app.post('/login', { email: upper, password: PASSWORD }, {}, '192.0.2.1')).statusCode).toBe(200);
      const again = await app.post('/register', { email: upper, password: PASSWORD }, {}, '192.0.2.2');
      expect(again.statusCode).toBe(409);
      expect(again.json()).toMatchObject({ code: 'EMAIL_TAKEN' });
    }
    const users = await app.db.selectFrom('users').select('email').orderBy('email').execute();
    expect(users.map((u) => u.email)).toEqual(['strasse@example.de', 'νικοσ.παπ@example.gr']);
    expect((await app.post('/forgot-password', { email: 'Νικος.Παπ@example.gr' }, {}, '192.0.2.3')).statusCode).toBe(202);
    await app.idle();
    expect(app.mail.messages.map((m) => m.to)).toEqual(['νικοσ.παπ@example.gr']);
  });
});

describe('readEmail: an IPv4 address is not a domain', () => {
  it('refuses an all-digit last label, keeps digits elsewhere', () => {
    for (const email of ['x@127.0.0.1', 'x@10.0.0.1', 'x@example.123', 'x@1.2.3.4', 'x@１２７.０.０.１']) {
      expect(readEmail(email), email).toEqual({ ok: false, reason: 'malformed' });
    }
    expect(readEmail('x@123.example')).toEqual({ ok: true, email: 'x@123.example' });
    expect(readEmail('x@example.c0m')).toEqual({ ok: true, email: 'x@example.c0m' });
  });
});
