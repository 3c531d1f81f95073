/**
 * The reference app's "Change password" form (`/profile`, `POST /change-password`; src/auth/web.ts
 * `changePassword`): a browser signed in with the `/login` form has no Bearer token for the JSON
 * route. With the current password, every other sign-in of the user ends (other browsers, API
 * tokens), and this browser goes on signed in under a new session id (a fresh sign-in under the new
 * hash). A wrong current password is refused on the page (`role=alert`, the field marked invalid),
 * nothing changes; a post without the page's token, or with no one signed in, changes nothing.
 * Before, the route did not exist (404).
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { authApp, eachEngine, PASSWORD, setCookies, type AuthApp } from './harness.js';

const EMAIL = 'ada@example.com';
const NEW_PASSWORD = 'a brand new passphrase 2026';
const ORIGIN = { origin: 'http://127.0.0.1:3000' };

const formTokenOf = (body: string) => /name="_csrf_token" value="([^"]+)"/.exec(body)?.[1] ?? '';

function sessionCookieOf(res: LightMyRequestResponse): string | undefined {
  return setCookies(res)
    .find((c) => c.startsWith('lc_session='))
    ?.split(';')[0];
}

eachEngine('the browser form that changes a password', (engine) => {
  let t: AuthApp;
  beforeEach(async () => {
    t = await authApp(engine, { auth: { limits: { login: { limit: 100, windowSeconds: 60 } } } });
    expect((await t.register(EMAIL, PASSWORD, 'Ada')).statusCode).toBe(201);
  });
  afterEach(async () => {
    await t.close();
  });

  const get = (path: string, cookie = '') => t.app.inject({ method: 'GET', url: path, headers: cookie === '' ? {} : { cookie } });
  const form = (path: string, cookie: string, fields: Record<string, string>) =>
    t.app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...ORIGIN },
      payload: new URLSearchParams(fields).toString(),
    });

  /** A browser signed in with the `/login` form: its session cookie. */
  async function signIn(password = PASSWORD): Promise<string> {
    const page = await get('/login');
    const cookie = sessionCookieOf(page) as string;
    const res = await form('/login', cookie, { _csrf_token: formTokenOf(page.body), email: EMAIL, password });
    expect(res.statusCode).toBe(303);
    return sessionCookieOf(res) as string;
  }

  /** Whether `/profile` in the browser of `cookie` shows the change form (only a signed-in user's page has it). */
  const signedIn = async (cookie: string) => (await get('/profile', cookie)).body.includes('data-testid="change-password-form"');

  it('with the current password: 303 to /profile, this browser signed in under a new session id, every other sign-in ended, the new password signs in', async () => {
    const here = await signIn();
    const elsewhere = await signIn();
    const api = await t.login(EMAIL);
    const page = await get('/profile', here);
    expect(page.body).toMatch(/<input type="password" name="current_password" required maxlength="1024" autocomplete="current-password">/);
    expect(page.body).toMatch(/<input type="password" name="new_password" required minlength="8" maxlength="\d+" autocomplete="new-password" aria-describedby="new-password-hint">/);
    t.takeEvents();

    const res = await form('/change-password', here, { _csrf_token: formTokenOf(page.body), current_password: PASSWORD, new_password: NEW_PASSWORD });
    expect({ status: res.statusCode, location: res.headers.location }).toEqual({ status: 303, location: '/profile?password_changed' });
    const renewed = sessionCookieOf(res) as string;
    expect(renewed).toMatch(/^lc_session=/);
    expect(renewed).not.toBe(here);

    expect(await signedIn(renewed)).toBe(true);
    expect((await get('/profile?password_changed', renewed)).body).toContain('role="status" data-change-notice>Your password was changed.');
    expect(await signedIn(here)).toBe(false);
    expect(await signedIn(elsewhere)).toBe(false);
    expect((await t.me(api.access)).statusCode).toBe(401);
    expect((await t.post('/login', { email: EMAIL, password: PASSWORD })).json().code).toBe('INVALID_CREDENTIALS');
    expect((await t.post('/login', { email: EMAIL, password: NEW_PASSWORD })).statusCode).toBe(200);
    const events = t.takeEvents();
    expect(events.filter((e) => e === 'authn_password_change')).toHaveLength(1);
    expect(events.slice(0, 6)).toEqual(['authn_password_change', 'authn_token_revoked', 'session_logout', 'authn_login_success', 'session_created', 'authn_login_fail']);
    await t.idle();
    expect(t.mail.messages.filter((m) => m.subject === 'Your password was changed').map((m) => m.to)).toEqual([EMAIL]);
  });

  it('a wrong current password: 401, the page says so on the field, nothing changes', async () => {
    const here = await signIn();
    const page = await get('/profile', here);
    const res = await form('/change-password', here, { _csrf_token: formTokenOf(page.body), current_password: 'not my password', new_password: NEW_PASSWORD });
    expect(res.statusCode).toBe(401);
    expect(res.body).toContain('role="alert" id="change-password-error" data-change-error>The current password is incorrect.');
    expect(res.body).toMatch(/name="current_password"[^>]* aria-describedby="change-password-error" aria-invalid="true" autofocus>/);
    expect(res.body).not.toContain(NEW_PASSWORD);
    expect(await signedIn(here)).toBe(true);
    expect((await t.post('/login', { email: EMAIL, password: PASSWORD })).statusCode).toBe(200);
  });

  it('no form token, or no one signed in: refused, nothing changes', async () => {
    const here = await signIn();
    const forged = await form('/change-password', here, { current_password: PASSWORD, new_password: NEW_PASSWORD });
    expect(forged.statusCode).toBe(403);
    expect(await signedIn(here)).toBe(true);
    const anonymous = await get('/login');
    const cookie = sessionCookieOf(anonymous) as string;
    const res = await form('/change-password', cookie, { _csrf_token: formTokenOf(anonymous.body), current_password: PASSWORD, new_password: NEW_PASSWORD });
    expect(res.statusCode).toBe(401);
    expect((await t.post('/login', { email: EMAIL, password: PASSWORD })).statusCode).toBe(200);
  });
});
