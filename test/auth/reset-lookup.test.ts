/**
 * reset-password hashed the new password with argon2 before it looked the token up: an unknown
 * well-formed token cost a full hash (23.6 ms against 3.8 ms for a malformed one at the OWASP
 * parameters). The token is now looked up first and only a live one is hashed for; the single use
 * still rests on the conditional UPDATE after the hash, which these tests force both racers to reach.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createPasswordHasher, type PasswordHasher } from '../../src/auth/index.js';
import { authApp, eachEngine, FAST_ARGON2, PASSWORD, type AuthApp } from './harness.js';

const MINUTE = 60_000;
const MANY = { limit: 10_000, windowSeconds: 60 };

eachEngine('reset-password looks the token up before it hashes', (engine) => {
  let t: AuthApp;
  const calls: string[] = [];
  /** While set, each `hash` waits for it after hashing (both racers then hold a hash). */
  let gate: Promise<void> | null = null;
  const real = createPasswordHasher(FAST_ARGON2);
  const hasher: PasswordHasher = {
    params: real.params,
    async hash(password) {
      calls.push('hash');
      const held = gate;
      const result = await real.hash(password);
      if (held !== null) await held;
      return result;
    },
    verify: (h, p) => real.verify(h, p),
    verifyDummy: (p) => real.verifyDummy(p),
  };

  beforeEach(async () => {
    t = await authApp(engine, { auth: { hasher, limits: { 'reset-password': MANY, 'forgot-password': MANY, login: MANY } } });
    await t.register('ada@example.com');
    calls.length = 0;
    gate = null;
  });
  afterEach(async () => {
    await t.close();
  });

  async function mailedToken(): Promise<string> {
    await t.post('/forgot-password', { email: 'ada@example.com' });
    await t.idle();
    const token = /#token=([A-Za-z0-9_-]{43})/.exec(t.mail.messages.at(-1)?.text ?? '')?.[1];
    if (token === undefined) throw new Error('no reset mail');
    return token;
  }
  const reset = (token: unknown, password = 'a brand new password') => t.post('/reset-password', { token, password });

  it('an unknown, a used and an expired token are refused without hashing; a live one is hashed once', async () => {
    const unknown = await reset('z'.repeat(43));
    expect([unknown.statusCode, unknown.json().code]).toEqual([400, 'RESET_TOKEN_INVALID']);
    expect(calls).toEqual([]);

    const used = await mailedToken();
    expect((await reset(used)).statusCode).toBe(204);
    expect(calls).toEqual(['hash']);
    calls.length = 0;
    expect((await reset(used, 'yet another password')).json().code).toBe('RESET_TOKEN_INVALID');

    const expired = await mailedToken();
    t.clock.advance(60 * MINUTE);
    expect((await reset(expired, 'yet another password')).json().code).toBe('RESET_TOKEN_INVALID');
    expect(calls).toEqual([]);
    // Each refusal still leaves its trace.
    expect(t.events.filter((e) => e.event === 'authn_password_change_fail').map((e) => e.description)).toEqual(
      Array(3).fill('Password reset refused: unknown, used or expired reset token'),
    );
    expect((await t.post('/login', { email: 'ada@example.com', password: 'a brand new password' })).statusCode).toBe(200);
  });

  it('two resets with one token that both hashed: the conditional UPDATE still lets exactly one through', async () => {
    for (let round = 0; round < 3; round++) {
      const token = await mailedToken();
      calls.length = 0;
      let release = (): void => undefined;
      gate = new Promise((resolve) => (release = resolve));
      const racers = [reset(token, `first password ${round}`), reset(token, `second password ${round}`)];
      // Both passed the look-up and are hashing; let them redeem together.
      while (calls.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      release();
      gate = null;
      const results = await Promise.all(racers);
      expect(calls).toEqual(['hash', 'hash']);
      expect(results.map((r) => (r.statusCode === 204 ? '204' : `${r.statusCode} ${r.json().code}`)).sort(), `round ${round}`).toEqual([
        '204',
        '400 RESET_TOKEN_INVALID',
      ]);
      const won = results.findIndex((r) => r.statusCode === 204);
      const password = `${won === 0 ? 'first' : 'second'} password ${round}`;
      expect((await t.post('/login', { email: 'ada@example.com', password })).statusCode).toBe(200);
    }
    expect((await t.post('/login', { email: 'ada@example.com', password: PASSWORD })).statusCode).toBe(401);
  });
});
