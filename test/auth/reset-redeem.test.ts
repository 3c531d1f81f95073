/**
 * Several reset tokens of one user redeemed at the same moment: exactly one changes the password,
 * the others are refused as spent, and nothing fails. On PostgreSQL the redemption took its own
 * reset row before the user's lock, and two of them deadlocked (500 INTERNAL_ERROR); it now takes
 * the user's lock first, like every other transaction of the repository.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { createAuthRepository } from '../../src/auth/repository.js';
import { authApp, eachEngine, T0, type AuthApp } from './harness.js';

const TOKENS = 6;
const ROUNDS = 8;
const MANY = { limit: 10_000, windowSeconds: 60 };
const LIMITS = { login: MANY, 'refresh-token': MANY, 'forgot-password': MANY, 'reset-password': MANY };

eachEngine('concurrent password-reset redemptions', (engine) => {
  let close: () => Promise<void> = async () => undefined;
  afterEach(async () => {
    await close();
    close = async () => undefined;
  });

  it(`${TOKENS} tokens of one user redeemed at once, ${ROUNDS} rounds: one redeems, the others get null, none throws`, async () => {
    const { db, drop } = await engine.open();
    close = async () => {
      await db.destroy();
      await drop();
    };
    const repo = createAuthRepository(db);
    for (let round = 0; round < ROUNDS; round++) {
      const now = T0 + round * 1_000;
      const user = await repo.insertUser({ email: `reset-${round}@example.com`, passwordHash: 'old hash', name: null }, now);
      if (user === 'taken') throw new Error('unexpected: email taken');
      const hashes = Array.from({ length: TOKENS }, () => randomUUID());
      for (const hash of hashes) await repo.insertPasswordReset(hash, user.id, now, now + 3_600_000);

      const settled = await Promise.allSettled(hashes.map((hash, i) => repo.redeemPasswordReset(hash, `new hash ${i}`, now + 1)));

      const errors = settled.flatMap((s) => (s.status === 'rejected' ? [String((s.reason as Error)?.message ?? s.reason)] : []));
      expect(errors, `round ${round}`).toEqual([]);
      const values = settled.map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<typeof repo.redeemPasswordReset>>>).value);
      const winners = values.flatMap((v, i) => (v === null ? [] : [i]));
      expect(winners, `round ${round}`).toHaveLength(1);
      expect(values.filter((v) => v === null), `round ${round}`).toHaveLength(TOKENS - 1);
      expect(values[winners[0] as number]?.userId).toBe(user.id);
      // The winner's password is the one stored, and every token of the user is spent.
      expect((await repo.userById(user.id))?.password_hash).toBe(`new hash ${winners[0]}`);
      const unused = await db.selectFrom('password_resets').select('token_hash').where('user_id', '=', user.id).where('used_at', 'is', null).execute();
      expect(unused).toEqual([]);
    }
  });

  it('through the API: one 204, the others 400 RESET_TOKEN_INVALID, never a 500', async () => {
    const t: AuthApp = await authApp(engine, { auth: { limits: LIMITS, resetMailMax: { perClient: 1000, perAccount: 1000, windowSeconds: 3600 } } });
    close = () => t.close();
    await t.register('ada@example.com');
    for (let round = 0; round < 3; round++) {
      const tokens: string[] = [];
      for (let i = 0; i < 5; i++) {
        await t.post('/forgot-password', { email: 'ada@example.com' });
        await t.idle();
        const token = /#token=([A-Za-z0-9_-]{43})/.exec(t.mail.messages.at(-1)?.text ?? '')?.[1];
        if (token === undefined) throw new Error('no reset mail');
        tokens.push(token);
      }
      expect(new Set(tokens).size).toBe(5);
      const responses = await Promise.all(tokens.map((token, i) => t.post('/reset-password', { token, password: `new password number ${round}.${i}` })));
      const outcomes = responses.map((r) => (r.statusCode === 204 ? '204' : `${r.statusCode} ${r.json().code}`)).sort();
      expect(outcomes, `round ${round}`).toEqual(['204', '400 RESET_TOKEN_INVALID', '400 RESET_TOKEN_INVALID', '400 RESET_TOKEN_INVALID', '400 RESET_TOKEN_INVALID']);
    }
    // No reset of the user is left to redeem.
    expect(await t.db.selectFrom('password_resets').select('token_hash').where('used_at', 'is', null).execute()).toEqual([]);
  });
});
