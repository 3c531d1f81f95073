/** Every auth route and error (PROTOCOL §4), cookie attributes, and where tokens may and may not appear. */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { hashToken } from '../../src/auth/tokens.js';
import { authApp, eachEngine, PASSWORD, refreshCookie, refreshCookieLine, setCookies, type AuthApp } from './harness.js';

const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;
const MINUTE = 60_000;

eachEngine('auth API', (engine) => {
  let t: AuthApp;
  beforeEach(async () => {
    t = await authApp(engine);
  });
  afterEach(async () => {
    await t.close();
  });

  it('register: 201 with the normalised email and the name; no token, no cookie', async () => {
    const res = await t.register('  Ada.Lovelace@EXAMPLE.com ', PASSWORD, 'Ada');
    expect(res.statusCode).toBe(201);
    const body = res.json() as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['created_at', 'email', 'id', 'name']);
    expect(body).toMatchObject({ email: 'ada.lovelace@example.com', name: 'Ada', created_at: '2026-01-15T10:30:00.000Z' });
    expect(setCookies(res)).toEqual([]);
    expect(res.headers['x-ratelimit-limit']).toBe('5');
    const row = await t.db.selectFrom('users').selectAll().executeTakeFirstOrThrow();
    expect(row.email).toBe('ada.lovelace@example.com');
    expect(row.password_hash.startsWith('$argon2id$v=19$')).toBe(true);
    expect(row.password_hash).not.toContain(PASSWORD);
  });

  it('register: 409 EMAIL_TAKEN for another spelling of the same address, and only one row', async () => {
    expect((await t.register('ada@example.com')).statusCode).toBe(201);
    const res = await t.register('ADA@Example.COM', 'another password 1');
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'EMAIL_TAKEN', error: 'An account with this email already exists.' });
    const { n } = await t.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(n)).toBe(1);
  });

  it('register: two concurrent registrations of one email give one 201 and one 409', async () => {
    const [a, b] = await Promise.all([t.register('race@example.com'), t.register('RACE@example.com', 'other password 2')]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([201, 409]);
  });

  it('register: 400 VALIDATION_FAILED naming each bad field', async () => {
    const res = await t.post('/register', { email: 'not-an-email', password: 'short', name: '' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: {
        email: ['Enter a valid email address.'],
        password: ['The password must be 8 to 128 characters long.'],
        name: ['The name must be 1 to 80 characters, without control characters.'],
      },
    });
    expect((await t.post('/register', { email: 'a@example.com', password: 'x'.repeat(129) })).json()).toMatchObject({
      errors: { password: ['The password must be 8 to 128 characters long.'] },
    });
    expect((await t.post('/register', { email: 'a@example.com', password: PASSWORD, name: 'bad\u0007name' })).statusCode).toBe(400);
    // Lone surrogates (JSON allows the escape) would be stored or hashed as U+FFFD: the body parser
    // refuses them before any field is read (the field checks stay for callers of the service itself).
    const lone = await t.post('/register', { email: 'a@example.com', password: 'my pass \ud800xx', name: 'Ada\udc00' });
    expect(lone.statusCode).toBe(400);
    expect(lone.json()).toMatchObject({ code: 'INVALID_REQUEST', error: 'The body is not valid Unicode text.' });
    expect(await t.db.selectFrom('users').selectAll().execute()).toEqual([]);
  });

  it('refuses malformed bodies: 400 INVALID_REQUEST, 415 for other media types, 413 past 16 KiB', async () => {
    const raw = (payload: string, type = 'application/json') =>
      t.app.inject({ method: 'POST', url: '/api/v1/auth/register', headers: { 'content-type': type }, payload });
    expect((await raw('{"email":')).json()).toMatchObject({ code: 'INVALID_REQUEST' });
    expect((await raw('[1,2]')).json()).toMatchObject({ code: 'INVALID_REQUEST', error: 'The body must be a JSON object.' });
    expect((await raw('{"__proto__":{"admin":true},"email":"a@example.com"}')).json()).toMatchObject({ code: 'INVALID_REQUEST' });
    const form = await raw('email=a%40example.com&password=12345678', 'application/x-www-form-urlencoded');
    expect([form.statusCode, form.json().code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const big = await raw(JSON.stringify({ email: 'a@example.com', password: PASSWORD, name: 'x'.repeat(17_000) }));
    expect([big.statusCode, big.json().code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  });

  it('refuses bodies that are not UTF-8: 400 for bad bytes, 415 for another declared charset', async () => {
    const raw = (payload: string | Buffer, type = 'application/json') =>
      t.app.inject({ method: 'POST', url: '/api/v1/auth/register', headers: { 'content-type': type }, payload });
    // Bytes that are not UTF-8 would become U+FFFD: two different passwords would hash alike.
    const latin1 = await raw(Buffer.from(`{"email":"a@example.com","password":"pass\xe9word-1"}`, 'latin1'));
    expect([latin1.statusCode, latin1.json().code, latin1.json().error]).toEqual([400, 'INVALID_REQUEST', 'The body is not valid UTF-8.']);
    const declared = await raw(JSON.stringify({ email: 'a@example.com', password: PASSWORD }), 'application/json; charset=iso-8859-1');
    expect([declared.statusCode, declared.json().code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    expect(await t.db.selectFrom('users').selectAll().execute()).toEqual([]);
  });

  it('accepts the same password typed in another Unicode form (NFKC)', async () => {
    await t.register('uni@example.com', '\ufb01rst caf\u00e9 password');
    expect((await t.post('/login', { email: 'uni@example.com', password: 'first cafe\u0301 password' })).statusCode).toBe(200);
  });

  it('login: the access token in JSON, the refresh token only in its cookie (development attributes)', async () => {
    await t.register('ada@example.com');
    const res = await t.post('/login', { email: 'Ada@Example.com', password: PASSWORD });
    expect(res.statusCode).toBe(200);
    const body = res.json() as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(900);
    expect(body.access_token).toMatch(TOKEN_RE);
    const refresh = refreshCookie(res) as string;
    expect(refresh).toMatch(TOKEN_RE);
    expect(refresh).not.toBe(body.access_token);
    expect(res.body).not.toContain(refresh);
    expect(refreshCookieLine(res)).toBe(`refresh_token=${refresh}; Max-Age=604800; Path=/api/v1/auth; HttpOnly; SameSite=Strict`);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-ratelimit-limit']).toBe('5');
    expect(res.headers['x-ratelimit-remaining']).toBe('4');
    expect(t.takeEvents()).toEqual(['user_created', 'authn_login_success', 'session_created', 'authn_token_created']);
  });

  it('login: unknown email and wrong password get the same 401 INVALID_CREDENTIALS, with no cookie', async () => {
    await t.register('ada@example.com');
    t.takeEvents();
    const wrong = await t.post('/login', { email: 'ada@example.com', password: 'wrong password' }, {}, '10.0.0.1');
    const unknown = await t.post('/login', { email: 'nobody@example.com', password: 'wrong password' }, {}, '10.0.0.2');
    for (const res of [wrong, unknown]) {
      expect(res.statusCode).toBe(401);
      expect(setCookies(res)).toEqual([]);
    }
    const strip = (body: Record<string, unknown>) => ({ ...body, request_id: undefined });
    expect(strip(wrong.json())).toEqual(strip(unknown.json()));
    expect(wrong.json()).toMatchObject({ code: 'INVALID_CREDENTIALS', error: 'The email or password is incorrect.' });
    const names = (res: typeof wrong) => Object.keys(res.headers).filter((h) => h !== 'date' && h !== 'x-request-id').sort();
    expect(names(wrong)).toEqual(names(unknown));
    expect(t.takeEvents()).toEqual(['authn_login_fail', 'authn_login_fail']);
  });

  it('login: 400 VALIDATION_FAILED for a malformed email or a missing password', async () => {
    const res = await t.post('/login', { email: 'nope', password: '' });
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: { email: ['Enter a valid email address.'], password: ['Enter your password.'] } });
  });

  it('me: the user for a live bearer token; 401 INVALID_TOKEN with a Bearer challenge otherwise', async () => {
    await t.register('ada@example.com', PASSWORD, 'Ada');
    const { access, refresh } = await t.login('ada@example.com');
    const me = await t.me(access);
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ email: 'ada@example.com', name: 'Ada' });
    expect(Object.keys(me.json() as object).sort()).toEqual(['created_at', 'email', 'id', 'name']);

    const none = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me' });
    expect([none.statusCode, none.json().code, none.headers['www-authenticate']]).toEqual([401, 'INVALID_TOKEN', 'Bearer realm="api"']);
    for (const authorization of [`Bearer ${'x'.repeat(43)}`, `Bearer ${refresh}`, `Basic ${access}`, `Bearer ${access}extra`, access]) {
      const res = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization } });
      expect([res.statusCode, res.json().code], authorization).toEqual([401, 'INVALID_TOKEN']);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="api", error="invalid_token"');
    }
  });

  it('access tokens live 15 minutes by default', async () => {
    await t.register('ada@example.com');
    const { access } = await t.login('ada@example.com');
    t.clock.advance(15 * MINUTE - 1);
    expect((await t.me(access)).statusCode).toBe(200);
    t.clock.advance(1);
    expect((await t.me(access)).statusCode).toBe(401);
  });

  it('stores tokens only as SHA-256 hashes', async () => {
    await t.register('ada@example.com');
    const { access, refresh } = await t.login('ada@example.com');
    const rotated = refreshCookie(await t.refresh(refresh)) as string;
    const accessRows = await t.db.selectFrom('access_tokens').select('token_hash').execute();
    const refreshRows = await t.db.selectFrom('refresh_tokens').select('token_hash').execute();
    expect(accessRows.map((r) => r.token_hash)).toContain(hashToken(access));
    expect(refreshRows.map((r) => r.token_hash).sort()).toEqual([hashToken(refresh), hashToken(rotated)].sort());
    const dump = JSON.stringify(await Promise.all(['users', 'access_tokens', 'refresh_tokens', 'password_resets'].map((table) => t.db.selectFrom(table as 'users').selectAll().execute())));
    for (const token of [access, refresh, rotated]) expect(dump).not.toContain(token);
  });

  it('never writes a token, a password or a cookie to the log', async () => {
    await t.register('ada@example.com');
    const first = await t.post('/login', { email: 'ada@example.com', password: PASSWORD });
    const access = first.json().access_token as string;
    const refresh = refreshCookie(first) as string;
    const rotated = await t.refresh(refresh);
    const second = refreshCookie(rotated) as string;
    await t.refresh(refresh); // reuse: logged as such, without the token
    await t.post('/login', { email: 'ada@example.com', password: 'a wrong password' });
    await t.me(access);
    await t.post('/forgot-password', { email: 'ada@example.com' });
    const link = await waitForMail(t);
    const resetToken = /#token=([A-Za-z0-9_-]{43})/.exec(link)?.[1] as string;
    await t.post('/reset-password', { token: resetToken, password: 'a brand new password' });
    const text = t.logs.join('\n');
    expect(t.logs.length).toBeGreaterThan(10);
    expect(text).toContain('authn_token_reuse');
    for (const secret of [access, refresh, second, resetToken, PASSWORD, 'a wrong password', 'a brand new password']) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toMatch(/refresh_token=/);
    expect(text).not.toMatch(/authorization/i);
  });

  it('logout and logout-all need a bearer token: 401 INVALID_TOKEN otherwise', async () => {
    for (const url of ['/logout', '/logout-all']) {
      const res = await t.post(url);
      expect([res.statusCode, res.json().code], url).toEqual([401, 'INVALID_TOKEN']);
      const bad = await t.post(url, undefined, { authorization: `Bearer ${'y'.repeat(43)}` });
      expect([bad.statusCode, bad.json().code], url).toEqual([401, 'INVALID_TOKEN']);
    }
  });

  it('answers unknown auth paths with 404 NOT_FOUND and wrong methods as errors', async () => {
    expect((await t.post('/nope', {})).json()).toMatchObject({ code: 'NOT_FOUND' });
    const get = await t.app.inject({ method: 'GET', url: '/api/v1/auth/login' });
    expect([get.statusCode, get.json().code, get.headers.allow]).toEqual([405, 'METHOD_NOT_ALLOWED', 'POST']);
  });
});

eachEngine('auth API configuration', (engine) => {
  it('takes the lifetimes from SANCTUM_ACCESS_TOKEN_EXPIRATION and SANCTUM_REFRESH_TOKEN_EXPIRATION (minutes)', async () => {
    const t = await authApp(engine, { env: { SANCTUM_ACCESS_TOKEN_EXPIRATION: '5', SANCTUM_REFRESH_TOKEN_EXPIRATION: '60' } });
    try {
      await t.register('ada@example.com');
      const res = await t.post('/login', { email: 'ada@example.com', password: PASSWORD });
      expect(res.json().expires_in).toBe(300);
      expect(refreshCookieLine(res)).toContain('; Max-Age=3600;');
      const { access, refresh } = { access: res.json().access_token as string, refresh: refreshCookie(res) as string };
      t.clock.advance(5 * MINUTE);
      expect((await t.me(access)).statusCode).toBe(401);
      t.clock.advance(55 * MINUTE);
      const late = await t.refresh(refresh);
      expect([late.statusCode, late.json().code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
    } finally {
      await t.close();
    }
  });

  it('production: the refresh cookie is Secure as well', async () => {
    const t = await authApp(engine, { production: true });
    try {
      await t.register('ada@example.com');
      const res = await t.post('/login', { email: 'ada@example.com', password: PASSWORD }, { origin: 'https://app.example.com' });
      const refresh = refreshCookie(res) as string;
      expect(refreshCookieLine(res)).toBe(`refresh_token=${refresh}; Max-Age=604800; Path=/api/v1/auth; HttpOnly; Secure; SameSite=Strict`);
      const out = await t.post('/logout', undefined, { authorization: `Bearer ${res.json().access_token as string}` });
      expect(refreshCookieLine(out)).toBe('refresh_token=; Max-Age=0; Path=/api/v1/auth; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict');
    } finally {
      await t.close();
    }
  });
});

/** The reset link of the last captured mail, once the background work is done. */
async function waitForMail(t: AuthApp): Promise<string> {
  await t.idle();
  const last = t.mail.messages.at(-1);
  if (last === undefined) throw new Error('no mail was sent');
  return last.text;
}
