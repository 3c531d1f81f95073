/**
 * Revocation against what is in flight at the same moment: a password reset ends every session of
 * the user, including a sign-in whose password check began before it; logout, a reuse's revocation,
 * logout-all and a reset leave no token behind that a concurrent refresh was rotating; a rehash never
 * undoes a reset. On PostgreSQL (READ COMMITTED) these raced before the user's row was locked by
 * every grant and revocation.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, expect, it } from 'vitest';
import { createPasswordHasher, type PasswordHasher } from '../../src/auth/index.js';
import { authApp, eachEngine, FAST_ARGON2, PASSWORD, refreshCookie, type AuthApp, type Session } from './harness.js';

const NEW_PASSWORD = 'a brand new password';
const MANY = { limit: 10_000, windowSeconds: 60 };
const LIMITS = { login: MANY, 'refresh-token': MANY, 'forgot-password': MANY, 'reset-password': MANY };

/**
 * A hasher whose `verify` calls, while `hold()` is in force, wait after checking the password until
 * the release `hold()` returned is called; `stopHolding()` lets later calls through at once.
 */
function gatedHasher(params = FAST_ARGON2) {
  const real = createPasswordHasher(params);
  let gate: Promise<void> | null = null;
  const hasher: PasswordHasher = {
    params: real.params,
    hash: (password) => real.hash(password),
    verifyDummy: (password) => real.verifyDummy(password),
    async verify(storedHash, password) {
      const held = gate;
      const result = await real.verify(storedHash, password);
      if (held !== null) await held;
      return result;
    },
  };
  return {
    hasher,
    hold(): () => void {
      let release = (): void => undefined;
      gate = new Promise((resolve) => (release = resolve));
      return release;
    },
    stopHolding(): void {
      gate = null;
    },
  };
}

eachEngine('revocation races', (engine) => {
  let t: AuthApp;
  afterEach(async () => {
    await t.close();
  });

  async function resetPassword(email: string): Promise<number> {
    await t.post('/forgot-password', { email });
    await t.idle();
    const token = /#token=([A-Za-z0-9_-]{43})/.exec(t.mail.messages.at(-1)?.text ?? '')?.[1];
    return (await t.post('/reset-password', { token, password: NEW_PASSWORD })).statusCode;
  }

  const liveTokens = async () => ({
    access: Number((await t.db.selectFrom('access_tokens').select((eb) => eb.fn.countAll().as('n')).where('revoked_at', 'is', null).executeTakeFirstOrThrow()).n),
    refresh: Number((await t.db.selectFrom('refresh_tokens').select((eb) => eb.fn.countAll().as('n')).where('revoked_at', 'is', null).executeTakeFirstOrThrow()).n),
  });

  it('a sign-in whose password check finishes after a reset gets 401 and no tokens', async () => {
    const gated = gatedHasher();
    t = await authApp(engine, { auth: { hasher: gated.hasher, limits: LIMITS } });
    await t.register('ada@example.com');
    const release = gated.hold();
    const attacker = t.post('/login', { email: 'ada@example.com', password: PASSWORD });
    await new Promise((resolve) => setTimeout(resolve, 50)); // its argon2 check has passed; it waits at the gate
    gated.stopHolding();
    expect(await resetPassword('ada@example.com')).toBe(204);
    release();
    const res = await attacker;
    expect([res.statusCode, res.json().code]).toEqual([401, 'INVALID_CREDENTIALS']);
    expect(refreshCookie(res)).toBeUndefined();
    expect(await liveTokens()).toEqual({ access: 0, refresh: 0 });
    expect(t.events.filter((e) => e.event === 'authn_login_fail').map((e) => e.description)).toContainEqual(expect.stringMatching(/password changed while it was checked/));
    expect((await t.post('/login', { email: 'ada@example.com', password: NEW_PASSWORD })).statusCode).toBe(200);
  });

  it('a browser sign-in checked before a reset is not started after it', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    await t.register('ada@example.com');
    const service = t.app.livecomponentsAuth.service;
    const verified = await service.verifyCredentials('ada@example.com', PASSWORD, undefined);
    if (verified.type === 'error') throw verified.error;
    expect(await resetPassword('ada@example.com')).toBe(204);
    const started = await service.startWebSession(verified.user, undefined);
    expect(started.type === 'error' && started.error.code).toBe('INVALID_CREDENTIALS');
    expect(await liveTokens()).toEqual({ access: 0, refresh: 0 });
  });

  it('a rehash of the old password checked before a reset does not undo the reset', async () => {
    const gated = gatedHasher();
    t = await authApp(engine, { auth: { hasher: gated.hasher, limits: LIMITS } });
    await t.register('ada@example.com');
    const legacy = await createPasswordHasher({ memoryCost: 2048, timeCost: 1, parallelism: 1 }).hash(PASSWORD);
    await t.db.updateTable('users').set({ password_hash: legacy }).where('email', '=', 'ada@example.com').execute();
    const release = gated.hold();
    const stale = t.post('/login', { email: 'ada@example.com', password: PASSWORD });
    await new Promise((resolve) => setTimeout(resolve, 50));
    gated.stopHolding();
    expect(await resetPassword('ada@example.com')).toBe(204);
    release();
    expect((await stale).statusCode).toBe(401);
    expect((await t.post('/login', { email: 'ada@example.com', password: PASSWORD })).statusCode).toBe(401);
    expect((await t.post('/login', { email: 'ada@example.com', password: NEW_PASSWORD })).statusCode).toBe(200);
  });

  /** Which of the rotations' new tokens still work (each answer's access token and refresh cookie). */
  async function survivors(answers: LightMyRequestResponse[]): Promise<string[]> {
    const still: string[] = [];
    for (const r of answers.filter((a) => a.statusCode === 200)) {
      if ((await t.me(r.json().access_token)).statusCode === 200) still.push('access');
      if ((await t.refresh(refreshCookie(r))).statusCode === 200) still.push('refresh');
    }
    return still;
  }

  it('logout of 30 families, each while the same family refreshes: nothing of them survives', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    await t.register('ada@example.com');
    const sessions: Session[] = [];
    for (let i = 0; i < 30; i++) sessions.push(await t.login('ada@example.com'));
    t.takeEvents();
    const results = await Promise.all(
      sessions.map(async (s) => {
        const [out, refreshed] = await Promise.all([t.post('/logout', undefined, { authorization: `Bearer ${s.access}` }), t.refresh(s.refresh)]);
        return { out: out.statusCode, refreshed };
      }),
    );
    expect(results.map((r) => r.out)).toEqual(Array(30).fill(204));
    // A refresh that lost to its logout presented a revoked token, not a rotated one: no reuse.
    expect(t.takeEvents().filter((e) => e === 'authn_token_reuse')).toEqual([]);
    expect(await survivors(results.map((r) => r.refreshed))).toEqual([]);
    expect(await liveTokens()).toEqual({ access: 0, refresh: 0 });
  });

  it('reuse of a rotated token in 30 families, each while the thief rotates the current one: nothing of them survives', async () => {
    t = await authApp(engine, { auth: { limits: LIMITS } });
    await t.register('ada@example.com');
    const pairs: { old: string; current: string }[] = [];
    for (let i = 0; i < 30; i++) {
      const s = await t.login('ada@example.com');
      pairs.push({ old: s.refresh, current: refreshCookie(await t.refresh(s.refresh)) as string });
    }
    t.takeEvents();
    const results = await Promise.all(
      pairs.map(async (p) => {
        const [reuse, thief] = await Promise.all([t.refresh(p.old), t.refresh(p.current)]);
        return { reuse: reuse.statusCode, thief };
      }),
    );
    expect(results.map((r) => r.reuse)).toEqual(Array(30).fill(401));
    // Exactly one event per presentation of a rotated token; the thief's refused refreshes are none.
    expect(t.takeEvents().filter((e) => e === 'authn_token_reuse')).toHaveLength(30);
    expect(await survivors(results.map((r) => r.thief))).toEqual([]);
    expect(await liveTokens()).toEqual({ access: 0, refresh: 0 });
  });

  for (const ending of ['logout-all', 'reset'] as const) {
    it(`${ending} while 29 other sign-ins refresh: no token of the user works afterwards`, async () => {
      t = await authApp(engine, { auth: { limits: LIMITS } });
      await t.register('ada@example.com');
      const sessions: Session[] = [];
      for (let i = 0; i < 30; i++) sessions.push(await t.login('ada@example.com'));
      const main = sessions.pop() as Session;
      let token: string | undefined;
      if (ending === 'reset') {
        await t.post('/forgot-password', { email: 'ada@example.com' });
        await t.idle();
        token = /#token=([A-Za-z0-9_-]{43})/.exec(t.mail.messages.at(-1)?.text ?? '')?.[1];
      }
      const end =
        ending === 'reset'
          ? t.post('/reset-password', { token, password: NEW_PASSWORD })
          : t.post('/logout-all', undefined, { authorization: `Bearer ${main.access}` });
      const [ended, ...refreshed] = await Promise.all([end, ...sessions.map((s) => t.refresh(s.refresh))]);
      expect(ended.statusCode).toBe(204);
      const rotated = refreshed.filter((r) => r.statusCode === 200);
      const stillWorking: string[] = [];
      for (const r of rotated) {
        if ((await t.me(r.json().access_token)).statusCode === 200) stillWorking.push('access');
        if ((await t.refresh(refreshCookie(r))).statusCode === 200) stillWorking.push('refresh');
      }
      expect(stillWorking).toEqual([]);
      expect(await liveTokens()).toEqual({ access: 0, refresh: 0 });
    });
  }
});
