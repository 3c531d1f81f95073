/**
 * Adversarial cases of `POST /api/v1/auth/change-password` (src/auth/password-change.ts), on both
 * engines: concurrent changes by one user, concurrent guesses from many clients against the
 * per-user budget (`PASSWORD_CHANGE_PER_ACCOUNT`), a change racing a reset and a refresh, a token of
 * another user, a revoked token.
 */
import { afterEach, expect, it } from 'vitest';
import { PASSWORD_CHANGE_PER_ACCOUNT } from '../../src/auth/limits.js';
import { authApp, eachEngine, PASSWORD, type AuthApp } from './harness.js';

const MANY = { limit: 10_000, windowSeconds: 60 };
const LIMITS = { login: MANY, 'change-password': MANY, 'forgot-password': MANY, 'reset-password': MANY, 'refresh-token': MANY };

eachEngine('change-password under attack and races', (engine) => {
  let t: AuthApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function app(limits: object = LIMITS): Promise<AuthApp> {
    t = await authApp(engine, { auth: { limits, resetMailMax: { perClient: 100, perAccount: 100, windowSeconds: 3600 } } });
    expect((await t.register('ada@example.com')).statusCode).toBe(201);
    return t;
  }

  const change = (a: AuthApp, access: string, current: string, next: string, remoteAddress?: string) =>
    a.post('/change-password', { current_password: current, new_password: next }, { authorization: `Bearer ${access}` }, remoteAddress);
  const signsIn = async (a: AuthApp, password: string) => (await a.post('/login', { email: 'ada@example.com', password })).statusCode === 200;
  const codes = (answers: { statusCode: number; body: string }[]) => answers.map((r) => (r.statusCode === 204 ? '204' : (JSON.parse(r.body) as { code: string }).code));
  const count = (list: string[], code: string) => list.filter((c) => c === code).length;

  it('30 concurrent changes with the right password: one 204, the per-user budget checks exactly 10 of those whose token was still live (the rest 429); the winner\'s password stands', async () => {
    const a = await app();
    const s = await a.login('ada@example.com');
    const candidates = Array.from({ length: 30 }, (_, i) => `a brand new passphrase number ${i}`);
    const answers = await Promise.all(candidates.map((p) => change(a, s.access, PASSWORD, p)));
    const got = codes(answers);
    expect(count(got, '204')).toBe(1);
    // A request whose token the winner had revoked before its Bearer check is refused there
    // (INVALID_TOKEN) and never reaches the per-user budget: how many do depends on the machine's
    // timing (on a loaded one, PostgreSQL's pool queued Bearer lookups behind the winner's commit).
    // Every other one takes a step of the budget: exactly `limit` of them have their current password
    // checked (the 204; the rest find it changed under them: INVALID_CREDENTIALS), the others get 429.
    const { limit } = PASSWORD_CHANGE_PER_ACCOUNT;
    const budgeted = 30 - count(got, 'INVALID_TOKEN');
    expect(count(got, '204') + count(got, 'INVALID_CREDENTIALS'), got.join()).toBe(Math.min(limit, budgeted));
    expect(count(got, 'RATE_LIMIT_EXCEEDED'), got.join()).toBe(Math.max(0, budgeted - limit));
    const winner = candidates[got.indexOf('204')] as string;
    expect(await signsIn(a, PASSWORD)).toBe(false);
    for (const p of candidates) expect(await signsIn(a, p), p).toBe(p === winner);
    expect(a.events.filter((e) => e.event === 'authn_password_change')).toHaveLength(1);
  });

  it('30 concurrent wrong guesses from 30 addresses: exactly 10 checked (401), then 429 with retry_after, limit and window; the owner too is held', async () => {
    const a = await app({});
    const s = await a.login('ada@example.com', PASSWORD, '198.51.100.1');
    a.takeEvents();
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => change(a, s.access, `guess number ${i}`, 'a brand new passphrase 2026', `203.0.113.${i + 1}`)));
    const got = codes(answers);
    expect(count(got, 'INVALID_CREDENTIALS')).toBe(10);
    expect(count(got, 'RATE_LIMIT_EXCEEDED')).toBe(20);
    for (const r of answers.filter((x) => x.statusCode === 429)) {
      const body = r.json() as { retry_after: number; limit: number; window: number };
      expect({ limit: body.limit, window: body.window }).toEqual({ limit: 10, window: 3600 });
      expect(body.retry_after).toBeGreaterThan(0);
      expect(r.headers['retry-after']).toBe(String(body.retry_after));
    }
    expect(a.events.filter((e) => e.event === 'authn_password_change_fail')).toHaveLength(10);
    const owner = await change(a, s.access, PASSWORD, 'a brand new passphrase 2026', '198.51.100.1');
    expect(owner.json().code).toBe('RATE_LIMIT_EXCEEDED');
    expect(await signsIn(a, PASSWORD)).toBe(true);
  });

  it('a change racing a reset: exactly one wins, its password stands, every earlier sign-in is revoked', async () => {
    for (let round = 0; round < 4; round++) {
      const a = await app();
      const here = await a.login('ada@example.com');
      const elsewhere = await a.login('ada@example.com');
      expect((await a.post('/forgot-password', { email: 'ada@example.com' })).statusCode).toBe(202);
      await a.idle();
      const link = /#token=([A-Za-z0-9_-]{43})/.exec(a.mail.messages[0]?.text ?? '')?.[1];
      const [changed, reset] = await Promise.all([
        change(a, here.access, PASSWORD, 'the changed passphrase 2026'),
        a.post('/reset-password', { token: link, password: 'the reset passphrase 2026' }),
      ]);
      const outcome = codes([changed, reset]);
      expect(count(outcome, '204'), outcome.join()).toBe(1);
      const winner = changed.statusCode === 204 ? 'the changed passphrase 2026' : 'the reset passphrase 2026';
      const loser = changed.statusCode === 204 ? 'the reset passphrase 2026' : 'the changed passphrase 2026';
      expect([await signsIn(a, winner), await signsIn(a, loser), await signsIn(a, PASSWORD)]).toEqual([true, false, false]);
      for (const s of [here, elsewhere]) {
        expect((await a.me(s.access)).statusCode).toBe(401);
        expect((await a.refresh(s.refresh)).statusCode).toBe(401);
      }
      await a.close();
      t = undefined;
    }
  });

  it('a change racing a refresh: the refreshed tokens do not outlive the change', async () => {
    const a = await app();
    const here = await a.login('ada@example.com');
    const elsewhere = await a.login('ada@example.com');
    const [changed, refreshed] = await Promise.all([change(a, here.access, PASSWORD, 'the changed passphrase 2026'), a.refresh(elsewhere.refresh)]);
    expect(changed.statusCode).toBe(204);
    if (refreshed.statusCode === 200) {
      const access = (refreshed.json() as { access_token: string }).access_token;
      const refresh = /refresh_token=([^;]*)/.exec(String(refreshed.headers['set-cookie']))?.[1] as string;
      expect((await a.me(access)).statusCode).toBe(401);
      expect((await a.refresh(refresh)).statusCode).toBe(401);
    } else {
      expect(refreshed.json().code).toBe('REFRESH_TOKEN_INVALID');
    }
    expect((await a.me(elsewhere.access)).statusCode).toBe(401);
  });

  it("another user's token changes only that user's password; a revoked token changes nothing", async () => {
    const a = await app();
    expect((await a.register('bob@example.com', 'bobs own long passphrase')).statusCode).toBe(201);
    const ada = await a.login('ada@example.com');
    const bob = await a.login('bob@example.com', 'bobs own long passphrase');
    // Bob's token with Ada's password: Bob's current password is checked, and it is not that.
    expect((await change(a, bob.access, PASSWORD, 'stolen by bob 2026 x')).json().code).toBe('INVALID_CREDENTIALS');
    expect((await change(a, bob.access, 'bobs own long passphrase', 'bobs newer passphrase 7')).statusCode).toBe(204);
    expect(await signsIn(a, PASSWORD)).toBe(true);
    expect((await a.me(ada.access)).statusCode).toBe(200);
    expect((await a.post('/login', { email: 'bob@example.com', password: 'bobs newer passphrase 7' })).statusCode).toBe(200);

    expect((await a.post('/logout', undefined, { authorization: `Bearer ${ada.access}` })).statusCode).toBe(204);
    const revoked = await change(a, ada.access, PASSWORD, 'after the logout 2026');
    expect({ status: revoked.statusCode, code: revoked.json().code }).toEqual({ status: 401, code: 'INVALID_TOKEN' });
    expect(await signsIn(a, PASSWORD)).toBe(true);
  });
});
