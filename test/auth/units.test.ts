/** The pure parts of the auth module: email and password rules, argon2id, tokens, CORS origins, mail transports. */
import { parseOptions } from '@node-rs/argon2';
import { describe, expect, it } from 'vitest';
import {
  checkPassword,
  createPasswordHasher,
  CorsConfigError,
  logMailTransport,
  mailTransportFor,
  needsRehash,
  normaliseEmail,
  OWASP_ARGON2ID,
  resolveApiOrigins,
  unconfiguredMailTransport,
} from '../../src/auth/index.js';
import { bearerToken, hashToken, isTokenShaped, newToken } from '../../src/auth/tokens.js';
import { parseSessionUserId } from '../../src/auth/accounts.js';
import { parseEnv } from '../../src/ops/config.js';
import { smtpSecurityOf } from '../../src/ops/config-fields.js';
import { FAST_ARGON2 } from './harness.js';

describe('normaliseEmail', () => {
  it('trims, lower-cases, applies NFC and punycodes the domain', () => {
    expect(normaliseEmail('  Ada@EXAMPLE.com ')).toBe('ada@example.com');
    expect(normaliseEmail('ADA.Lovelace+tag@Example.COM')).toBe('ada.lovelace+tag@example.com');
    // "zoë" typed with a combining diaeresis and with the precomposed letter: one address.
    expect(normaliseEmail('zoe\u0308@b\u00fccher.example')).toBe('zo\u00eb@xn--bcher-kva.example');
    expect(normaliseEmail('zo\u00eb@B\u00dcCHER.example')).toBe('zo\u00eb@xn--bcher-kva.example');
  });

  it.each([
    ['', 'empty'],
    ['ada', 'no @'],
    ['@example.com', 'no local part'],
    ['ada@', 'no domain'],
    ['ada@localhost', 'single-label domain'],
    ['a da@example.com', 'space'],
    ['"ada"@example.com', 'quotes'],
    ['.ada@example.com', 'leading dot'],
    ['ada..l@example.com', 'double dot'],
    ['ada@-example.com', 'label starting with -'],
    ['ada@exa_mple.com', 'underscore in the domain'],
    ['ada\u0000@example.com', 'control character'],
    ['ca\u200brol@example.com', 'zero-width space (looks like carol@)'],
    ['carol\u200d@example.com', 'zero-width joiner'],
    ['ca\u00adrol@example.com', 'soft hyphen'],
    ['\u202ecarol@example.com', 'right-to-left override'],
    ['bob\ud800@example.com', 'lone high surrogate (PostgreSQL stores U+FFFD: bob\udc00@ would be the same account)'],
    ['bob@exa\udc00mple.com', 'lone low surrogate in the domain'],
    [`${'a'.repeat(65)}@example.com`, 'local part over 64'],
    [`ada@${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`, 'address over 254'],
  ])('refuses %j (%s)', (input) => {
    expect(normaliseEmail(input)).toBeNull();
  });

  it('refuses what is not a string', () => {
    for (const value of [undefined, null, 42, ['a@b.co'], { email: 'a@b.co' }]) expect(normaliseEmail(value)).toBeNull();
  });
});

describe('checkPassword', () => {
  it('accepts 8 to 128 code points, counting an emoji as one', () => {
    expect(checkPassword('12345678')).toEqual({ ok: true, password: '12345678' });
    expect(checkPassword('x'.repeat(128)).ok).toBe(true);
    expect(checkPassword('🔑'.repeat(8)).ok).toBe(true);
    expect(checkPassword('🔑'.repeat(128)).ok).toBe(true);
    expect(checkPassword('1234567')).toEqual({ ok: false, message: 'The password must be 8 to 128 characters long.' });
    expect(checkPassword('x'.repeat(129)).ok).toBe(false);
    expect(checkPassword('🔑'.repeat(129)).ok).toBe(false);
    expect(checkPassword(12345678)).toEqual({ ok: false, message: 'The password must be a string.' });
  });

  it('refuses a lone surrogate, which would hash as U+FFFD like any other one', () => {
    const message = { ok: false, message: 'The password must be valid Unicode text.' };
    expect(checkPassword('my pass \ud800xx')).toEqual(message);
    expect(checkPassword('my pass \udfffxx')).toEqual(message);
    expect(checkPassword('my pass 😀 xx').ok).toBe(true); // a pair is one character
  });

  it('normalises with NFKC and keeps spaces', () => {
    expect(checkPassword('\ufb01rst-try')).toEqual({ ok: true, password: 'first-try' });
    expect(checkPassword('  spaced out  ')).toEqual({ ok: true, password: '  spaced out  ' });
    expect(checkPassword('cafe\u0301-au-lait')).toEqual({ ok: true, password: 'caf\u00e9-au-lait' });
  });
});

describe('argon2id hashing', () => {
  it('uses argon2id v0x13 with m=19456 KiB, t=2, p=1 by default (OWASP)', async () => {
    expect(OWASP_ARGON2ID).toEqual({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    const hasher = createPasswordHasher();
    const stored = await hasher.hash('correct horse battery staple');
    expect(stored.startsWith('$argon2id$v=19$m=19456,t=2,p=1$')).toBe(true);
    expect(parseOptions(stored)).toMatchObject({ algorithm: 2, version: 1, memoryCost: 19_456, timeCost: 2, parallelism: 1, saltLen: 16 });
    expect(await hasher.verify(stored, 'correct horse battery staple')).toEqual({ ok: true, needsRehash: false });
    expect(await hasher.verify(stored, 'correct horse battery stapl')).toEqual({ ok: false, needsRehash: false });
  });

  it('salts every hash', async () => {
    const hasher = createPasswordHasher(FAST_ARGON2);
    expect(await hasher.hash('same password')).not.toBe(await hasher.hash('same password'));
  });

  it('asks for a rehash when the parameters changed, and only after a successful verification', async () => {
    const old = await createPasswordHasher({ memoryCost: 2048, timeCost: 1, parallelism: 1 }).hash('old parameters');
    const current = createPasswordHasher(FAST_ARGON2);
    expect(await current.verify(old, 'old parameters')).toEqual({ ok: true, needsRehash: true });
    expect(await current.verify(old, 'wrong password')).toEqual({ ok: false, needsRehash: false });
    expect(needsRehash(old, FAST_ARGON2)).toBe(true);
    expect(needsRehash(old, { memoryCost: 2048, timeCost: 1, parallelism: 1 })).toBe(false);
    expect(needsRehash('$2b$10$bcrypthashfromanotheralgorithmxxxxxxxxxxxxxxxxxxxxxxx', FAST_ARGON2)).toBe(true);
  });

  it('verifies a malformed stored hash as false, and a dummy verification as false', async () => {
    const hasher = createPasswordHasher(FAST_ARGON2);
    expect(await hasher.verify('not a hash', 'whatever')).toEqual({ ok: false, needsRehash: false });
    expect(await hasher.verifyDummy('whatever')).toBe(false);
  });

  it('refuses nonsensical parameters', () => {
    expect(() => createPasswordHasher({ memoryCost: 0, timeCost: 1, parallelism: 1 })).toThrow(/memoryCost/);
    expect(() => createPasswordHasher({ memoryCost: 1024, timeCost: 1.5, parallelism: 1 })).toThrow(/timeCost/);
  });
});

describe('tokens', () => {
  it('are 256-bit base64url strings, stored as their SHA-256', () => {
    const tokens = new Set(Array.from({ length: 100 }, () => newToken()));
    expect(tokens.size).toBe(100);
    for (const token of tokens) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
      expect(isTokenShaped(token)).toBe(true);
    }
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(isTokenShaped('short')).toBe(false);
    expect(isTokenShaped(`${'a'.repeat(42)}=`)).toBe(false);
    expect(isTokenShaped(undefined)).toBe(false);
  });

  it('reads Authorization: Bearer with any case of the scheme, and nothing else', () => {
    const token = newToken();
    expect(bearerToken(`Bearer ${token}`)).toBe(token);
    expect(bearerToken(`bearer ${token}`)).toBe(token);
    expect(bearerToken(`BEARER  ${token} `)).toBe(token);
    expect(bearerToken(undefined)).toBeNull();
    expect(bearerToken(`Basic ${token}`)).toBeNull();
    expect(bearerToken(token)).toBeNull();
    expect(bearerToken(`Bearer ${token}x`)).toBeNull();
    expect(bearerToken(`Bearer ${token}, Bearer ${token}`)).toBeNull();
    expect(bearerToken([`Bearer ${token}`, `Bearer ${token}`])).toBeNull();
  });

  it('session user ids are <user uuid>/<sign-in uuid> and nothing else', () => {
    const user = '6f1c1d6e-2d4b-4b7e-9a59-6c6f1c2b9a10';
    const web = '0b8f3c1a-7e2d-4c55-8f3a-1d2e3f4a5b6c';
    expect(parseSessionUserId(`${user}/${web}`)).toEqual({ userId: user, webSessionId: web });
    for (const bad of [user, `${user}/`, `/${web}`, `${user}/${web}/x`, `${user.toUpperCase()}/${web}`, `user-42/${web}`]) {
      expect(parseSessionUserId(bad)).toBeNull();
    }
  });
});

describe('CORS origins', () => {
  it('allows the app origin and each listed origin, serialised as browsers send them', () => {
    const origins = resolveApiOrigins('https://app.example.com', ['https://Admin.Example.com:443/', 'http://localhost:5173']);
    expect([...origins]).toEqual(['https://app.example.com', 'https://admin.example.com', 'http://localhost:5173']);
  });

  it('refuses `*` (credentials are on) and anything that is not an exact http(s) origin', () => {
    expect(() => resolveApiOrigins('https://app.example.com', ['*'])).toThrow(CorsConfigError);
    expect(() => resolveApiOrigins('https://app.example.com', ['*'])).toThrow('CORS: `*` cannot be combined with credentials');
    expect(() => resolveApiOrigins('https://app.example.com', ['https://*.example.com'])).toThrow(CorsConfigError);
    for (const bad of ['null', 'https://app.example.com/path', 'ftp://app.example.com', 'app.example.com', 'https://u:p@app.example.com']) {
      expect(() => resolveApiOrigins('https://app.example.com', [bad]), bad).toThrow(CorsConfigError);
    }
  });

  it('is refused by the configuration too: CORS_ALLOWED_ORIGINS=* is a problem naming the variable', () => {
    const { issues } = parseEnv({ CORS_ALLOWED_ORIGINS: '*' });
    expect(issues.map((i) => i.variable)).toEqual(['CORS_ALLOWED_ORIGINS']);
  });

  it('takes CORS_ALLOWED_ORIGINS, FRONTEND_URL and APP_URL from the environment', () => {
    const { config } = parseEnv({ CORS_ALLOWED_ORIGINS: 'https://a.example.com', FRONTEND_URL: 'https://front.example.com', APP_URL: 'https://app.example.com' });
    expect([...resolveApiOrigins(config.appOrigin, config.allowedOrigins)]).toEqual([
      'https://app.example.com',
      'https://a.example.com',
      'https://front.example.com',
    ]);
  });
});

describe('mail transports', () => {
  const message = { to: 'ada@example.com', subject: 'Reset your password', text: 'Open https://app.example.com/reset-password#token=SECRET' };
  function recorder() {
    const lines: { level: string; obj: object; msg: string }[] = [];
    return {
      lines,
      info: (obj: object, msg: string) => void lines.push({ level: 'info', obj, msg }),
      warn: (obj: object, msg: string) => void lines.push({ level: 'warn', obj, msg }),
    };
  }

  it('development: the message, link included, is printed outside the log; the log line has no text', async () => {
    const log = recorder();
    const printed: string[] = [];
    await logMailTransport(log, (text) => void printed.push(text)).send(message);
    expect(printed).toHaveLength(1);
    expect(printed[0]).toContain('To: ada@example.com');
    expect(printed[0]).toContain('https://app.example.com/reset-password#token=SECRET');
    expect(log.lines).toEqual([
      { level: 'info', obj: { mail_to: 'ada@example.com', mail_subject: 'Reset your password' }, msg: 'development mail (not sent): printed to stderr' },
    ]);
  });

  it('production without SMTP_URL: one warning, never the link', async () => {
    const log = recorder();
    await unconfiguredMailTransport(log).send(message);
    expect(log.lines).toEqual([{ level: 'warn', obj: { mail_subject: 'Reset your password' }, msg: 'mail not sent: SMTP_URL is not configured' }]);
  });

  it('is chosen from the configuration', () => {
    const log = recorder();
    expect(mailTransportFor({ production: false, smtpUrl: undefined, from: 'x@example.com', logger: log }).kind).toBe('log');
    expect(mailTransportFor({ production: true, smtpUrl: undefined, from: 'x@example.com', logger: log }).kind).toBe('none');
    expect(mailTransportFor({ production: true, smtpUrl: 'smtp://mail.example.com:587', from: 'x@example.com', logger: log }).kind).toBe('smtp');
  });

  it('requires STARTTLS of an smtp:// relay unless it is on this machine or the URL opts out', () => {
    const security = (url: string) => smtpSecurityOf(new URL(url));
    expect(['smtp://mail.example.com:587', 'smtp://10.0.0.5', 'smtp://mail.example.com?requireTLS=0', 'smtp://128.0.0.1'].map(security)).toEqual(Array(4).fill('starttls'));
    expect(['smtp://localhost:1025', 'smtp://LOCALHOST.', 'smtp://127.9.8.7', 'smtp://[::1]:25', 'smtp://localhost?requireTLS=false'].map(security)).toEqual(Array(5).fill('loopback'));
    expect(['smtps://mail.example.com', 'smtps://127.0.0.1?tls.rejectUnauthorized=false'].map(security)).toEqual(['tls', 'tls']);
    expect(['smtp://mail.example.com?requireTLS=false', 'smtps://mail.example.com?tls.rejectUnauthorized=false'].map(security)).toEqual(['opted-out', 'opted-out']);
  });
});
