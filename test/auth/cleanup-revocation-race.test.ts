/**
 * The clean-up racing a revocation (logout, logout-all, a reuse's revocation, a password reset) on a
 * user with many dead tokens. On PostgreSQL both locked the same expired-but-unrevoked rows in
 * different orders: the revocation's UPDATEs took every unrevoked row of the user, the clean-up's
 * DELETE pieces every dead row, in no set order. One of the two died with `40P01` (deadlock): the
 * clean-up run failed, or the user's sign-out answered 500 and its transaction rolled back, leaving
 * the tokens live. On SQLite (one writer at a time) it never happened; the test runs there too.
 *
 * On the old source the deadlocks came once the tables had grown with the dead row versions of the
 * earlier rounds (from about round 14 on), in 10 to 14 rounds of 30: every run failed. The chains
 * of rotations reach the one wait the clean-up keeps (a deleted parent clears its live successor's
 * `parent_id`): without `retryOnConflict`, 2 runs of 9 still had one deadlock.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createAuthRepository, REVOKE_MARGIN_MS, type AuthRepository } from '../../src/auth/repository.js';
import type { DatabaseSchema } from '../../src/sql/index.js';
import { eachEngine, T0 } from './harness.js';

const MINUTE = 60_000;
const DAY = 1440 * MINUTE;
/** Dead tokens of the user per table, seeded again before each round (the clean-up deletes them). */
const DEAD = 2_000;
const ROUNDS = 30;
/** Families of the user, each a chain of rotations whose oldest tokens have expired. */
const FAMILIES = 8;

eachEngine('clean-up racing a revocation', (engine) => {
  let db: Kysely<DatabaseSchema>;
  let drop: () => Promise<void>;
  let repo: AuthRepository;
  const userId = 'u-race';
  beforeEach(async () => {
    ({ db, drop } = await engine.open());
    repo = createAuthRepository(db);
    await db.insertInto('users').values({ id: userId, email: 'ada@example.com', password_hash: 'h', name: null, created_at: T0, updated_at: T0 }).execute();
  });
  afterEach(async () => {
    await db.destroy();
    await drop();
  });

  /**
   * At `now`: `DEAD` expired, unrevoked access and refresh tokens spread over the user's families
   * (three in four ended longer than `REVOKE_MARGIN_MS` ago: the clean-up's; the others within it:
   * the revocation's), and in each family a live access token and a chain of three rotations whose
   * first refresh token expired (its own 7 days) while its successors live. Resolves the family ids.
   */
  async function seed(now: number): Promise<string[]> {
    const families = Array.from({ length: FAMILIES }, () => randomUUID());
    const row = (familyId: string, expiresAt: number) => ({ id: randomUUID(), user_id: userId, token_hash: randomUUID(), family_id: familyId, revoked_at: null, created_at: now - 8 * DAY, expires_at: expiresAt });
    const endOf = (i: number) => (i % 4 === 0 ? now - MINUTE : now - REVOKE_MARGIN_MS - MINUTE);
    const dead = (i: number) => row(families[i % FAMILIES] as string, endOf(i));
    const access = Array.from({ length: DEAD }, (_, i) => dead(i));
    // Three waves, each a third of the dead refresh tokens and one generation of every chain (a
    // parent is inserted before its child).
    const waves: DatabaseSchema['refresh_tokens'][][] = [[], [], []];
    for (let i = 0; i < DEAD; i++) waves[i % 3]?.push({ ...dead(i), parent_id: null, family_expires_at: endOf(i), used_at: null, binding_hash: null });
    for (const familyId of families) {
      access.push(row(familyId, now + 15 * MINUTE));
      let parentId: string | null = null;
      const chain = [[now - DAY, now - 2 * DAY], [now + DAY, now - DAY], [now + 7 * DAY, null]] as const;
      chain.forEach(([expiresAt, usedAt], generation) => {
        const token = { ...row(familyId, expiresAt), parent_id: parentId, family_expires_at: now + 20 * DAY, used_at: usedAt, binding_hash: null };
        waves[generation]?.push(token);
        parentId = token.id;
      });
    }
    // Shuffled, so that neither statement's order follows the insertion order.
    for (const rows of [access, ...waves]) rows.sort(() => Math.random() - 0.5);
    for (let i = 0; i < access.length; i += 2_500) await db.insertInto('access_tokens').values(access.slice(i, i + 2_500)).execute();
    for (const rows of waves) for (let i = 0; i < rows.length; i += 2_500) await db.insertInto('refresh_tokens').values(rows.slice(i, i + 2_500)).execute();
    return families;
  }

  /**
   * Tokens that an instance up to `REVOKE_MARGIN_MS` behind `now` could still use, in the family or
   * (without one) of the user.
   */
  async function usable(now: number, familyId?: string): Promise<number> {
    let count = 0;
    for (const table of ['access_tokens', 'refresh_tokens'] as const) {
      let query = db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now - REVOKE_MARGIN_MS);
      if (familyId !== undefined) query = query.where('family_id', '=', familyId);
      count += Number((await query.executeTakeFirstOrThrow()).n);
    }
    return count;
  }

  it(`${ROUNDS} rounds of a clean-up against logout and logout-all of a user with ${DEAD} dead tokens: neither fails, nothing usable survives`, async () => {
    const failures: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const now = T0 + round * DAY;
      const families = await seed(now);
      const family = families[round % FAMILIES] as string;
      const revoke = round % 2 === 0 ? () => repo.revokeUser(userId, now) : () => repo.revokeFamily(userId, family, now);
      const [cleaned, revoked] = await Promise.allSettled([repo.deleteDead(now), revoke()]);
      for (const [what, result] of [['clean-up', cleaned], ['revocation', revoked]] as const) {
        if (result.status === 'rejected') failures.push(`round ${round} ${what}: ${(result.reason as { code?: string }).code ?? ''} ${String(result.reason)}`);
      }
      if (revoked.status === 'fulfilled') expect(await usable(now, round % 2 === 0 ? undefined : family), `round ${round}`).toBe(0);
      // What is left for the next round: revoke the rest, then let a clean-up take everything.
      await repo.revokeUser(userId, now);
      await repo.deleteDead(now + 30 * DAY);
    }
    expect(failures).toEqual([]);
  }, 120_000);
});
