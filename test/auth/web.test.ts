/**
 * Browser sign-in for components, over HTTP: `/login` regenerates the session (new id, new CSRF
 * secret), components see `ctx.user`, `profile:main` edits the display name, `/logout` signs out,
 * and logout-all or a password reset end browser sessions at once.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sessionKeyOf } from '../../src/session/index.js';
import { storeKeys } from '../../src/store/keys.js';
import { demoApp } from '../helpers/demo.js';
import { authApp, eachEngine, PASSWORD, setCookies, T0, type AuthApp } from './harness.js';

/** A browser: its session cookie and the CSRF token of the last page it loaded. */
interface Browser {
  cookie: string;
  token: string;
}

const tokenIn = (body: string) => /<meta name="csrf-token" content="([^"]+)"/.exec(body)?.[1] ?? '';
/** The token of a page's forms (`view.formToken()`). */
const formTokenOf = (body: string) => /name="_csrf_token" value="([^"]+)"/.exec(body)?.[1] ?? '';

function sessionCookieOf(res: LightMyRequestResponse): string | undefined {
  return setCookies(res)
    .find((c) => c.startsWith('lc_session='))
    ?.split(';')[0];
}

eachEngine('browser sign-in', (engine) => {
  let t: AuthApp;
  beforeEach(async () => {
    t = await authApp(engine);
    await t.register('ada@example.com', PASSWORD, 'Ada');
    t.takeEvents();
  });
  afterEach(async () => {
    await t.close();
  });

  async function load(path: string, browser?: Browser): Promise<{ res: LightMyRequestResponse; browser: Browser }> {
    const res = await t.app.inject({ method: 'GET', url: path, headers: browser ? { cookie: browser.cookie } : {} });
    expect(res.statusCode, path).toBe(200);
    return { res, browser: { cookie: sessionCookieOf(res) ?? browser?.cookie ?? '', token: tokenIn(res.body) } };
  }

  function form(path: string, browser: Browser, fields: Record<string, string>, headers: Record<string, string> = {}) {
    return t.app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: browser.cookie, ...headers },
      payload: new URLSearchParams(fields).toString(),
    });
  }

  async function signIn(password = PASSWORD): Promise<Browser> {
    const { browser } = await load('/login');
    const res = await form('/login', browser, { _csrf_token: browser.token, email: 'Ada@Example.com', password }, { origin: 'http://127.0.0.1:3000' });
    expect(res.statusCode).toBe(303);
    return { cookie: sessionCookieOf(res) as string, token: '' };
  }

  function rename(browser: Browser, name: string) {
    return t.app.inject({
      method: 'POST',
      url: '/api/livecomponents/action',
      headers: { 'content-type': 'application/json', cookie: browser.cookie, 'x-csrf-token': browser.token },
      payload: JSON.stringify({ component_id: 'profile:main', action: 'rename', params: { name } }),
    });
  }

  it('the login page carries the form, its CSRF token and the session cookie', async () => {
    const { res, browser } = await load('/login');
    expect(browser.cookie).toMatch(/^lc_session=/);
    expect(res.body).toContain('<form method="post" action="/login"');
    expect(res.body).toContain(`name="_csrf_token" value="${browser.token}"`);
    expect(res.body).toContain('<a href="/login" aria-current="page">Sign in</a>');
  });

  /** The nav's links as `[href, text, aria-current?]`. */
  function navLinks(body: string): string[][] {
    const nav = /<nav>([\s\S]*?)<\/nav>/.exec(body)?.[1] ?? '';
    return [...nav.matchAll(/<a ([^>]*)>([^<]*)<\/a>/g)].map(([, attrs = '', text = '']) => [
      /href="([^"]*)"/.exec(attrs)?.[1] ?? '',
      text,
      ...(attrs.includes('aria-current="page"') ? ['current'] : []),
    ]);
  }
  const NAV_PAGES = [['/', 'Counter'], ['/orders', 'Orders'], ['/payment', 'Payment'], ['/profile', 'Profile']] as const;

  it('the nav says "Sign in" to a signed-out browser and shows the account of a signed-in one', async () => {
    const expected = (path: string, account: string) => [
      ['/', 'LiveComponents'],
      ...NAV_PAGES.map(([href, label]) => (href === path ? [href, label, 'current'] : [href, label])),
      path === '/login' ? ['/login', account, 'current'] : ['/login', account],
    ];
    const paths = ['/', '/orders', '/payment', '/profile', '/login', '/forgot-password', '/reset-password'];
    for (const path of paths) expect(navLinks((await load(path)).res.body), path).toEqual(expected(path, 'Sign in'));

    const signedIn = await signIn();
    for (const path of paths) {
      const { res } = await load(path, signedIn);
      expect(navLinks(res.body), path).toEqual(expected(path, 'ada@example.com'));
      expect(res.body, path).toContain('data-nav-account title="Account">ada@example.com</a>');
      expect(res.body, path).not.toContain('>Sign in</a>');
    }

    const { browser } = await load('/login', signedIn);
    const out = await form('/logout', browser, { _csrf_token: browser.token });
    expect(out.statusCode).toBe(303);
    const signedOut = { cookie: sessionCookieOf(out) as string, token: '' };
    expect(navLinks((await load('/', signedOut)).res.body)).toEqual(expected('/', 'Sign in'));
  });

  it('the login form links to /forgot-password', async () => {
    const { res } = await load('/login');
    expect(res.body).toContain('<a href="/forgot-password" data-testid="forgot-link">Forgot your password?</a>');
  });

  it('/login?signed_out says so in a status line, not an alert, and marks no field', async () => {
    const { res } = await load('/login?signed_out');
    expect(res.body).toContain('<p class="notice" role="status" data-login-notice>You are signed out.</p>');
    expect(res.body).not.toContain('role="alert"');
    expect(res.body).not.toMatch(/aria-invalid|aria-describedby="login-error"|autofocus/);
  });

  it('the email fields of /login and /forgot-password are text fields (type=email refuses a non-ASCII local part), labelled and required', async () => {
    for (const path of ['/login', '/forgot-password']) {
      const { body } = (await load(path)).res;
      expect(body, path).not.toMatch(/type="?email/i);
      const fields = body.match(/<input\b[^>]*name="email"[^>]*>/g) ?? [];
      expect(fields, path).toHaveLength(1);
      const field = fields[0] as string;
      for (const attr of ['type="text"', 'inputmode="email"', 'spellcheck="false"', 'autocapitalize="off"', ' required']) expect(field, path).toContain(attr);
      expect(field).toContain(path === '/login' ? 'autocomplete="username"' : 'autocomplete="email"');
      expect(body).toMatch(/<label class="field">Email <input\b[^>]*name="email"/);
    }
  });

  it('GET /forgot-password and /reset-password answer HTML forms posted by app.js, with no inline script', async () => {
    const forgot = (await load('/forgot-password')).res;
    const reset = (await load('/reset-password?token=not-from-here')).res;
    for (const res of [forgot, reset]) {
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.body).toMatch(/<script type="module" src="\/assets\/app\.js\?v=[A-Za-z0-9_-]{16}"><\/script>/);
      // Every script is a file: no inline code.
      expect(res.body.match(/<script\b[^>]*>/g)?.every((tag) => / src="[^"]+"/.test(tag))).toBe(true);
      // Never hidden: a live region hidden until filled is not reliably read. Focusable: it takes the focus of a hidden form.
      expect(res.body).toContain('<p class="notice" role="status" data-auth-status tabindex="-1"></p>');
      expect(res.body).toContain('<p class="flash" role="alert" data-auth-error></p>');
    }
    expect(forgot.body).toContain('<title>Forgot your password? · LiveComponents</title>');
    expect(forgot.body).toContain('<form method="post" class="stack" data-auth-form="forgot-password" data-testid="forgot-password-form">');
    expect(forgot.body).toContain('<input type="text" inputmode="email" name="email" required maxlength="1024" autocomplete="email" spellcheck="false" autocapitalize="off">');
    expect(forgot.body).toContain('<button type="submit" class="btn primary" disabled>Send the link</button>');

    expect(reset.body).toContain('<title>Choose a new password · LiveComponents</title>');
    expect(reset.body).toContain('<form method="post" class="stack" data-auth-form="reset-password" data-testid="reset-password-form">');
    expect(reset.body).toContain(
      '<input type="password" name="password" required minlength="8" maxlength="256" autocomplete="new-password" aria-describedby="password-hint"></label>',
    );
    expect(reset.body).toContain('<p class="muted" id="password-hint">8 to 128 characters.');
    // A (hidden) username field, so password managers know which saved password the new one replaces.
    expect(reset.body).toContain('<input type="text" name="username" autocomplete="username" hidden>');
    expect(reset.body).toContain('<button type="submit" class="btn primary" disabled>Set the new password</button>');
    expect(reset.body).toContain('<a href="/forgot-password">Ask for a new one</a>');
    // The page is the same for everyone: the token is read from the fragment by the script, never echoed.
    expect(reset.body).not.toContain('not-from-here');
    expect(reset.body).not.toMatch(/name="token"|value="[A-Za-z0-9_-]{43}"/);

    const script = await t.app.inject({ method: 'GET', url: '/assets/app.js' });
    expect(script.statusCode).toBe(200);
    expect(script.body).toContain("document.querySelectorAll('form[data-auth-form]')");
    expect(script.body).toContain("const AUTH_API = '/api/v1/auth';");
  });

  it('links its own assets by content hash: the current URL is cached for good, any other revalidated', async () => {
    const { res } = await load('/');
    for (const name of ['app.js', 'app.css', 'icon.svg']) {
      const url = new RegExp(`/assets/${name.replace('.', '\\.')}\\?v=([A-Za-z0-9_-]{16})"`).exec(res.body)?.[1];
      expect(url, name).toBeDefined();
      const current = await t.app.inject({ url: `/assets/${name}?v=${url}` });
      expect(current.statusCode).toBe(200);
      expect(current.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      const etag = String(current.headers.etag);
      expect(etag).toBe(`"${url}"`);
      // A page of another version (an old or no hash) gets the content with a revalidation, never a year.
      for (const other of [`/assets/${name}`, `/assets/${name}?v=AAAAAAAAAAAAAAAA`]) {
        const stale = await t.app.inject({ url: other });
        expect(stale.headers['cache-control'], other).toBe('public, no-cache');
        expect(stale.body).toBe(current.body);
        expect((await t.app.inject({ url: other, headers: { 'if-none-match': etag } })).statusCode).toBe(304);
      }
    }
  });

  it('signs in: 303 to /profile, a new session id naming the user, the old id and its CSRF tokens dead', async () => {
    const { browser } = await load('/login');
    const res = await form('/login', browser, { _csrf_token: browser.token, email: 'ada@example.com', password: PASSWORD });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/profile');
    const cookie = sessionCookieOf(res) as string;
    expect(cookie).not.toBe(browser.cookie);
    expect(cookie).toMatch(/^lc_session=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(setCookies(res).find((c) => c.startsWith('lc_session='))).toContain('HttpOnly; SameSite=Lax');
    expect(t.takeEvents()).toEqual(['authn_login_success', 'session_created']);

    const profile = await load('/profile', { cookie, token: '' });
    expect(profile.res.body).toContain('<strong data-email>ada@example.com</strong>');
    expect(profile.res.body).toContain('<output data-name>Ada</output>');
    // The token of the page loaded before signing in does not work with the new session.
    expect((await rename({ cookie, token: browser.token }, 'Eve')).json()).toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
    // The old session is gone.
    expect((await rename(browser, 'Eve')).json()).toMatchObject({ code: 'CSRF_TOKEN_INVALID' });
  });

  it('refuses a sign-in without the CSRF token, with another session’s token, or from another origin', async () => {
    const { browser } = await load('/login');
    const other = await load('/login');
    const cases: [Record<string, string>, Record<string, string>][] = [
      [{ email: 'ada@example.com', password: PASSWORD }, {}],
      [{ _csrf_token: other.browser.token, email: 'ada@example.com', password: PASSWORD }, {}],
    ];
    for (const [fields, headers] of cases) {
      const res = await form('/login', browser, fields, headers);
      expect(res.statusCode).toBe(403);
      expect(res.body).toContain('Invalid security token. Please refresh the page.');
      // About the page, not what was typed: read with the fields, but none is marked invalid.
      expect(res.body).toContain(' aria-describedby="login-error"');
      expect(res.body).not.toContain('aria-invalid');
      expect(sessionCookieOf(res)).toBeUndefined();
    }
    // From another site: refused before the form is read, with a redirect to /login saying so.
    for (const headers of [{ origin: 'https://evil.test' }, { 'sec-fetch-site': 'cross-site' }] as Record<string, string>[]) {
      const res = await form('/login', browser, { _csrf_token: browser.token, email: 'ada@example.com', password: PASSWORD }, headers);
      expect([res.statusCode, res.headers.location, sessionCookieOf(res)]).toEqual([303, '/login?sign_in_refused', undefined]);
    }
    expect(t.takeEvents()).toEqual(Array(4).fill('malicious_csrf'));
  });

  it('answers a wrong password and an unknown email with the same 401 page', async () => {
    const { browser } = await load('/login');
    const wrong = await form('/login', browser, { _csrf_token: browser.token, email: 'ada@example.com', password: 'wrong password' });
    const unknown = await form('/login', browser, { _csrf_token: browser.token, email: 'nobody@example.com', password: 'wrong password' });
    for (const res of [wrong, unknown]) {
      expect(res.statusCode).toBe(401);
      expect(res.body).toContain('<p class="flash" role="alert" id="login-error" data-login-error>The email or password is incorrect.</p>');
      // Before the form, read with each field, which it marks invalid; the focus starts in the first one.
      expect(res.body.indexOf('data-login-error')).toBeLessThan(res.body.indexOf('data-testid="login-form"'));
      const email = /<input type="text" inputmode="email" name="email"[^>]*>/.exec(res.body)?.[0] ?? '';
      const password = /<input type="password" name="password"[^>]*>/.exec(res.body)?.[0] ?? '';
      for (const field of [email, password]) expect(field).toMatch(/ aria-describedby="login-error" aria-invalid="true"[ >]/);
      expect(email).toMatch(/ autofocus>$/);
      expect(password).not.toContain('autofocus');
    }
    const strip = (body: string) => body.replace(/content="[^"]+"/g, '').replace(/value="[^"]*"/g, '');
    expect(strip(wrong.body)).toBe(strip(unknown.body));
    expect(t.takeEvents()).toEqual(['authn_login_fail', 'authn_login_fail']);
  });

  it('a malformed field (400 VALIDATION_FAILED) says which and why, escaped, and marks only that field', async () => {
    const { browser } = await load('/login');
    // Each try a minute apart: the login budget (5 a minute) is spent before the input is read.
    const post = (fields: Record<string, string>) => {
      t.clock.advance(60_000);
      return form('/login', browser, { _csrf_token: browser.token, ...fields });
    };
    const alert = (text: string) => `<p class="flash" role="alert" id="login-error" data-login-error>The parameters are invalid. ${text}</p>`;
    const fieldTags = (body: string) => ({
      email: /<input type="text" inputmode="email" name="email"[^>]*>/.exec(body)?.[0] ?? '',
      password: /<input type="password" name="password"[^>]*>/.exec(body)?.[0] ?? '',
    });
    for (const email of ['ada@example.com\u200b', '   ', '<b>x</b>@e.com']) {
      const res = await post({ email, password: PASSWORD });
      expect(res.statusCode, email).toBe(400);
      expect(res.body, email).toContain(alert('Enter a valid email address.'));
      const tags = fieldTags(res.body);
      expect(tags.email, email).toMatch(/ aria-describedby="login-error" aria-invalid="true" autofocus>$/);
      expect(tags.password, email).toMatch(/ aria-describedby="login-error">$/);
    }
    // What was typed comes back escaped, never as markup.
    const markup = await post({ email: '<b>x</b>@e.com', password: PASSWORD });
    expect(markup.body).toContain('value="&lt;b&gt;x&lt;/b&gt;@e.com"');
    expect(markup.body).not.toContain('<b>x</b>');

    const long = await post({ email: 'ada@example.com', password: 'x'.repeat(1025) });
    expect(long.statusCode).toBe(400);
    expect(long.body).toContain(alert('Enter your password.'));
    const tags = fieldTags(long.body);
    expect(tags.email).toMatch(/ aria-describedby="login-error">$/);
    expect(tags.password).toMatch(/ aria-describedby="login-error" aria-invalid="true" autofocus>$/);

    const both = await post({ email: ' ', password: '' });
    expect(both.body).toContain(alert('Enter a valid email address. Enter your password.'));
  });

  it('shares the 5-per-minute login budget with the JSON endpoint', async () => {
    for (let i = 0; i < 3; i++) await t.post('/login', { email: 'ada@example.com', password: 'wrong password' });
    const { browser } = await load('/login');
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) {
      codes.push((await form('/login', browser, { _csrf_token: browser.token, email: 'ada@example.com', password: PASSWORD.slice(1) })).statusCode);
    }
    expect(codes).toEqual([401, 401, 429]);
    const refused = await form('/login', browser, { _csrf_token: browser.token, email: 'ada@example.com', password: PASSWORD });
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('60');
    expect(refused.body).toContain('Too many requests. Please wait and try again. (retry in 60 s)');
  });

  it('profile:main edits the display name of the signed-in user; signed out, rename answers 401', async () => {
    const signedIn = await signIn();
    const page = await load('/profile', signedIn);
    const browser = page.browser;
    const ok = await rename(browser, '  Ada Lovelace  ');
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ state: { name: 'Ada Lovelace', saves: 1 } });
    expect(Object.keys(ok.json().state as object).sort()).toEqual(['name', 'saves']);
    expect(ok.json().html).toContain('<output data-name>Ada Lovelace</output>');
    const row = await t.db.selectFrom('users').select('name').executeTakeFirstOrThrow();
    expect(row.name).toBe('Ada Lovelace');
    const { access } = await t.login('ada@example.com');
    expect((await t.me(access)).json()).toMatchObject({ name: 'Ada Lovelace' });

    browser.token = ok.json().csrf_token as string;
    const bad = await rename(browser, '');
    expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED', errors: { name: ['The name must be 1 to 80 characters, without control characters.'] } });

    const anonymous = (await load('/profile')).browser;
    const refused = await rename(anonymous, 'Mallory');
    expect([refused.statusCode, refused.json().code]).toEqual([401, 'UNAUTHENTICATED']);
    expect((await t.db.selectFrom('users').select('name').executeTakeFirstOrThrow()).name).toBe('Ada Lovelace');
  });

  it('profile:main: another tab opening /profile keeps the count of saves; a name changed elsewhere shows up, the count kept', async () => {
    const signedIn = await signIn();
    const tabA = (await load('/profile', signedIn)).browser;
    for (const name of ['Ada L', 'Ada Lovelace']) {
      const res = await rename(tabA, name);
      expect(res.statusCode).toBe(200);
      tabA.token = res.json().csrf_token as string;
    }
    // Tab B of the same session opens the page: the instance is the session's, its count goes on.
    const tabB = await load('/profile', signedIn);
    expect(tabB.res.body).toContain('Saved 2 times on this page.');
    const third = await rename(tabA, 'Ada King');
    expect(third.json()).toMatchObject({ state: { name: 'Ada King', saves: 3 } });

    // Renamed elsewhere (another browser, the API): the next view shows the stored name, same count.
    await t.db.updateTable('users').set({ name: 'Countess' }).execute();
    const later = await load('/profile', signedIn);
    expect(later.res.body).toContain('<output data-name>Countess</output>');
    expect(later.res.body).toContain('Saved 3 times on this page.');
    expect((await rename(later.browser, 'Ada')).json()).toMatchObject({ state: { name: 'Ada', saves: 4 } });
  });

  it('signing in again while signed in logs every security event with the request fields of the cheat sheet', async () => {
    const signedIn = await signIn();
    const { browser } = await load('/login', signedIn);
    const from = t.logs.length;
    const res = await form('/login', browser, { _csrf_token: browser.token, email: 'ada@example.com', password: PASSWORD }, { origin: 'http://127.0.0.1:3000', 'user-agent': 'web-test/1.0' });
    expect(res.statusCode).toBe(303);
    const events = t.logs
      .slice(from)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r['security_event'] === true);
    // The earlier sign-in ends (session_logout) before the new one is recorded.
    expect(events.map((e) => e['event'])).toContain('session_logout');
    for (const e of events) {
      expect(e, String(e['event'])).toMatchObject({ useragent: 'web-test/1.0', request_uri: '/login', request_method: 'POST' });
      expect(e['source_ip'], String(e['event'])).toEqual(expect.any(String));
      expect(e['request_id'], String(e['event'])).toEqual(expect.any(String));
    }
  });

  it('signs out: 303, an anonymous session, the sign-in revoked, and the profile action answers 401', async () => {
    const signedIn = await signIn();
    const { browser } = await load('/profile', signedIn);
    t.takeEvents();
    const res = await form('/logout', browser, { _csrf_token: browser.token });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/login?signed_out');
    const cookie = sessionCookieOf(res) as string;
    expect(cookie).toMatch(/^lc_session=[A-Za-z0-9_-]{22}$/);
    expect(t.takeEvents()).toEqual(['session_logout']);
    const after = await load('/profile', { cookie, token: '' });
    expect(after.res.body).toContain('data-signed-out');
    const refused = await rename(after.browser, 'Eve');
    expect([refused.statusCode, refused.json().code]).toEqual([401, 'UNAUTHENTICATED']);
    const live = await t.db.selectFrom('access_tokens').select('id').where('family_id', 'like', 'web:%').where('revoked_at', 'is', null).execute();
    expect(live).toEqual([]);
    // Signed out already: a post without the token changes nothing, and says so.
    const again = await form('/logout', after.browser, {});
    expect([again.statusCode, again.headers.location, sessionCookieOf(again)]).toEqual([303, '/login?signed_out', undefined]);
    expect(t.takeEvents()).toEqual([]);
  });

  it('a clock giving fractions of a millisecond: a signed-in page view and a name change work (times floored for SQL)', async () => {
    t.clock.set(T0 + 0.5);
    const signedIn = await signIn();
    t.clock.set(T0 + 60_000.25);
    const { res, browser } = await load('/profile', signedIn);
    expect(res.body).toContain('Signed in as <strong data-email>ada@example.com</strong>');
    expect((await rename(browser, 'Ada L.')).statusCode).toBe(200);
  });

  it('signing out while signed out keeps the session (no new session, no cookie, no event): it cannot mint sessions', async () => {
    const { browser } = await load('/');
    const regenerate = vi.spyOn(t.app.livecomponents.runtime.sessions, 'regenerate');
    t.takeEvents();
    for (let i = 0; i < 5; i++) {
      const res = await form('/logout', browser, { _csrf_token: browser.token });
      expect([res.statusCode, res.headers.location, sessionCookieOf(res)]).toEqual([303, '/login?signed_out', undefined]);
    }
    expect(t.takeEvents()).toEqual([]);
    expect(regenerate).toHaveBeenCalledTimes(0);
    // The same session and token still work.
    expect((await form('/logout', browser, { _csrf_token: browser.token })).statusCode).toBe(303);
  });

  it('pages are no-store, signed in or not (Back after signing out, or after an action, must not show them from the browser cache)', async () => {
    const signedIn = await signIn();
    for (const path of ['/profile', '/login', '/']) {
      expect((await load(path, signedIn)).res.headers['cache-control'], path).toBe('no-store');
    }
    for (const path of ['/profile', '/login', '/']) expect((await load(path)).res.headers['cache-control'], path).toBe('no-store');
  });

  const STILL_SIGNED_IN =
    '<p class="flash" role="alert" data-login-error>You are still signed in: your session changed since that page was loaded, in another tab perhaps. Press Sign out again.</p>';

  it('a refused sign-out of a signed-in session: logged as CSRF, nothing changes, and a redirect to a page saying why', async () => {
    const signedIn = await signIn();
    const { browser } = await load('/profile', signedIn);
    const regenerate = vi.spyOn(t.app.livecomponents.runtime.sessions, 'regenerate');
    t.takeEvents();
    const cases: [Record<string, string>, Record<string, string>][] = [
      [{ _csrf_token: 'v1.stale' }, {}],
      [{}, {}],
      [{ _csrf_token: browser.token }, { origin: 'https://evil.test' }],
      [{ _csrf_token: browser.token }, { 'sec-fetch-site': 'cross-site' }],
    ];
    for (const [fields, headers] of cases) {
      const refused = await form('/logout', browser, fields, headers);
      // Post/Redirect/Get: reloading the page shown next does not post the stale token again.
      expect([refused.statusCode, refused.headers.location, sessionCookieOf(refused)]).toEqual([303, '/login?sign_out_refused', undefined]);
    }
    expect(t.takeEvents()).toEqual(Array(4).fill('malicious_csrf'));
    expect(regenerate).toHaveBeenCalledTimes(0);

    const page = await load('/login?sign_out_refused', browser);
    expect(page.res.body).toContain(STILL_SIGNED_IN);
    expect(page.res.body).toContain('Signed in as <strong data-email>ada@example.com</strong>');
    // Not titled "Sign in" while it shows who is signed in.
    expect(page.res.body).toContain('<title>Account · LiveComponents</title>');
    expect(page.res.body).toContain('<h1>Account</h1>');
    expect(page.res.body).not.toMatch(/Sign in</);
    // Still signed in, and the page's own "Sign out" works.
    expect((await load('/profile', browser)).res.body).toContain('<strong data-email>ada@example.com</strong>');
    const out = await form('/logout', page.browser, { _csrf_token: formTokenOf(page.res.body) });
    expect([out.statusCode, out.headers.location]).toEqual([303, '/login?signed_out']);
  });

  it('"Sign out" in a tab whose session another tab signed out: signed out already, so the answer says so (no error, no event, no new session)', async () => {
    const signedIn = await signIn();
    const tabA = await load('/profile', signedIn);
    const tabB = await load('/login', signedIn);
    const outB = await form('/logout', tabB.browser, { _csrf_token: formTokenOf(tabB.res.body) });
    expect(outB.headers.location).toBe('/login?signed_out');
    const cookie = sessionCookieOf(outB) as string;
    t.takeEvents();
    const regenerate = vi.spyOn(t.app.livecomponents.runtime.sessions, 'regenerate');

    // Tab A's page carries the token of the session tab B ended; the browser sends the new cookie.
    const outA = await form('/logout', { cookie, token: '' }, { _csrf_token: formTokenOf(tabA.res.body) }, { origin: 'http://127.0.0.1:3000' });
    expect([outA.statusCode, outA.headers.location, sessionCookieOf(outA)]).toEqual([303, '/login?signed_out', undefined]);
    expect(t.takeEvents()).toEqual([]);
    expect(regenerate).toHaveBeenCalledTimes(0);
    const shown = (await load('/login?signed_out', { cookie, token: '' })).res.body;
    expect(shown).toContain('<p class="notice" role="status" data-login-notice>You are signed out.</p>');
    expect(shown).not.toContain('Invalid security token');

    // A cross-site post is still refused and logged, even for a session with nothing to sign out.
    const forged = await form('/logout', { cookie, token: '' }, {}, { origin: 'https://evil.test' });
    expect([forged.statusCode, forged.headers.location]).toEqual([303, '/login?sign_out_refused']);
    expect(t.takeEvents()).toEqual(['malicious_csrf']);
    // The page it leads to says what is true: signed out.
    const after = (await load('/login?sign_out_refused', { cookie, token: '' })).res.body;
    expect(after).toContain('You are signed out.');
    expect(after).toContain('<title>Sign in · LiveComponents</title>');
    expect(regenerate).toHaveBeenCalledTimes(0);
  });

  it('"Sign out" in a tab whose session another tab signed out and in again: refused, and the page says "Sign out" works now', async () => {
    const signedIn = await signIn();
    const tabA = await load('/profile', signedIn);
    const tabB = await load('/login', signedIn);
    await form('/logout', tabB.browser, { _csrf_token: formTokenOf(tabB.res.body) });
    const again = await signIn();
    t.takeEvents();

    const outA = await form('/logout', again, { _csrf_token: formTokenOf(tabA.res.body) });
    expect([outA.statusCode, outA.headers.location, sessionCookieOf(outA)]).toEqual([303, '/login?sign_out_refused', undefined]);
    // Signed in, the session keeps the CSRF check and its alert.
    expect(t.takeEvents()).toEqual(['malicious_csrf']);
    const page = await load('/login?sign_out_refused', again);
    expect(page.res.body).toContain(STILL_SIGNED_IN);
    expect(page.res.body).toContain('<title>Account · LiveComponents</title>');
    expect(page.res.body).not.toContain('<title>Sign in');
    const out = await form('/logout', page.browser, { _csrf_token: formTokenOf(page.res.body) });
    expect([out.statusCode, out.headers.location]).toEqual([303, '/login?signed_out']);
  });

  it('/login?signed_out loaded while signed in (signed in again in another tab) does not say "You are signed out."', async () => {
    const signedIn = await signIn();
    const { body } = (await load('/login?signed_out', signedIn)).res;
    expect(body).toContain('Signed in as <strong data-email>ada@example.com</strong>');
    expect(body).not.toContain('You are signed out.');
    expect(body).toContain('<title>Account · LiveComponents</title>');
  });

  it('a sign-in form left open past its session is a user back at an old tab (session_use_after_expire), not an attack', async () => {
    const { browser } = await load('/login');
    await t.store.delete(storeKeys.session(sessionKeyOf(browser.cookie.split('=')[1] as string)));
    t.takeEvents();
    const res = await form('/login', browser, { _csrf_token: browser.token, email: 'ada@example.com', password: PASSWORD });
    expect(res.statusCode).toBe(403);
    expect(t.events.slice(-1).map((e) => [e.event, e.level])).toEqual([['session_use_after_expire', 'INFO']]);
    // No cookie at all, or a malformed one, is still refused as a CSRF attempt.
    for (const cookie of ['', 'lc_session=%%%']) await form('/login', { cookie, token: browser.token }, { _csrf_token: browser.token });
    expect(t.takeEvents().slice(-2)).toEqual(['malicious_csrf', 'malicious_csrf']);
  });

  it('logout-all from the API ends the browser session at once', async () => {
    const signedIn = await signIn();
    const { browser } = await load('/profile', signedIn);
    expect((await rename(browser, 'Before')).statusCode).toBe(200);
    const { access } = await t.login('ada@example.com');
    expect((await t.post('/logout-all', undefined, { authorization: `Bearer ${access}` })).statusCode).toBe(204);
    const refused = await rename(browser, 'After');
    expect([refused.statusCode, refused.json().code]).toEqual([401, 'UNAUTHENTICATED']);
    expect((await load('/profile', browser)).res.body).toContain('data-signed-out');
  });

  it('a password reset ends the browser session as well', async () => {
    const { browser } = await load('/profile', await signIn());
    await t.post('/forgot-password', { email: 'ada@example.com' });
    await t.idle();
    const token = /#token=([A-Za-z0-9_-]{43})/.exec(t.mail.messages[0]?.text ?? '')?.[1];
    expect((await t.post('/reset-password', { token, password: 'a brand new password' })).statusCode).toBe(204);
    expect((await rename(browser, 'After')).statusCode).toBe(401);
  });

  it('a browser sign-in ends after its absolute lifetime (7 days by default), however active', async () => {
    const { browser } = await load('/profile', await signIn());
    const HOUR = 3_600_000;
    // Active every 11 hours, so the session itself (24 h idle lifetime) never expires.
    for (let i = 1; i <= 15; i++) {
      t.clock.advance(11 * HOUR);
      const res = await rename(browser, `Visit ${i}`);
      expect(res.statusCode, `after ${i * 11} h`).toBe(200);
      browser.token = res.json().csrf_token as string;
    }
    t.clock.advance(3 * HOUR - 60_000);
    expect((await rename(browser, 'Still here')).statusCode).toBe(200);
    t.clock.advance(60_000);
    const res = await rename(browser, 'Too late');
    expect([res.statusCode, res.json().code]).toEqual([401, 'UNAUTHENTICATED']);
  });
});

describe("the reference app's forms in strict CSRF mode (csrf.rotation 'per-action')", () => {
  /** The `_csrf_token` of the form posting to `action` in `body`. */
  const formTokenIn = (body: string, action: string) =>
    new RegExp(`action="${action}"[\\s\\S]*?name="_csrf_token" value="([^"]+)"`).exec(body)?.[1] ?? '';

  it('sign-in and sign-out forms still work after actions on the page: they carry a token of their own, not the meta tag\'s', async () => {
    const demo = await demoApp({}, { csrf: { rotation: 'per-action' } });
    try {
      const { app, events } = demo;
      const origin = demo.config.appOrigin;
      expect((await app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email: 'ada@example.com', password: PASSWORD } })).statusCode).toBe(201);
      const post = (url: string, cookie: string, fields: Record<string, string>) =>
        app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, origin }, payload: new URLSearchParams(fields).toString() });
      const act = (cookie: string, token: string, componentId: string, action: string, params: Record<string, unknown>) =>
        app.inject({
          method: 'POST',
          url: '/api/livecomponents/action',
          headers: { 'content-type': 'application/json', cookie, origin, 'x-csrf-token': token },
          payload: JSON.stringify({ component_id: componentId, action, params }),
        });

      // /login: an action spends the page's meta token (as the browser runtime does); the form's still signs in.
      let cookie = sessionCookieOf(await app.inject({ method: 'GET', url: '/' })) as string; // mounts counter:main
      const login = await app.inject({ method: 'GET', url: '/login', headers: { cookie } });
      const signInToken = formTokenIn(login.body, '/login');
      expect((await act(cookie, tokenIn(login.body), 'counter:main', 'increment', {})).statusCode).toBe(200);
      const signedIn = await post('/login', cookie, { _csrf_token: signInToken, email: 'ada@example.com', password: PASSWORD });
      expect(signedIn.statusCode).toBe(303);
      cookie = sessionCookieOf(signedIn) as string;

      // /profile: two renames, each with the token the answer before brought, then "Sign out".
      const profile = await app.inject({ method: 'GET', url: '/profile', headers: { cookie } });
      const signOutToken = formTokenIn(profile.body, '/logout');
      let token = tokenIn(profile.body);
      for (const name of ['Ada L', 'Ada Lovelace']) {
        const res = await act(cookie, token, 'profile:main', 'rename', { name });
        expect(res.statusCode).toBe(200);
        token = res.json().csrf_token as string;
      }
      events.events.splice(0);
      const out = await post('/logout', cookie, { _csrf_token: signOutToken });
      expect(out.statusCode).toBe(303);
      expect(out.headers.location).toBe('/login?signed_out');
      expect(events.events.map((e) => e.event)).not.toContain('malicious_csrf');
    } finally {
      await demo.app.close();
    }
  });

  it('a page view with a form takes two of the session\'s slots: with maxOutstanding 2 both its tokens stay valid', async () => {
    const demo = await demoApp({}, { csrf: { rotation: 'per-action', maxOutstanding: 2 } });
    try {
      const { app } = demo;
      const cookie = sessionCookieOf(await app.inject({ method: 'GET', url: '/' })) as string; // mounts counter:main
      // The meta tag's token, then the forms' one: the older slot (the first page's token) gives way.
      const page = await app.inject({ method: 'GET', url: '/login', headers: { cookie } });
      const act = await app.inject({
        method: 'POST',
        url: '/api/livecomponents/action',
        headers: { 'content-type': 'application/json', cookie, origin: demo.config.appOrigin, 'x-csrf-token': tokenIn(page.body) },
        payload: JSON.stringify({ component_id: 'counter:main', action: 'increment', params: {} }),
      });
      expect(act.statusCode).toBe(200);
      const signIn = await app.inject({
        method: 'POST',
        url: '/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: demo.config.appOrigin },
        payload: new URLSearchParams({ _csrf_token: formTokenIn(page.body, '/login'), email: 'nobody@example.com', password: PASSWORD }).toString(),
      });
      // Past the CSRF check: the credentials are what is refused.
      expect(signIn.statusCode).toBe(401);
    } finally {
      await demo.app.close();
    }
  });
});
