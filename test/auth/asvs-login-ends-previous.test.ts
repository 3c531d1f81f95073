/**
 * OWASP ASVS 5.0 7.2.4: "generates a new session token on user authentication, including
 * re-authentication, and terminates the current session token". A JSON sign-in in a browser that
 * already held a refresh cookie overwrote the cookie and left the sign-in it named live (its access
 * token usable, its refresh token rotatable by any copy) until its family's end, 30 days. The
 * browser form (`/login`) ends the previous sign-in already (web.ts `switchSession`).
 */
import { afterEach, expect, it } from 'vitest';
import { authApp, eachEngine, PASSWORD, refreshCookie, type AuthApp } from './harness.js';

const MANY = { limit: 10_000, windowSeconds: 60 };
const LIMITS = { login: MANY, 'refresh-token': MANY, logout: MANY, register: MANY };

eachEngine('ASVS 7.2.4: a sign-in ends the sign-in of the refresh cookie it came with', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const loginWith = (a: AuthApp, email: string, password: string, cookie: string) => a.post('/login', { email, password }, { cookie: `refresh_token=${cookie}` });

  it('signing in again (same user or another) revokes the previous family; a refused sign-in keeps it', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    const a = t;
    expect((await a.register('ada@example.com')).statusCode).toBe(201);
    expect((await a.register('grace@example.com')).statusCode).toBe(201);
    const first = await a.login('ada@example.com');
    const other = await a.login('ada@example.com');

    // A wrong password with the cookie: 401, and the sign-in it names lives on.
    expect((await loginWith(a, 'ada@example.com', 'not the password', first.refresh)).json().code).toBe('INVALID_CREDENTIALS');
    expect((await a.me(first.access)).statusCode).toBe(200);

    a.takeEvents();
    const again = await loginWith(a, 'ada@example.com', PASSWORD, first.refresh);
    expect(again.statusCode).toBe(200);
    const second = { access: again.json().access_token as string, refresh: refreshCookie(again) as string };
    expect(a.takeEvents()).toEqual(['authn_login_success', 'session_created', 'authn_token_created', 'authn_token_revoked', 'session_logout']);
    expect((await a.me(first.access)).statusCode).toBe(401);
    expect((await a.refresh(first.refresh)).json().code).toBe('REFRESH_TOKEN_INVALID');
    // The new sign-in, and the user's sign-in held elsewhere (no cookie of this browser), stay.
    expect((await a.me(second.access)).statusCode).toBe(200);
    expect((await a.me(other.access)).statusCode).toBe(200);

    // Another account signing in in this browser ends ada's sign-in held here.
    const switched = await loginWith(a, 'grace@example.com', PASSWORD, second.refresh);
    expect(switched.statusCode).toBe(200);
    expect((await a.me(second.access)).statusCode).toBe(401);
    expect((await a.me(switched.json().access_token as string)).json().email).toBe('grace@example.com');
    expect((await a.me(other.access)).statusCode).toBe(200);
  });
});
