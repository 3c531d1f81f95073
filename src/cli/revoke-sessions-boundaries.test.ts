/**
 * `revokeUsers` (the SQL half of `livecomponents revoke-sessions`) at every boundary of its
 * per-table predicates (`bulkRevocable`, d3d277b): expiry just before, at and after `since` (now less
 * `REVOKE_MARGIN_MS`), a refresh family's own expiry likewise, rows already revoked or spent, browser
 * sign-ins and bearer tokens, and another user's rows. The dry run counts exactly what the run then
 * changes, with the counts worked out here by hand, and the other user's rows stay. Review R3: the
 * area holds (this passes on f1fd90b); it fails if a bound moves (`>` to `>=` on `expires_at`: 4
 * where 3 are expected).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createAuthRepository, REVOKE_MARGIN_MS } from '../auth/repository.js';
import { createDatabase } from '../sql/database.js';
import { migrateToLatest } from '../sql/migrate.js';

const dir = mkdtempSync(join(tmpdir(), 'lc-revoke-bounds-'));
const db = createDatabase(`sqlite:${join(dir, 'auth.db')}`);
afterAll(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

it('dry run = run at each boundary: 3 bearer, 3 browser, 18 refresh, 6 resets of 20/100/20 rows a user; the other user untouched', async () => {
  await migrateToLatest(db);
  const repo = createAuthRepository(db);
  const now = 1_800_000_000_000;
  const since = now - REVOKE_MARGIN_MS;
  const users: string[] = [];
  for (const email of ['ada@example.com', 'bob@example.com']) {
    const row = await repo.insertUser({ email, passwordHash: 'hash', name: null }, now);
    if (row === 'taken') throw new Error('taken');
    users.push(row.id);
  }
  // Of the five expiries, three are after `since`; of the two revoked states, one is live.
  const expiries = [since - 1, since, since + 1, now, now + 1];
  for (const user of users) {
    for (const expiresAt of expiries) {
      for (const gone of [null, now - 1]) {
        for (const family of [`web:${randomUUID()}`, randomUUID()]) {
          await db.insertInto('access_tokens').values({ id: randomUUID(), user_id: user, token_hash: randomUUID(), family_id: family, expires_at: expiresAt, revoked_at: gone, created_at: 1 }).execute();
          for (const familyExpiresAt of expiries) {
            await db
              .insertInto('refresh_tokens')
              .values({ id: randomUUID(), user_id: user, family_id: family, token_hash: randomUUID(), parent_id: null, family_expires_at: familyExpiresAt, expires_at: expiresAt, used_at: null, revoked_at: gone, created_at: 1, binding_hash: null })
              .execute();
          }
          await db.insertInto('password_resets').values({ token_hash: randomUUID(), user_id: user, expires_at: expiresAt, used_at: gone, created_at: 1 }).execute();
        }
      }
    }
  }
  const [ada, bob] = users as [string, string];
  const expected = { accessTokens: 3, webSignIns: 3, refreshTokens: 18, passwordResets: 6 };
  expect(await repo.revokeUsers([ada], now, true)).toEqual(expected);
  expect(await repo.revokeUsers([ada], now, false)).toEqual(expected);
  expect(await repo.revokeUsers([ada], now, true)).toEqual({ accessTokens: 0, webSignIns: 0, refreshTokens: 0, passwordResets: 0 });
  expect(await repo.revokeUsers([bob], now, true)).toEqual(expected);
  const changed = await db.selectFrom('access_tokens').select('user_id').where('revoked_at', '=', now).execute();
  expect(changed.map((row) => row.user_id)).toEqual(Array(6).fill(ada));
});
