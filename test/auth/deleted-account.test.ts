/**
 * An account that goes away: an operator deletes the user's row in SQL (`DELETE FROM users
 * WHERE email = …`, a GDPR erasure or an abuse case; the library has no "delete user" feature) while
 * the user is signed in everywhere: a bearer access token, a refresh cookie, a browser session whose
 * record names the user, a trusted device, a reset link not yet used. Pinned here, on SQLite and on
 * PostgreSQL: the foreign keys cascade (the DELETE is refused by nothing and leaves no token row),
 * and afterwards nothing acts as that user and nothing answers 500 — every credential gets the
 * answer it gets once revoked. A new account with the same email is a new id (a random UUID on both
 * engines, so no store key built from the id can come back) and starts with no token or sign-in.
 */
import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { authApp, eachEngine, PASSWORD, setCookies, type AuthApp, type Session } from './harness.js';

const EMAIL = 'ada@example.com';

/** A browser: its session cookie and the CSRF token of the last page it loaded. */
interface Browser {
  cookie: string;
  token: string;
}

const tokenIn = (body: string) => /<meta name="csrf-token" content="([^"]+)"/.exec(body)?.[1] ?? '';
const sessionCookieOf = (res: LightMyRequestResponse) =>
  setCookies(res)
    .find((c) => c.startsWith('lc_session='))
    ?.split(';')[0];

eachEngine('an account deleted in SQL while signed in', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function load(app: AuthApp, path: string, browser?: Browser): Promise<{ res: LightMyRequestResponse; browser: Browser }> {
    const res = await app.app.inject({ method: 'GET', url: path, headers: browser ? { cookie: browser.cookie } : {} });
    expect(res.statusCode, path).toBe(200);
    return { res, browser: { cookie: sessionCookieOf(res) ?? browser?.cookie ?? '', token: tokenIn(res.body) } };
  }

  /** A browser signed in with the `/login` form, on its profile page. */
  async function browserSignIn(app: AuthApp): Promise<Browser> {
    const { browser } = await load(app, '/login');
    const res = await app.app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: browser.cookie, origin: 'http://127.0.0.1:3000' },
      payload: new URLSearchParams({ _csrf_token: browser.token, email: EMAIL, password: PASSWORD }).toString(),
    });
    expect(res.statusCode).toBe(303);
    return (await load(app, '/profile', { cookie: sessionCookieOf(res) as string, token: '' })).browser;
  }

  const rename = (app: AuthApp, browser: Browser, name: string) =>
    app.app.inject({
      method: 'POST',
      url: '/api/livecomponents/action',
      headers: { 'content-type': 'application/json', cookie: browser.cookie, 'x-csrf-token': browser.token },
      payload: JSON.stringify({ component_id: 'profile:main', action: 'rename', params: { name } }),
    });

  /** Ada registered, signed in through the API (twice: one family rotated once) and a browser, with a reset link mailed. */
  async function adaEverywhere(app: AuthApp) {
    expect((await app.register(EMAIL, PASSWORD, 'Ada')).statusCode).toBe(201);
    const api: Session = await app.login(EMAIL);
    const rotatedFrom = await app.login(EMAIL);
    const rotation = await app.refresh(rotatedFrom.refresh);
    expect(rotation.statusCode).toBe(200);
    const browser = await browserSignIn(app);
    expect((await rename(app, browser, 'Ada L.')).statusCode).toBe(200);
    expect((await app.post('/forgot-password', { email: EMAIL })).statusCode).toBe(202);
    await app.idle();
    const resetToken = /#token=([A-Za-z0-9_-]{43})/.exec(app.mail.messages.at(-1)?.text ?? '')?.[1] as string;
    expect(resetToken).toBeDefined();
    const id = (await app.db.selectFrom('users').select('id').where('email', '=', EMAIL).executeTakeFirstOrThrow()).id;
    return { id, api, spent: rotatedFrom.refresh, browser, resetToken };
  }

  async function rowsOf(app: AuthApp, userId: string): Promise<number[]> {
    const counts: number[] = [];
    for (const table of ['access_tokens', 'refresh_tokens', 'password_resets'] as const) {
      const row = await app.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
      counts.push(Number(row.n));
    }
    return counts;
  }

  it('the DELETE cascades to every token row; then no credential acts as the user, and none answers 500', async () => {
    t = await authApp(engine);
    const app = t;
    const ada = await adaEverywhere(app);
    expect((await rowsOf(app, ada.id)).every((n) => n > 0)).toBe(true);

    const deleted = await sql`delete from users where email = ${EMAIL}`.execute(app.db);
    expect(Number(deleted.numAffectedRows)).toBe(1);
    expect(await rowsOf(app, ada.id)).toEqual([0, 0, 0]);
    app.events.splice(0);

    // The bearer token: 401 at once, not at its expiry.
    const me = await app.me(ada.api.access);
    expect([me.statusCode, me.json().code]).toEqual([401, 'INVALID_TOKEN']);
    // The live refresh cookie and the rotated one: invalid, no reuse alarm (no family is left to revoke).
    for (const refresh of [ada.api.refresh, ada.spent]) {
      const res = await app.refresh(refresh);
      expect([res.statusCode, res.json().code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
    }
    // Sign-out with the cookie alone: answered as for any unknown cookie.
    expect((await app.post('/logout', undefined, { cookie: `refresh_token=${ada.api.refresh}` })).statusCode).toBe(204);
    // The reset link mailed before the delete.
    const reset = await app.post('/reset-password', { token: ada.resetToken, password: 'a brand new password' });
    expect([reset.statusCode, reset.json().code]).toEqual([400, 'RESET_TOKEN_INVALID']);
    // The browser session still names the user: components see no user, the page is signed out.
    const refused = await rename(app, ada.browser, 'Eve');
    expect([refused.statusCode, refused.json().code]).toEqual([401, 'UNAUTHENTICATED']);
    expect((await load(app, '/profile', ada.browser)).res.body).toContain('data-signed-out');
    // The password no longer signs anyone in; forgot-password still answers alike, and mails nothing.
    expect((await app.post('/login', { email: EMAIL, password: PASSWORD })).statusCode).toBe(401);
    const mailed = app.mail.messages.length;
    expect((await app.post('/forgot-password', { email: EMAIL })).statusCode).toBe(202);
    await app.idle();
    expect(app.mail.messages).toHaveLength(mailed);
    expect(app.events.map((e) => e.event)).not.toContain('authn_token_reuse');
    // Every answer is logged with its status (the filter finds the 4xx above): none is a 5xx.
    expect(app.logs.filter((line) => /"statusCode":401/.test(line)).length).toBeGreaterThan(0);
    expect(app.logs.filter((line) => /"statusCode":5\d\d/.test(line))).toEqual([]);
  });

  it('a new account with the same email is a new id, and inherits no token, sign-in or reset link', async () => {
    t = await authApp(engine);
    const app = t;
    const ada = await adaEverywhere(app);
    await sql`delete from users where email = ${EMAIL}`.execute(app.db);

    const again = await app.register(EMAIL, 'another password entirely', 'New Ada');
    expect(again.statusCode).toBe(201);
    const newId = (again.json() as { id: string }).id;
    expect(newId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(newId).not.toBe(ada.id);
    expect(await rowsOf(app, newId)).toEqual([0, 0, 0]);

    expect((await app.me(ada.api.access)).statusCode).toBe(401);
    expect((await app.refresh(ada.api.refresh)).statusCode).toBe(401);
    expect((await app.post('/reset-password', { token: ada.resetToken, password: 'a brand new password' })).statusCode).toBe(400);
    expect((await rename(app, ada.browser, 'Eve')).statusCode).toBe(401);
    expect((await load(app, '/profile', ada.browser)).res.body).toContain('data-signed-out');
    // The old password is not the new account's.
    expect((await app.post('/login', { email: EMAIL, password: PASSWORD })).statusCode).toBe(401);
  });
});
