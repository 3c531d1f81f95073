/**
 * A planted refresh cookie, alone: a sibling subdomain (same site: `SameSite=Strict` does not stop
 * it) sets `refresh_token=<its own valid token>; Domain=example.com; Path=/api/v1/auth` in a browser
 * that has no refresh cookie of its own (signed out, or never signed in). The browser sends it alone,
 * the server could not tell it from the app's own, and `/refresh-token` rotated it: the victim's page
 * got an access token of the planter's account (a login CSRF; the victim then types private data into
 * that account). The cookie's name is fixed by PROTOCOL §4 and cannot take the `__Host-` prefix.
 *
 * Now, with `Secure` cookies, every refresh token comes with a companion cookie,
 * `__Host-lc_refresh_binding_token`, which a sibling can neither set nor overwrite; the token's row
 * stores its hash, and the token rotates only with it (src/auth/cookie.ts). Families from before
 * (no binding recorded) rotate once without it and are bound then; tokens issued over plain HTTP are
 * marked, and refused with `Secure` cookies. Over plain HTTP nothing changes.
 */
import type { LightMyRequestResponse } from 'fastify';
import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { BINDING_COOKIE } from '../../src/auth/cookie.js';
import { hashToken, newToken, UNBOUND } from '../../src/auth/tokens.js';
import { authApp, bindingCookie, eachEngine, engineBeforeRefreshBinding, PASSWORD, refreshCookie, refreshCookies, setCookies, type AuthApp, type Engine, type Session } from './harness.js';

const ORIGIN = { origin: 'https://app.example.com' };
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const MANY = { limit: 10_000, windowSeconds: 60 };
const LIMITS = { login: MANY, 'refresh-token': MANY, logout: MANY };
const CLEARED_BINDING = `${BINDING_COOKIE}=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict`;

/** The companion's `Set-Cookie` line of an answer. */
const bindingLine = (res: LightMyRequestResponse) => setCookies(res).find((c) => c.startsWith(`${BINDING_COOKIE}=`));

eachEngine('the refresh token bound to its companion cookie', (engine) => {
  let t: AuthApp;
  afterEach(async () => {
    await t.close();
  });

  async function start(production = true, on: Engine = engine): Promise<void> {
    t = await authApp(on, { production, auth: { limits: LIMITS } });
    await t.register('victim@example.com');
    await t.register('attacker@example.com');
  }
  const refresh = (cookie: string) => t.post('/refresh-token', undefined, { ...ORIGIN, cookie });
  const emailOf = async (access: string) => (await t.me(access)).json().email as string;
  const familyOf = async (refreshToken: string) =>
    (await t.db.selectFrom('refresh_tokens').select('family_id').where('token_hash', '=', hashToken(refreshToken)).executeTakeFirstOrThrow()).family_id;
  /** Every row of a family, as the database holds it: what a refusal must leave exactly as it was. */
  const rowsOf = async (familyId: string) => ({
    refresh: await t.db.selectFrom('refresh_tokens').selectAll().where('family_id', '=', familyId).orderBy('created_at').orderBy('id').execute(),
    access: await t.db.selectFrom('access_tokens').selectAll().where('family_id', '=', familyId).orderBy('created_at').orderBy('id').execute(),
  });
  const counts = async () => ({
    refresh: (await t.db.selectFrom('refresh_tokens').select('id').execute()).length,
    access: (await t.db.selectFrom('access_tokens').select('id').execute()).length,
  });
  /** Refused as a planted cookie is: 401 REFRESH_TOKEN_INVALID, no access token, one `malicious_csrf`. */
  const expectRefused = (res: LightMyRequestResponse, because = 'the request lacks it') => {
    expect([res.statusCode, res.json().code, res.json().access_token]).toEqual([401, 'REFRESH_TOKEN_INVALID', undefined]);
    expect(t.events.map((e) => [e.event, e.level, e.description])).toEqual([
      [
        'malicious_csrf',
        'WARN',
        expect.stringMatching(
          new RegExp(`^Refresh token of user \\S+ \\(family \\S+\\) refused: it rotates only with its companion cookie, and ${because}; nothing rotated or revoked$`),
        ),
      ],
    ]);
    t.takeEvents();
  };

  it('a sign-in sets the companion: __Host-, Secure, HttpOnly, SameSite=Strict, Path=/, no Domain, the refresh cookie\'s Max-Age; its hash is stored', async () => {
    await start();
    const res = await t.post('/login', { email: 'victim@example.com', password: PASSWORD }, ORIGIN);
    expect(res.statusCode).toBe(200);
    const binding = bindingCookie(res) as string;
    expect(binding).toMatch(TOKEN);
    expect(bindingLine(res)).toBe(`${BINDING_COOKIE}=${binding}; Max-Age=604800; Path=/; HttpOnly; Secure; SameSite=Strict`);
    const refreshToken = refreshCookie(res) as string;
    expect(binding).not.toBe(refreshToken);
    const row = await t.db.selectFrom('refresh_tokens').select('binding_hash').where('token_hash', '=', hashToken(refreshToken)).executeTakeFirstOrThrow();
    expect(row.binding_hash).toBe(hashToken(binding));
  });

  it('the planted cookie alone (a browser with no sign-in of its own): 401, no access token of the planter\'s, its family untouched, malicious_csrf', async () => {
    await start();
    const attacker = await t.login('attacker@example.com');
    const family = await familyOf(attacker.refresh);
    const before = { rows: await rowsOf(family), counts: await counts() };
    t.takeEvents();

    // What the victim's page sends: the planted cookie, nothing else (a page load, then a retry).
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await refresh(`refresh_token=${attacker.refresh}`);
      expectRefused(res);
      expect(bindingCookie(res)).toBe('');
    }
    expect({ rows: await rowsOf(family), counts: await counts() }).toEqual(before);

    // The planter's sign-in is intact: it rotates, once, with its own companion (its own browser).
    const own = await refresh(refreshCookies(attacker));
    expect(own.statusCode).toBe(200);
    expect(await emailOf(own.json().access_token as string)).toBe('attacker@example.com');
  });

  it('the app\'s own cookie with its companion: 200, a new token and a new companion, bound in the database', async () => {
    await start();
    let s: Session = await t.login('victim@example.com');
    for (let i = 0; i < 3; i++) {
      const res = await refresh(refreshCookies(s));
      expect(res.statusCode).toBe(200);
      const next = { access: res.json().access_token as string, refresh: refreshCookie(res) as string, binding: bindingCookie(res) as string };
      expect(next.binding).toMatch(TOKEN);
      expect(next.binding).not.toBe(s.binding);
      expect(bindingLine(res)).toBe(`${BINDING_COOKIE}=${next.binding}; Max-Age=604800; Path=/; HttpOnly; Secure; SameSite=Strict`);
      expect(await emailOf(next.access)).toBe('victim@example.com');
      const row = await t.db.selectFrom('refresh_tokens').select('binding_hash').where('token_hash', '=', hashToken(next.refresh)).executeTakeFirstOrThrow();
      expect(row.binding_hash).toBe(hashToken(next.binding));
      s = next;
    }
    expect(t.events.filter((e) => e.event === 'malicious_csrf')).toEqual([]);
    // Like the token, the companion is in no log line (request and answer headers are redacted).
    expect(t.logs.join('\n')).not.toContain(s.binding);
  });

  it('a companion of another family is refused, both ways, and changes nothing', async () => {
    await start();
    const victim = await t.login('victim@example.com');
    const attacker = await t.login('attacker@example.com');
    const before = { victim: await rowsOf(await familyOf(victim.refresh)), attacker: await rowsOf(await familyOf(attacker.refresh)), counts: await counts() };
    t.takeEvents();
    // The planted token beside the victim's own companion (its refresh cookie gone: evicted, say)…
    expectRefused(await refresh(`refresh_token=${attacker.refresh}; ${BINDING_COOKIE}=${victim.binding as string}`));
    // …and a companion from the planter's own browser beside the victim's token.
    expectRefused(await refresh(`refresh_token=${victim.refresh}; ${BINDING_COOKIE}=${attacker.binding as string}`));
    // Two sign-ins of one account: one's companion does not rotate the other's token.
    const second = await t.login('victim@example.com');
    t.takeEvents();
    expectRefused(await refresh(`refresh_token=${victim.refresh}; ${BINDING_COOKIE}=${second.binding as string}`));
    expect({ victim: await rowsOf(await familyOf(victim.refresh)), attacker: await rowsOf(await familyOf(attacker.refresh)) }).toEqual({
      victim: before.victim,
      attacker: before.attacker,
    });
    expect((await refresh(refreshCookies(victim))).statusCode).toBe(200);
  });

  it('a tampered, malformed or doubled companion is refused; the right one still rotates', async () => {
    await start();
    const s = await t.login('victim@example.com');
    const binding = s.binding as string;
    const family = await familyOf(s.refresh);
    const before = await rowsOf(family);
    t.takeEvents();
    const flipped = `${binding.slice(0, -1)}${binding.endsWith('A') ? 'B' : 'A'}`;
    for (const companion of [flipped, binding.slice(1), `${binding}A`, '', 'garbage', binding.toUpperCase() === binding ? binding.toLowerCase() : binding.toUpperCase()]) {
      expectRefused(await refresh(`refresh_token=${s.refresh}; ${BINDING_COOKIE}=${companion}`));
    }
    // Two companions of different values read as none (no browser sends two `__Host-` cookies of one name).
    expectRefused(await refresh(`refresh_token=${s.refresh}; ${BINDING_COOKIE}=${flipped}; ${BINDING_COOKIE}=${binding}`));
    expectRefused(await refresh(`refresh_token=${s.refresh}; ${BINDING_COOKIE}=${binding}; ${BINDING_COOKIE}=${flipped}`));
    // A cookie of another name that merely looks like it is no companion.
    expectRefused(await refresh(`refresh_token=${s.refresh}; __host-lc_refresh_binding_token=${binding}`));
    expect(await rowsOf(family)).toEqual(before);
    expect((await refresh(refreshCookies(s))).statusCode).toBe(200);
  });

  it('a companion replayed after its rotation: with the new token refused (nothing revoked); with its own old token a reuse, as before', async () => {
    await start();
    const first = await t.login('victim@example.com');
    const rotated = await refresh(refreshCookies(first));
    expect(rotated.statusCode).toBe(200);
    const second = { access: rotated.json().access_token as string, refresh: refreshCookie(rotated) as string, binding: bindingCookie(rotated) as string };
    const family = await familyOf(first.refresh);
    const before = await rowsOf(family);
    t.takeEvents();

    // The old companion with the new token: refused, and the family lives on.
    expectRefused(await refresh(`refresh_token=${second.refresh}; ${BINDING_COOKIE}=${first.binding as string}`));
    expect(await rowsOf(family)).toEqual(before);
    expect((await t.me(second.access)).statusCode).toBe(200);

    // The old pair, whole: a rotated token is spent whatever comes with it — a reuse, the family revoked.
    const replay = await refresh(refreshCookies(first));
    expect([replay.statusCode, replay.json().code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
    expect(t.takeEvents()).toEqual(['authn_token_reuse', 'authn_token_revoked']);
    expect((await t.me(second.access)).statusCode).toBe(401);
    expect((await refresh(refreshCookies(second))).statusCode).toBe(401);
  });

  it('sign-out, sign-out everywhere, a password reset and a refusal expire the companion too; two refresh cookies expire neither', async () => {
    await start();
    const a = await t.login('victim@example.com');
    const out = await t.post('/logout', undefined, { ...ORIGIN, authorization: `Bearer ${a.access}`, cookie: refreshCookies(a) });
    expect([out.statusCode, bindingLine(out)]).toEqual([204, CLEARED_BINDING]);

    const b = await t.login('victim@example.com');
    const all = await t.post('/logout-all', undefined, { ...ORIGIN, authorization: `Bearer ${b.access}`, cookie: refreshCookies(b) });
    expect([all.statusCode, bindingLine(all)]).toEqual([204, CLEARED_BINDING]);

    // The cookie-only sign-out: with the planted cookie alone it ends the planter's own family (a
    // sign-out is no sign-in, and the token's holder could end it anyway), and expires both cookies.
    const attacker = await t.login('attacker@example.com');
    const planted = await t.post('/logout', undefined, { ...ORIGIN, cookie: `refresh_token=${attacker.refresh}` });
    expect([planted.statusCode, refreshCookie(planted), bindingLine(planted)]).toEqual([204, '', CLEARED_BINDING]);
    expect((await t.me(attacker.access)).statusCode).toBe(401);

    const bad = await refresh('refresh_token=not-a-token');
    expect([bad.statusCode, bindingLine(bad)]).toEqual([401, CLEARED_BINDING]);

    // Two refresh cookies (a tossed one): the app's own and its companion are both kept.
    const d = await t.login('victim@example.com');
    const e = await t.login('attacker@example.com');
    const tossed = await refresh(`refresh_token=${e.refresh}; ${refreshCookies(d)}`);
    expect([tossed.statusCode, refreshCookie(tossed), bindingCookie(tossed)]).toEqual([401, undefined, undefined]);
    expect((await refresh(refreshCookies(d))).statusCode).toBe(200);

    const c = await t.login('victim@example.com');
    await t.post('/forgot-password', { email: 'victim@example.com' }, ORIGIN);
    await t.idle();
    const resetToken = /#token=([A-Za-z0-9_-]{43})/.exec(t.mail.messages.at(-1)?.text ?? '')?.[1] as string;
    const reset = await t.post('/reset-password', { token: resetToken, password: 'a brand new password' }, { ...ORIGIN, cookie: refreshCookies(c) });
    expect([reset.statusCode, bindingLine(reset)]).toEqual([204, CLEARED_BINDING]);
  });

  it('a client with a cookie jar (it keeps both Set-Cookie headers and sends back what applies) signs in, refreshes and signs out as before', async () => {
    await start();
    /** RFC 6265 enough for this: host-only cookies, Path prefix, Max-Age=0 deletes, Secure over https. */
    const jar = new Map<string, { value: string; path: string }>();
    const keep = (res: LightMyRequestResponse) => {
      for (const line of setCookies(res)) {
        const [pair, ...attributes] = line.split('; ');
        const [name, value] = [(pair as string).slice(0, (pair as string).indexOf('=')), (pair as string).slice((pair as string).indexOf('=') + 1)];
        const attr = new Map(attributes.map((a) => [a.split('=')[0]?.toLowerCase(), a.split('=')[1] ?? '']));
        expect(attr.has('domain'), name).toBe(false);
        if (name.startsWith('__Host-')) expect([attr.has('secure'), attr.get('path')]).toEqual([true, '/']);
        if (attr.get('max-age') === '0') jar.delete(name);
        else jar.set(name, { value, path: attr.get('path') ?? '/' });
      }
    };
    const send = (url: string) => [...jar].filter(([, c]) => url.startsWith(c.path)).map(([n, c]) => `${n}=${c.value}`).join('; ');
    const post = async (path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await t.post(path, body, { ...headers, cookie: send(`/api/v1/auth${path}`) });
      keep(res);
      return res;
    };
    const login = await post('/login', { email: 'victim@example.com', password: PASSWORD });
    expect(login.statusCode).toBe(200);
    expect([...jar.keys()].sort()).toEqual([BINDING_COOKIE, '__Host-lc_device_token', 'refresh_token'].sort());
    let access = login.json().access_token as string;
    for (let i = 0; i < 3; i++) {
      const res = await post('/refresh-token');
      expect(res.statusCode).toBe(200);
      access = res.json().access_token as string;
    }
    expect(await emailOf(access)).toBe('victim@example.com');
    expect((await post('/logout')).statusCode).toBe(204);
    expect([...jar.keys()]).toEqual(['__Host-lc_device_token']);
    expect((await t.me(access)).statusCode).toBe(401);
  });

  it('over plain HTTP (development) nothing changes: no companion set or asked for; the tokens are marked unbound, which Secure cookies refuse', async () => {
    await start(false);
    const login = await t.post('/login', { email: 'victim@example.com', password: PASSWORD });
    expect(login.statusCode).toBe(200);
    expect(setCookies(login).map((c) => c.split('=')[0])).toEqual(['refresh_token', 'lc_device_token']);
    let token = refreshCookie(login) as string;
    for (let i = 0; i < 2; i++) {
      const res = await t.post('/refresh-token', undefined, { cookie: `refresh_token=${token}` });
      expect(res.statusCode).toBe(200);
      expect(setCookies(res).map((c) => c.split('=')[0])).toEqual(['refresh_token']);
      token = refreshCookie(res) as string;
    }
    // Rows of this release are never NULL (a family from before the change): an instance with Secure
    // cookies on the same database does not take them as such.
    const rows = await t.db.selectFrom('refresh_tokens').select('binding_hash').execute();
    expect(rows.map((r) => r.binding_hash)).toEqual([UNBOUND, UNBOUND, UNBOUND]);
    expect(t.events.filter((e) => e.event === 'malicious_csrf')).toEqual([]);

    // The same kind of row, presented with Secure cookies: refused (it could have been planted).
    await t.close();
    await start(true);
    const s = await t.login('victim@example.com');
    await t.db.updateTable('refresh_tokens').set({ binding_hash: UNBOUND }).where('token_hash', '=', hashToken(s.refresh)).execute();
    t.takeEvents();
    expectRefused(await refresh(refreshCookies(s)), 'it was issued over plain HTTP, without one');
  });

  it('a family from before the change (no binding recorded) rotates once without a companion, is bound then, and needs it from then on; nothing new is unbound', async () => {
    const legacy = { userId: randomUUID(), familyId: randomUUID(), refresh: newToken(), access: newToken() };
    t = await authApp(engineBeforeRefreshBinding(engine, { id: legacy.userId, email: 'attacker@example.com' }, [legacy]), { production: true, auth: { limits: LIMITS } });
    expect((await t.me(legacy.access)).statusCode).toBe(200);
    const row = await t.db.selectFrom('refresh_tokens').select(['family_id', 'binding_hash']).where('token_hash', '=', hashToken(legacy.refresh)).executeTakeFirstOrThrow();
    expect(row).toEqual({ family_id: legacy.familyId, binding_hash: null });

    // No sign-out at the deploy: the browser that holds it (no companion yet) refreshes.
    const res = await refresh(`refresh_token=${legacy.refresh}`);
    expect(res.statusCode).toBe(200);
    expect(await emailOf(res.json().access_token as string)).toBe('attacker@example.com');
    const next = { refresh: refreshCookie(res) as string, binding: bindingCookie(res) as string };
    expect(next.binding).toMatch(TOKEN);
    const successor = await t.db.selectFrom('refresh_tokens').select(['family_id', 'binding_hash']).where('token_hash', '=', hashToken(next.refresh)).executeTakeFirstOrThrow();
    expect(successor).toEqual({ family_id: legacy.familyId, binding_hash: hashToken(next.binding) });
    t.takeEvents();

    // Bound now: planted alone, its successor is refused like any other…
    expectRefused(await refresh(`refresh_token=${next.refresh}`));
    // …and rotates with its companion.
    const bound = await refresh(refreshCookies(next));
    expect(bound.statusCode).toBe(200);

    // New sign-ins and rotations write no NULL: the legacy row stays the only one.
    await t.register('victim@example.com');
    const s = await t.login('victim@example.com');
    expect((await refresh(refreshCookies(s))).statusCode).toBe(200);
    const unbound = await t.db.selectFrom('refresh_tokens').select('token_hash').where('binding_hash', 'is', null).execute();
    expect(unbound.map((r) => r.token_hash)).toEqual([hashToken(legacy.refresh)]);
  });
});
