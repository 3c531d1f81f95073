/**
 * The account pages' forms are read strictly as UTF-8. `URLSearchParams` decoded `%E4` (a Latin-1
 * `ä`), `%FF` or a raw Latin-1 byte as U+FFFD: `password=correct-p%E4ssword-horse` signed in as
 * the password `correct-p\uFFFDssword-horse`, which the JSON API refuses (400, not UTF-8).
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoApp } from '../../test/helpers/demo.js';
import { parseForm } from './form-body.js';

const FAST_ARGON2 = { memoryCost: 1024, timeCost: 1, parallelism: 1 };
const EMAIL = 'fffd@example.com';
/** A password whose U+FFFD is the user's own: the one the bad bytes used to be decoded to. */
const PASSWORD = 'correct-p\uFFFDssword-horse';

describe('parseForm', () => {
  const parse = (text: string | Buffer) => parseForm(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);

  it('reads what a browser sends: `+` as a space, UTF-8 escapes, raw UTF-8, the first of each name', () => {
    expect(parse('a=1+2&b=%C3%A9%F0%9F%90%8E&a=3&&c&=d&e=')).toEqual({ a: '1 2', b: '\u00e9\u{1F40E}', c: '', '': 'd', e: '' });
    expect(parse(Buffer.from('name=Zo\u00eb+\u{1E900}&x=%2B%26%3D%25', 'utf8'))).toEqual({ name: 'Zo\u00eb \u{1E900}', x: '+&=%' });
    expect(parse('')).toEqual({});
    const proto = parse('__proto__=x&constructor=y');
    expect(Object.getPrototypeOf(proto)).toBeNull();
    expect(Object.entries(proto ?? {})).toEqual([
      ['__proto__', 'x'],
      ['constructor', 'y'],
    ]);
    // U+FFFD sent as the user's own character stays one.
    expect(parse('p=%EF%BF%BD')).toEqual({ p: '\uFFFD' });
  });

  it.each([
    ['a Latin-1 escape', 'password=correct-p%E4ssword-horse'],
    ['%FF', 'password=%FF'],
    ['a surrogate encoded as UTF-8 (CESU-8)', 'password=correct-p%ED%A0%80ssword-horse'],
    ['a truncated sequence', 'password=%C3'],
    ['an overlong encoding', 'password=%C0%AF'],
    ['past U+10FFFF', 'password=%F4%90%80%80'],
    ['a bad escape in a name', 'pass%E4word=x'],
    ['a `%` without two hex digits', 'password=100%'],
    ['a raw Latin-1 byte', 'password=correct-p\u00e4ssword-horse'],
  ])('refuses %s', (_name, body) => {
    expect(parse(body)).toBeNull();
  });
});

describe('the account pages refuse forms that are not UTF-8', () => {
  let demo: Awaited<ReturnType<typeof demoApp>>;
  let address = 0;
  beforeAll(async () => {
    demo = await demoApp({}, {}, { password: FAST_ARGON2 });
    const registered = await demo.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: EMAIL, password: PASSWORD }),
    });
    expect(registered.statusCode).toBe(201);
  });
  afterAll(() => demo?.app.close());

  /** The login page's session cookie and form token, for a client of its own address (its own login budget). */
  async function loginPage(cookie?: string): Promise<{ cookie: string; token: string; remoteAddress: string }> {
    const remoteAddress = `203.0.113.${++address}`;
    const page = await demo.app.inject({ method: 'GET', url: '/login', remoteAddress, headers: cookie === undefined ? {} : { cookie } });
    const token = /name="_csrf_token" value="([^"]+)"/.exec(page.body)?.[1];
    if (token === undefined) throw new Error('no form token on /login');
    return { cookie: cookie ?? sessionCookie(page), token, remoteAddress };
  }

  const sessionCookie = (res: LightMyRequestResponse): string => {
    const lines = res.headers['set-cookie'];
    return (Array.isArray(lines) ? lines : [lines ?? '']).map((line) => line.split(';')[0]).find((c) => c?.startsWith('lc_session=')) ?? '';
  };

  async function post(url: string, encodedPassword: string, contentType = 'application/x-www-form-urlencoded', cookie?: string) {
    const page = await loginPage(cookie);
    const payload = Buffer.concat([
      Buffer.from(`_csrf_token=${encodeURIComponent(page.token)}&email=${encodeURIComponent(EMAIL)}&password=`),
      Buffer.from(encodedPassword, 'latin1'),
    ]);
    const res = await demo.app.inject({
      method: 'POST',
      url,
      remoteAddress: page.remoteAddress,
      headers: { cookie: page.cookie, 'content-type': contentType },
      payload,
    });
    return { res, page };
  }

  it('the password typed with its own U+FFFD signs in (the parser reads UTF-8 as before)', async () => {
    const { res } = await post('/login', encodeURIComponent(PASSWORD));
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/profile');
  });

  it.each([
    ['%E4 (Latin-1 ä)', 'correct-p%E4ssword-horse'],
    ['%FF', 'correct-p%FFssword-horse'],
    ['%ED%A0%80 (CESU-8 of U+D800)', 'correct-p%ED%A0%80ssword-horse'],
    ['a raw Latin-1 byte', 'correct-p\u00e4ssword-horse'],
  ])('/login with %s: 400 INVALID_REQUEST, as the sign-in page with the sentence; no sign-in, no step of the login budget', async (_name, password) => {
    const { res } = await post('/login', password);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers.location).toBeUndefined();
    expect(res.headers['x-ratelimit-remaining']).toBeUndefined();
    expect(res.body).toContain('<p class="flash" role="alert" id="login-error" data-login-error>The form is not valid UTF-8 text.</p>');
    // The fields are marked and described as for any malformed form; the email is not echoed.
    expect(res.body).toMatch(/name="email" required [^>]*value="" aria-describedby="login-error" aria-invalid="true" autofocus>/);
    expect(sessionCookie(res)).toBe('');
  });

  it('a charset other than UTF-8: 415 UNSUPPORTED_MEDIA_TYPE, for a body valid in it or not', async () => {
    for (const [type, password] of [
      ['application/x-www-form-urlencoded; charset=iso-8859-1', 'correct-p%E4ssword-horse'],
      ['application/x-www-form-urlencoded; charset=windows-1252', encodeURIComponent(PASSWORD)],
    ] as const) {
      const { res } = await post('/login', password, type);
      expect(res.statusCode, type).toBe(415);
      expect(res.json(), type).toEqual({ error: 'Forms must be UTF-8.', code: 'UNSUPPORTED_MEDIA_TYPE', request_id: res.headers['x-request-id'] });
    }
    const declared = await post('/login', encodeURIComponent(PASSWORD), 'application/x-www-form-urlencoded; charset="UTF-8"');
    expect(declared.res.statusCode).toBe(303);
  });

  it('/logout with bytes that are not UTF-8: 400, still signed in', async () => {
    const signedIn = await post('/login', encodeURIComponent(PASSWORD));
    expect(signedIn.res.statusCode).toBe(303);
    const cookie = sessionCookie(signedIn.res);
    const { page, res } = await post('/logout', '%FF', undefined, cookie);
    expect(page.cookie).toBe(cookie);
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('The form is not valid UTF-8 text.');
    const after = await demo.app.inject({ method: 'GET', url: '/login', headers: { cookie } });
    expect(after.body).toContain(`Signed in as <strong data-email>${EMAIL}</strong>`);
  });
});
