/**
 * Refresh-token rotation, reuse detection (RFC 9700 §4.14.2), the race of concurrent refreshes,
 * lifetimes, sign-out of one family and of every family, and the rehash of old password hashes.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createPasswordHasher } from '../../src/auth/index.js';
import { hashToken } from '../../src/auth/tokens.js';
import { authApp, eachEngine, FAST_ARGON2, PASSWORD, refreshCookie, refreshCookieLine, T0, type AuthApp } from './harness.js';

const MINUTE = 60_000;
const DAY = 1440 * MINUTE;
const CLEARED = 'refresh_token=; Max-Age=0; Path=/api/v1/auth; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict';

eachEngine('refresh tokens', (engine) => {
  let t: AuthApp;
  beforeEach(async () => {
    t = await authApp(engine, { auth: { limits: { 'refresh-token': { limit: 1000, windowSeconds: 60 } } } });
    await t.register('ada@example.com');
  });
  afterEach(async () => {
    await t.close();
  });

  const familyRows = (familyId: string) =>
    t.db.selectFrom('refresh_tokens').selectAll().where('family_id', '=', familyId).orderBy('created_at').orderBy('parent_id').execute();

  it('rotates: a new refresh cookie and access token each time, in the same family, linked to its parent', async () => {
    const first = await t.login('ada@example.com');
    t.takeEvents();
    t.clock.advance(MINUTE);
    const res = await t.refresh(first.refresh);
    expect(res.statusCode).toBe(200);
    const body = res.json() as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
    const second = { access: body.access_token as string, refresh: refreshCookie(res) as string };
    expect(second.refresh).not.toBe(first.refresh);
    expect(second.access).not.toBe(first.access);
    expect(res.body).not.toContain(second.refresh);
    expect(refreshCookieLine(res)).toBe(`refresh_token=${second.refresh}; Max-Age=604800; Path=/api/v1/auth; HttpOnly; SameSite=Strict`);
    expect(t.takeEvents()).toEqual(['authn_token_created']);
    expect((await t.me(second.access)).statusCode).toBe(200);
    // The previous access token lives on until its own expiry.
    expect((await t.me(first.access)).statusCode).toBe(200);

    const old = await t.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hashToken(first.refresh)).executeTakeFirstOrThrow();
    const rows = await familyRows(old.family_id);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ id: old.id, parent_id: null, used_at: t.clock.now(), revoked_at: null });
    expect(rows[1]).toMatchObject({ parent_id: old.id, used_at: null, revoked_at: null, token_hash: hashToken(second.refresh) });
  });

  it('a rotated token presented again revokes its whole family and logs authn_token_reuse; other families live on', async () => {
    const a1 = await t.login('ada@example.com');
    const other = await t.login('ada@example.com');
    const r2 = await t.refresh(a1.refresh);
    const a2 = { access: r2.json().access_token as string, refresh: refreshCookie(r2) as string };
    const r3 = await t.refresh(a2.refresh);
    const a3 = { access: r3.json().access_token as string, refresh: refreshCookie(r3) as string };
    t.takeEvents();

    const reuse = await t.refresh(a1.refresh);
    expect([reuse.statusCode, reuse.json().code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
    expect(refreshCookieLine(reuse)).toBe(CLEARED);
    expect(t.takeEvents()).toEqual(['authn_token_reuse', 'authn_token_revoked']);
    expect(t.events).toEqual([]);

    // Every token of the family is dead: the current refresh token and all three access tokens.
    expect((await t.refresh(a3.refresh)).statusCode).toBe(401);
    for (const access of [a1.access, a2.access, a3.access]) expect((await t.me(access)).statusCode).toBe(401);
    // The current token was revoked, not rotated: presenting it is not a reuse, only a use after its end.
    expect(t.takeEvents()).toEqual(['session_use_after_expire']);
    // The other sign-in is untouched.
    expect((await t.me(other.access)).statusCode).toBe(200);
    expect((await t.refresh(other.refresh)).statusCode).toBe(200);

    // A second presentation of a rotated token is logged again, and revokes nothing more.
    expect((await t.refresh(a2.refresh)).statusCode).toBe(401);
    expect(t.takeEvents()).toEqual(['authn_token_created', 'authn_token_reuse']);
  });

  it('two refreshes racing with one valid token: exactly one succeeds, the other is a reuse and ends the family', async () => {
    const first = await t.login('ada@example.com');
    t.takeEvents();
    const results = await Promise.all([t.refresh(first.refresh), t.refresh(first.refresh)]);
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([200, 401]);
    const winner = results.find((r) => r.statusCode === 200);
    const loser = results.find((r) => r.statusCode === 401);
    expect(loser?.json().code).toBe('REFRESH_TOKEN_INVALID');
    expect(t.takeEvents().sort()).toEqual(['authn_token_created', 'authn_token_reuse', 'authn_token_revoked']);
    // Strict RFC 9700 behaviour (docs/auth.md): the loser's presentation revoked the family, so the
    // winner's new tokens are dead too. Front ends serialise refreshes to avoid this.
    const won = refreshCookie(winner as NonNullable<typeof winner>) as string;
    expect((await t.refresh(won)).statusCode).toBe(401);
    expect((await t.me(winner?.json().access_token as string)).statusCode).toBe(401);
    const old = await t.db.selectFrom('refresh_tokens').select('family_id').where('token_hash', '=', hashToken(first.refresh)).executeTakeFirstOrThrow();
    const rows = await familyRows(old.family_id);
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.revoked_at !== null)).toBe(true);
  });

  it('the reuse event says how long after its rotation the token came back: a race, a retry, or a copy replayed later', async () => {
    // The access tokens live 15 minutes: hours later the revocation finds none left to revoke.
    for (const [delay, shown, access] of [
      [0, '0 ms', 2],
      [120, '120 ms', 2],
      [4_300, '4 s', 2],
      [7 * MINUTE, '7 min', 2],
      [3 * 60 * MINUTE, '3 h', 0],
      [2 * DAY, '2 days', 0],
    ] as const) {
      const { refresh } = await t.login('ada@example.com');
      t.clock.advance(MINUTE);
      expect((await t.refresh(refresh)).statusCode).toBe(200);
      t.clock.advance(delay);
      t.takeEvents();
      expect((await t.refresh(refresh)).statusCode).toBe(401);
      const [text] = t.events.filter((e) => e.event === 'authn_token_reuse').map((e) => e.description);
      expect(text).toMatch(
        new RegExp(`^Rotated refresh token of user \\S+ presented again, ${shown} after it was rotated: family \\S+ revoked \\(2 refresh, ${access} access tokens\\)$`),
      );
    }
    // The loser of two concurrent refreshes: 0 ms on this clock.
    const { refresh } = await t.login('ada@example.com');
    t.takeEvents();
    await Promise.all([t.refresh(refresh), t.refresh(refresh)]);
    expect(t.events.filter((e) => e.event === 'authn_token_reuse').map((e) => e.description)).toEqual([expect.stringContaining(', 0 ms after it was rotated:')]);
  });

  it('eight concurrent refreshes with one token: exactly one 200 and one successor row', async () => {
    const first = await t.login('ada@example.com');
    const results = await Promise.all(Array.from({ length: 8 }, () => t.refresh(first.refresh)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 401)).toHaveLength(7);
    const { n } = await t.db.selectFrom('refresh_tokens').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(n)).toBe(2);
  });

  it('refreshes without a usable cookie answer 401 REFRESH_TOKEN_INVALID and expire the cookie, without a reuse event', async () => {
    for (const cookie of [undefined, 'garbage', 'x'.repeat(43)]) {
      const res = await t.refresh(cookie);
      expect([res.statusCode, res.json().code], String(cookie)).toEqual([401, 'REFRESH_TOKEN_INVALID']);
      expect(refreshCookieLine(res)).toBe(CLEARED);
    }
    const { access } = await t.login('ada@example.com');
    // An access token is not a refresh token.
    expect((await t.refresh(access)).statusCode).toBe(401);
    expect(t.events.map((e) => e.event)).not.toContain('authn_token_reuse');
  });

  it('a refresh token lives 7 days; each rotation starts a new 7 days', async () => {
    const { refresh } = await t.login('ada@example.com');
    t.clock.advance(7 * DAY - 1);
    const res = await t.refresh(refresh);
    expect(res.statusCode).toBe(200);
    const next = refreshCookie(res) as string;
    t.clock.advance(7 * DAY - 1);
    expect((await t.refresh(next)).statusCode).toBe(200);

    const late = await t.login('ada@example.com');
    t.clock.advance(7 * DAY);
    expect((await t.refresh(late.refresh)).statusCode).toBe(401);
    expect(t.events.map((e) => e.event)).not.toContain('authn_token_reuse');
  });

  it('a family cannot outlive its absolute lifetime (30 days), however often it rotates', async () => {
    let { refresh } = await t.login('ada@example.com');
    const maxAges: number[] = [];
    for (let day = 6; day <= 30; day += 6) {
      t.clock.set(Date.UTC(2026, 0, 15, 10, 30) + day * DAY - MINUTE);
      const res = await t.refresh(refresh);
      expect(res.statusCode, `day ${day}`).toBe(200);
      refresh = refreshCookie(res) as string;
      maxAges.push(Number(/Max-Age=(\d+)/.exec(refreshCookieLine(res) ?? '')?.[1]));
    }
    // Capped by the family's end: on day 30 minus a minute, one minute is left.
    expect(maxAges).toEqual([604_800, 604_800, 604_800, 518_460, 60]);
    t.clock.advance(MINUTE);
    const res = await t.refresh(refresh);
    expect([res.statusCode, res.json().code]).toEqual([401, 'REFRESH_TOKEN_INVALID']);
  });

  it('no access token outlives its family: the last rotation before the end gets only what is left, and says so', async () => {
    let { refresh } = await t.login('ada@example.com');
    const expiresIn: number[] = [];
    let access = '';
    for (const at of [6 * DAY, 12 * DAY, 18 * DAY, 24 * DAY, 30 * DAY - 10 * MINUTE, 30 * DAY - MINUTE]) {
      t.clock.set(T0 + at);
      const res = await t.refresh(refresh);
      expect(res.statusCode, `${at / MINUTE} min`).toBe(200);
      refresh = refreshCookie(res) as string;
      access = res.json().access_token as string;
      expiresIn.push(res.json().expires_in as number);
    }
    // 15 minutes while they fit in the family; then 10 minutes, then 1 minute, are left.
    expect(expiresIn).toEqual([900, 900, 900, 900, 600, 60]);
    const row = await t.db.selectFrom('access_tokens').select('expires_at').where('token_hash', '=', hashToken(access)).executeTakeFirstOrThrow();
    expect(Number(row.expires_at)).toBe(T0 + 30 * DAY);
    t.clock.set(T0 + 30 * DAY - 1);
    expect((await t.me(access)).statusCode).toBe(200);
    t.clock.set(T0 + 30 * DAY);
    expect((await t.me(access)).statusCode).toBe(401);
  });

  it("a rotation in the family's last second keeps a live cookie (Max-Age rounded up) and expires_in 1", async () => {
    let { refresh } = await t.login('ada@example.com');
    for (const at of [6 * DAY, 12 * DAY, 18 * DAY, 24 * DAY]) {
      t.clock.set(T0 + at);
      refresh = refreshCookie(await t.refresh(refresh)) as string;
    }
    t.clock.set(T0 + 30 * DAY - 400);
    const res = await t.refresh(refresh);
    expect([res.statusCode, res.json().expires_in]).toEqual([200, 1]);
    expect(refreshCookieLine(res)).toMatch(/^refresh_token=[^;]+; Max-Age=1; /);
    // The new token works until the family ends, and not after.
    t.clock.set(T0 + 30 * DAY - 1);
    const last = await t.refresh(refreshCookie(res) as string);
    expect([last.statusCode, last.json().expires_in, refreshCookieLine(last)?.includes('Max-Age=1;')]).toEqual([200, 1, true]);
    t.clock.set(T0 + 30 * DAY);
    expect((await t.refresh(refreshCookie(last) as string)).statusCode).toBe(401);
  });

  it('a clock giving fractions of a millisecond works on both engines: times are stored floored', async () => {
    t.clock.set(T0 + 0.25);
    const session = await t.login('ada@example.com');
    expect((await t.me(session.access)).statusCode).toBe(200);
    t.clock.set(T0 + 6 * DAY + 0.75);
    const res = await t.refresh(session.refresh);
    expect(res.statusCode).toBe(200);
    const row = await t.db.selectFrom('refresh_tokens').select('created_at').where('token_hash', '=', hashToken(refreshCookie(res) as string)).executeTakeFirstOrThrow();
    expect(Number(row.created_at)).toBe(T0 + 6 * DAY);
    await expect(t.app.livecomponentsAuth.service.deleteDeadTokens()).resolves.toMatchObject({ refreshTokens: expect.any(Number) });
  });

  it('logout revokes the access token and its refresh family, expires the cookie, and leaves other sign-ins alone', async () => {
    const a = await t.login('ada@example.com');
    const r = await t.refresh(a.refresh);
    const a2 = { access: r.json().access_token as string, refresh: refreshCookie(r) as string };
    const b = await t.login('ada@example.com');
    t.takeEvents();
    const out = await t.post('/logout', undefined, { authorization: `Bearer ${a2.access}` });
    expect(out.statusCode).toBe(204);
    expect(out.body).toBe('');
    expect(refreshCookieLine(out)).toBe(CLEARED);
    expect(t.takeEvents()).toEqual(['authn_token_revoked', 'session_logout']);
    expect((await t.me(a2.access)).statusCode).toBe(401);
    expect((await t.me(a.access)).statusCode).toBe(401);
    expect((await t.refresh(a2.refresh)).statusCode).toBe(401);
    expect(t.takeEvents()).toEqual(['session_use_after_expire']);
    expect((await t.me(b.access)).statusCode).toBe(200);
    expect((await t.refresh(b.refresh)).statusCode).toBe(200);
    // Signing out twice: the token is gone.
    expect((await t.post('/logout', undefined, { authorization: `Bearer ${a2.access}` })).statusCode).toBe(401);
  });

  it('logout-all revokes every token of the user, and no other user', async () => {
    const sessions = [await t.login('ada@example.com'), await t.login('ada@example.com'), await t.login('ada@example.com')];
    await t.register('bob@example.com');
    const bob = await t.login('bob@example.com');
    t.takeEvents();
    const out = await t.post('/logout-all', undefined, { authorization: `Bearer ${sessions[0]?.access as string}` });
    expect(out.statusCode).toBe(204);
    expect(refreshCookieLine(out)).toBe(CLEARED);
    expect(t.takeEvents()).toEqual(['authn_token_revoked', 'session_logout']);
    for (const s of sessions) {
      expect((await t.me(s.access)).statusCode).toBe(401);
      expect((await t.refresh(s.refresh)).statusCode).toBe(401);
    }
    const live = await t.db.selectFrom('access_tokens as a').innerJoin('users as u', 'u.id', 'a.user_id').select('u.email').where('a.revoked_at', 'is', null).execute();
    expect(live.map((r) => r.email)).toEqual(['bob@example.com']);
    expect((await t.me(bob.access)).statusCode).toBe(200);
  });

  it('rehashes a password hashed with other parameters at the next successful sign-in', async () => {
    const old = await createPasswordHasher({ memoryCost: 2048, timeCost: 1, parallelism: 1 }).hash('legacy password 1');
    await t.db.updateTable('users').set({ password_hash: old }).where('email', '=', 'ada@example.com').execute();
    const stored = () => t.db.selectFrom('users').select('password_hash').where('email', '=', 'ada@example.com').executeTakeFirstOrThrow();

    expect((await t.post('/login', { email: 'ada@example.com', password: 'not it at all' })).statusCode).toBe(401);
    expect((await stored()).password_hash).toBe(old);
    expect((await t.post('/login', { email: 'ada@example.com', password: 'legacy password 1' })).statusCode).toBe(200);
    const now = (await stored()).password_hash;
    expect(now).not.toBe(old);
    expect(now.startsWith(`$argon2id$v=19$m=${FAST_ARGON2.memoryCost},t=${FAST_ARGON2.timeCost},p=${FAST_ARGON2.parallelism}$`)).toBe(true);
    expect((await t.post('/login', { email: 'ada@example.com', password: 'legacy password 1' })).statusCode).toBe(200);
    expect((await stored()).password_hash).toBe(now);
    expect((await t.post('/login', { email: 'ada@example.com', password: PASSWORD })).statusCode).toBe(401);
  });
});
