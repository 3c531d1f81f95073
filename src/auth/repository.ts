/**
 * Every SQL statement of the auth service, on the Kysely schema of `src/sql` (the same queries on
 * SQLite and PostgreSQL). Times are milliseconds from the caller's clock; tokens arrive already
 * hashed. Statements that must not race are single conditional UPDATEs whose affected rows decide
 * who won (refresh rotation, password-reset redemption).
 *
 * Every transaction that writes tokens of a user, or revokes a family of them or all of them, first
 * locks the user's row (`lockUser`). Without it, on PostgreSQL's READ COMMITTED a rotation committing
 * during a logout, a reuse's revocation, a logout-all or a password reset wrote a successor that the
 * revocation's UPDATEs never saw, and a sign-in whose password check began before a reset got tokens
 * after it: both outlived the revocation.
 *
 * A refresh token's row holds the hash of its companion cookie (`binding_hash`, cookie.ts): the
 * rotation's conditional UPDATE takes the row only with that binding (or none, a row from before
 * bindings existed), so a token planted without its companion never rotates.
 *
 * Web sign-ins are rows of `access_tokens` too, in a family named `web:<id>`, whose token hash is
 * the hash of a random value thrown away at once: nothing can present them as a bearer token, but
 * logout-all, a password reset and the clean-up reach them like every other grant.
 */
import { randomUUID } from 'node:crypto';
import { PostgresAdapter, type Kysely, type Transaction, type WhereInterface } from 'kysely';
import type { DatabaseSchema } from '../sql/schema.js';
import { UNBOUND } from './tokens.js';

type Db = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

export interface UserRow {
  id: string;
  email: string;
  name: string | null;
  password_hash: string;
  created_at: number;
  updated_at: number;
}

/** What a new sign-in (or a rotation) writes: one access token and one refresh token of a family. */
export interface TokenGrant {
  userId: string;
  familyId: string;
  accessHash: string;
  accessExpiresAt: number;
  refreshHash: string;
  refreshExpiresAt: number;
  familyExpiresAt: number;
  /** The refresh token this one replaces (`null` at sign-in). */
  parentId: string | null;
  /**
   * `binding_hash` of the refresh token: the SHA-256 of its companion cookie, or `UNBOUND` (tokens.ts)
   * where none is set. Omitted (the SQL layer's own tests): `UNBOUND`, which a service with `Secure`
   * cookies refuses to rotate — never NULL, which only rows written before bindings existed have.
   */
  bindingHash?: string;
}

export interface RefreshRow {
  id: string;
  user_id: string;
  family_id: string;
  family_expires_at: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
  /** See `TokenGrant.bindingHash`; NULL: written before bindings existed (migration `003_refresh_binding`). */
  binding_hash: string | null;
}

export interface AccessGrant {
  tokenId: string;
  familyId: string;
  user: UserRow;
}

/** Rows changed by a revocation. */
export interface Revoked {
  accessTokens: number;
  refreshTokens: number;
}

/**
 * Rows changed by an operator's bulk revocation (`revokeUsers`, `livecomponents revoke-sessions`):
 * bearer access tokens and browser sign-ins (both rows of `access_tokens`) counted apart.
 */
export interface BulkRevoked {
  accessTokens: number;
  webSignIns: number;
  refreshTokens: number;
  /** Unspent reset tokens marked spent. */
  passwordResets: number;
}

/** Rows deleted by one clean-up. */
export interface CleanupCounts {
  accessTokens: number;
  refreshTokens: number;
  passwordResets: number;
}

export const WEB_FAMILY_PREFIX = 'web:';

const USER_COLUMNS = ['id', 'email', 'name', 'password_hash', 'created_at', 'updated_at'] as const;
const REFRESH_COLUMNS = ['id', 'user_id', 'family_id', 'family_expires_at', 'expires_at', 'used_at', 'revoked_at', 'binding_hash'] as const;

export type AuthRepository = ReturnType<typeof createAuthRepository>;

export function createAuthRepository(db: Kysely<DatabaseSchema>) {
  async function insertGrant(trx: Db, grant: TokenGrant, now: number): Promise<void> {
    await trx
      .insertInto('access_tokens')
      .values({
        id: randomUUID(),
        user_id: grant.userId,
        token_hash: grant.accessHash,
        family_id: grant.familyId,
        expires_at: grant.accessExpiresAt,
        revoked_at: null,
        created_at: now,
      })
      .execute();
    await trx
      .insertInto('refresh_tokens')
      .values({
        id: randomUUID(),
        user_id: grant.userId,
        family_id: grant.familyId,
        token_hash: grant.refreshHash,
        parent_id: grant.parentId,
        family_expires_at: grant.familyExpiresAt,
        expires_at: grant.refreshExpiresAt,
        used_at: null,
        revoked_at: null,
        created_at: now,
        binding_hash: grant.bindingHash ?? UNBOUND,
      })
      .execute();
  }

  /**
   * Locks the user's row until the transaction ends, with an UPDATE that changes nothing (the same
   * statement on both engines; SQLite takes its write lock). With `passwordHash`: only while the
   * password is still the one the caller verified. Resolves whether the row was there (and matched).
   */
  async function lockUser(trx: Db, userId: string, passwordHash?: string): Promise<boolean> {
    let update = trx
      .updateTable('users')
      .set((eb) => ({ updated_at: eb.ref('updated_at') }))
      .where('id', '=', userId);
    if (passwordHash !== undefined) update = update.where('password_hash', '=', passwordHash);
    return Number((await update.executeTakeFirst()).numUpdatedRows) === 1;
  }

  /**
   * Revokes the tokens of `userId` (of its family `familyId` only, when given) that could still be
   * used on some instance: unrevoked, and unexpired or expired less than `REVOKE_MARGIN_MS` ago on
   * this clock (for a refresh token, its family likewise; a rotated one still counts, its reuse is
   * detected). Call it under `lockUser`.
   *
   * Older rows are left to the clean-up, which deletes them: nothing accepts them any more. Taking
   * them too, the revocation's UPDATEs locked the same dead rows as the clean-up's DELETEs, each in
   * its own order, and on PostgreSQL one of the two died of a deadlock (40P01): the clean-up run, or
   * the sign-out, whose tokens then stayed live. Without the margin, a token that had just expired on
   * this clock was skipped, and an instance whose clock is a little behind still accepted it (and
   * rotated it into a fresh grant) after the logout-all, the reset or the reuse.
   */
  async function revokeWhere(trx: Db, now: number, userId: string, familyId?: string): Promise<Revoked> {
    const since = now - REVOKE_MARGIN_MS;
    let access = trx.updateTable('access_tokens').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).where('expires_at', '>', since);
    let refresh = trx
      .updateTable('refresh_tokens')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', since)
      .where('family_expires_at', '>', since);
    if (familyId !== undefined) {
      access = access.where('family_id', '=', familyId);
      refresh = refresh.where('family_id', '=', familyId);
    }
    const accessResult = await access.executeTakeFirst();
    const refreshResult = await refresh.executeTakeFirst();
    return { accessTokens: Number(accessResult.numUpdatedRows), refreshTokens: Number(refreshResult.numUpdatedRows) };
  }

  /**
   * The rows of `userIds` an operator's bulk revocation (`revokeUsers`) takes, one predicate per table
   * for both its dry run's COUNTs and its UPDATEs, so the dry run counts exactly what the run changes:
   * what `revokeWhere` takes (unrevoked, and expiring after `since`, which is now less
   * `REVOKE_MARGIN_MS`), bearer tokens and browser sign-ins apart, and unspent reset tokens.
   */
  function bulkRevocable(userIds: string[], since: number) {
    const web = `${WEB_FAMILY_PREFIX}%`;
    return {
      access:
        (isWeb: boolean) =>
        <Q extends WhereInterface<DatabaseSchema, 'access_tokens'>>(qb: Q): Q =>
          qb
            .where('user_id', 'in', userIds)
            .where('revoked_at', 'is', null)
            .where('expires_at', '>', since)
            .where('family_id', isWeb ? 'like' : 'not like', web) as Q,
      refresh: <Q extends WhereInterface<DatabaseSchema, 'refresh_tokens'>>(qb: Q): Q =>
        qb.where('user_id', 'in', userIds).where('revoked_at', 'is', null).where('expires_at', '>', since).where('family_expires_at', '>', since) as Q,
      reset: <Q extends WhereInterface<DatabaseSchema, 'password_resets'>>(qb: Q): Q =>
        qb.where('user_id', 'in', userIds).where('used_at', 'is', null).where('expires_at', '>', since) as Q,
    };
  }

  return {
    /** Inserts a user; `'taken'` when the (normalised) email already has an account. */
    async insertUser(user: { email: string; passwordHash: string; name: string | null }, now: number): Promise<UserRow | 'taken'> {
      const row: UserRow = { id: randomUUID(), email: user.email, name: user.name, password_hash: user.passwordHash, created_at: now, updated_at: now };
      try {
        await db.insertInto('users').values(row).execute();
        return row;
      } catch (error) {
        if (isUniqueViolation(error)) return 'taken';
        throw error;
      }
    },

    async userByEmail(email: string): Promise<UserRow | undefined> {
      return db.selectFrom('users').select(USER_COLUMNS).where('email', '=', email).executeTakeFirst();
    },

    async userById(id: string): Promise<UserRow | undefined> {
      return db.selectFrom('users').select(USER_COLUMNS).where('id', '=', id).executeTakeFirst();
    },

    /**
     * Replaces the hash of a password just verified (a rehash under new parameters), only while it
     * is still `previousHash`: a reset committed meanwhile is not undone. Resolves whether it did.
     */
    async rehashPassword(userId: string, previousHash: string, passwordHash: string, now: number): Promise<boolean> {
      const result = await db
        .updateTable('users')
        .set({ password_hash: passwordHash, updated_at: now })
        .where('id', '=', userId)
        .where('password_hash', '=', previousHash)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    /** Resolves whether the user still exists. */
    async setName(userId: string, name: string | null, now: number): Promise<boolean> {
      const result = await db.updateTable('users').set({ name, updated_at: now }).where('id', '=', userId).executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    /**
     * Writes the first access and refresh token of a new family, only while the user's password is
     * still `verifiedHash` (the one the sign-in just checked). Resolves whether it wrote them.
     */
    async createGrant(grant: TokenGrant, now: number, verifiedHash: string): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        if (!(await lockUser(trx, grant.userId, verifiedHash))) return false;
        await insertGrant(trx, grant, now);
        return true;
      });
    },

    /**
     * Rotation, in one transaction: marks the live refresh token `refreshHash` used with a
     * conditional UPDATE, and only when that changed exactly one row, writes its successor from
     * `next(row)`. Of any number of concurrent calls with the same token, one gets the row; the
     * others get `null`. `binding` (tokens.ts `acceptedBinding`): the `binding_hash` the request may
     * rotate besides NULL; a row bound to another is left as it is (`null`, nothing written). Omitted:
     * `UNBOUND`, as over plain HTTP.
     */
    async rotateRefresh(refreshHash: string, now: number, next: (row: RefreshRow) => TokenGrant, binding: string | null = UNBOUND): Promise<RefreshRow | null> {
      return db.transaction().execute(async (trx) => {
        const owner = await trx.selectFrom('refresh_tokens').select('user_id').where('token_hash', '=', refreshHash).executeTakeFirst();
        if (owner === undefined || !(await lockUser(trx, owner.user_id))) return null;
        // Under the lock, this statement sees a revocation committed while it waited for it.
        const rows = await trx
          .updateTable('refresh_tokens')
          .set({ used_at: now })
          .where('token_hash', '=', refreshHash)
          .where('used_at', 'is', null)
          .where('revoked_at', 'is', null)
          .where('expires_at', '>', now)
          .where('family_expires_at', '>', now)
          // `bindingAccepts` (tokens.ts), in SQL: a legacy row, or the request's binding.
          .where((eb) => (binding === null ? eb('binding_hash', 'is', null) : eb.or([eb('binding_hash', 'is', null), eb('binding_hash', '=', binding)])))
          .returning(REFRESH_COLUMNS)
          .execute();
        if (rows.length !== 1) return null;
        const row = rows[0] as RefreshRow;
        await insertGrant(trx, next(row), now);
        return row;
      });
    },

    async refreshByHash(refreshHash: string): Promise<RefreshRow | undefined> {
      return db.selectFrom('refresh_tokens').select(REFRESH_COLUMNS).where('token_hash', '=', refreshHash).executeTakeFirst();
    },

    /** The live bearer grant of `accessHash` with its user (never a web sign-in row). */
    async accessGrant(accessHash: string, now: number): Promise<AccessGrant | undefined> {
      const row = await db
        .selectFrom('access_tokens as t')
        .innerJoin('users as u', 'u.id', 't.user_id')
        .select(['t.id as token_id', 't.family_id', 'u.id', 'u.email', 'u.name', 'u.password_hash', 'u.created_at', 'u.updated_at'])
        .where('t.token_hash', '=', accessHash)
        .where('t.revoked_at', 'is', null)
        .where('t.expires_at', '>', now)
        .where('t.family_id', 'not like', `${WEB_FAMILY_PREFIX}%`)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      const { token_id: tokenId, family_id: familyId, ...user } = row;
      return { tokenId, familyId, user };
    },

    /**
     * Every access and refresh token of one family of the user (logout, and a refresh token's
     * reuse), in one transaction under the user's lock like every other revocation: a rotation of
     * the family either committed before it (its successor is revoked here) or runs after it (and
     * finds its token revoked). Unlocked, on READ COMMITTED, a rotation committing between or during
     * these UPDATEs left its successor alive after a logout or a reuse. Run again, like `revokeUser`,
     * when PostgreSQL aborts it as a deadlock's victim (`retryOnConflict`, see `deleteDead`).
     */
    revokeFamily: (userId: string, familyId: string, now: number): Promise<Revoked> =>
      retryOnConflict(() =>
        db.transaction().execute(async (trx) => {
          await lockUser(trx, userId);
          return revokeWhere(trx, now, userId, familyId);
        }),
      ),

    /** Every access token, refresh token and web sign-in of the user. */
    revokeUser: (userId: string, now: number): Promise<Revoked> =>
      retryOnConflict(() =>
        db.transaction().execute(async (trx) => {
          await lockUser(trx, userId);
          return revokeWhere(trx, now, userId);
        }),
      ),

    /**
     * The ids of the users after `afterId` in id order, at most `limit`: a walk over every user in
     * pieces (`''` first). A user registered during the walk may be passed over; it had no token
     * before the walk began.
     */
    async userIdsAfter(afterId: string, limit: number): Promise<string[]> {
      const rows = await db.selectFrom('users').select('id').where('id', '>', afterId).orderBy('id').limit(limit).execute();
      return rows.map((row) => row.id);
    },

    /**
     * The operator's revocation (`livecomponents revoke-sessions`): every access token, browser
     * sign-in and refresh token of `userIds` that `revokeWhere` would take, and their unspent reset
     * tokens (marked spent, within the same margin), in one transaction under the users' locks, like
     * every other revocation: a rotation, sign-in or reset of one of them either committed before it
     * (and its rows are taken here) or runs after it. The users' rows are locked by one UPDATE; the
     * app's transactions lock one user each, so no cycle forms with them (two runs at once may
     * deadlock: run again, `retryOnConflict`). `dryRun`: counts the same rows, changes nothing.
     */
    revokeUsers: (userIds: readonly string[], now: number, dryRun = false): Promise<BulkRevoked> =>
      userIds.length === 0
        ? Promise.resolve({ accessTokens: 0, webSignIns: 0, refreshTokens: 0, passwordResets: 0 })
        : retryOnConflict(() =>
            db.transaction().execute(async (trx) => {
              const since = now - REVOKE_MARGIN_MS;
              const ids = [...userIds];
              if (!dryRun) {
                await trx
                  .updateTable('users')
                  .set((eb) => ({ updated_at: eb.ref('updated_at') }))
                  .where('id', 'in', ids)
                  .execute();
              }
              const count = async (query: { executeTakeFirst(): Promise<{ n: string | number | bigint } | undefined> }) => Number((await query.executeTakeFirst())?.n ?? 0);
              const changed = async (query: { executeTakeFirst(): Promise<{ numUpdatedRows: bigint }> }) => Number((await query.executeTakeFirst()).numUpdatedRows);
              const rows = bulkRevocable(ids, since);
              if (dryRun) {
                return {
                  accessTokens: await count(trx.selectFrom('access_tokens').select((eb) => eb.fn.countAll().as('n')).$call(rows.access(false))),
                  webSignIns: await count(trx.selectFrom('access_tokens').select((eb) => eb.fn.countAll().as('n')).$call(rows.access(true))),
                  refreshTokens: await count(trx.selectFrom('refresh_tokens').select((eb) => eb.fn.countAll().as('n')).$call(rows.refresh)),
                  passwordResets: await count(trx.selectFrom('password_resets').select((eb) => eb.fn.countAll().as('n')).$call(rows.reset)),
                };
              }
              return {
                accessTokens: await changed(trx.updateTable('access_tokens').set({ revoked_at: now }).$call(rows.access(false))),
                webSignIns: await changed(trx.updateTable('access_tokens').set({ revoked_at: now }).$call(rows.access(true))),
                refreshTokens: await changed(trx.updateTable('refresh_tokens').set({ revoked_at: now }).$call(rows.refresh)),
                passwordResets: await changed(trx.updateTable('password_resets').set({ used_at: now }).$call(rows.reset)),
              };
            }),
          ),

    /**
     * A password change by its owner (password-change.ts), in one transaction under the user's lock:
     * the new hash, written only while the stored one is still `verifiedHash` (the one the change just
     * verified: a reset or another change committed meanwhile wins), then every unspent reset link
     * spent and every grant, browser sign-in and refresh token revoked (`bulkRevocable`, as
     * `revokeUsers` counts them). Resolves the rows changed, or `null` (nothing written) when the
     * password changed meanwhile. Written and revoked as one: apart, a crash or an outage between the
     * two left the new password with every old sign-in live (the very ones a change after a leak must
     * end), and a reset racing the change redeemed a link not yet spent, so both answered success and
     * the change's password did not stand. Run again as a deadlock's victim (`retryOnConflict`).
     */
    changePassword: (userId: string, verifiedHash: string, passwordHash: string, now: number): Promise<BulkRevoked | null> =>
      retryOnConflict(() =>
        db.transaction().execute(async (trx) => {
          if (!(await lockUser(trx, userId, verifiedHash))) return null;
          await trx.updateTable('users').set({ password_hash: passwordHash, updated_at: now }).where('id', '=', userId).execute();
          const rows = bulkRevocable([userId], now - REVOKE_MARGIN_MS);
          const changed = async (query: { executeTakeFirst(): Promise<{ numUpdatedRows: bigint }> }) => Number((await query.executeTakeFirst()).numUpdatedRows);
          // Every unspent link, as a reset spends the user's others (not only those within the margin).
          const passwordResets = await changed(trx.updateTable('password_resets').set({ used_at: now }).where('user_id', '=', userId).where('used_at', 'is', null));
          return {
            accessTokens: await changed(trx.updateTable('access_tokens').set({ revoked_at: now }).$call(rows.access(false))),
            webSignIns: await changed(trx.updateTable('access_tokens').set({ revoked_at: now }).$call(rows.access(true))),
            refreshTokens: await changed(trx.updateTable('refresh_tokens').set({ revoked_at: now }).$call(rows.refresh)),
            passwordResets,
          };
        }),
      ),

    /**
     * Records a web sign-in (see the module comment) while the user's password is still
     * `verifiedHash`; resolves its id, or `null` when the password changed since it was checked.
     */
    async createWebSession(userId: string, unusableHash: string, now: number, expiresAt: number, verifiedHash: string): Promise<string | null> {
      const id = randomUUID();
      return db.transaction().execute(async (trx) => {
        if (!(await lockUser(trx, userId, verifiedHash))) return null;
        await trx
          .insertInto('access_tokens')
          .values({ id, user_id: userId, token_hash: unusableHash, family_id: `${WEB_FAMILY_PREFIX}${id}`, expires_at: expiresAt, revoked_at: null, created_at: now })
          .execute();
        return id;
      });
    },

    /** The user of a live web sign-in, or `undefined` when it was revoked, expired or never existed. */
    async webSessionUser(userId: string, webSessionId: string, now: number): Promise<UserRow | undefined> {
      return db
        .selectFrom('access_tokens as t')
        .innerJoin('users as u', 'u.id', 't.user_id')
        .select(['u.id', 'u.email', 'u.name', 'u.password_hash', 'u.created_at', 'u.updated_at'])
        .where('t.id', '=', webSessionId)
        .where('t.family_id', '=', `${WEB_FAMILY_PREFIX}${webSessionId}`)
        .where('t.user_id', '=', userId)
        .where('t.revoked_at', 'is', null)
        .where('t.expires_at', '>', now)
        .executeTakeFirst();
    },

    async revokeWebSession(webSessionId: string, now: number): Promise<boolean> {
      const result = await db
        .updateTable('access_tokens')
        .set({ revoked_at: now })
        .where('id', '=', webSessionId)
        .where('family_id', '=', `${WEB_FAMILY_PREFIX}${webSessionId}`)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    /**
     * The email of a live reset token's user (unused, unexpired token), else `undefined`: read
     * before the new password is checked against that email and hashed, so an unknown token costs
     * no hash. Only `redeemPasswordReset` decides who redeems it.
     */
    async liveResetEmail(tokenHash: string, now: number): Promise<string | undefined> {
      const row = await db
        .selectFrom('password_resets')
        .innerJoin('users', 'users.id', 'password_resets.user_id')
        .select('users.email')
        .where('password_resets.token_hash', '=', tokenHash)
        .where('password_resets.used_at', 'is', null)
        .where('password_resets.expires_at', '>', now)
        .executeTakeFirst();
      return row?.email;
    },

    /**
     * Stores a reset token; resolves `false` when the user's row is gone (its foreign key refused the
     * insert): an operator deleted the account in SQL after forgot-password looked it up. Not an error
     * of the app's: there is no one to mail.
     */
    async insertPasswordReset(tokenHash: string, userId: string, now: number, expiresAt: number): Promise<boolean> {
      try {
        await db.insertInto('password_resets').values({ token_hash: tokenHash, user_id: userId, expires_at: expiresAt, used_at: null, created_at: now }).execute();
        return true;
      } catch (error) {
        if (isForeignKeyViolation(error)) return false;
        throw error;
      }
    },

    /**
     * Redeems a reset token and applies the new password in one transaction: the conditional
     * UPDATE lets one caller through; the password changes, every other outstanding reset of the
     * user is spent, and every grant of the user is revoked. Resolves the user id, or `null`.
     *
     * Like `rotateRefresh`, it reads the token's user with a plain SELECT and takes the user's lock
     * before it writes any reset row. Taking the reset row first deadlocked on PostgreSQL when two
     * tokens of one user were redeemed at once: each held its own reset row, one also the user's row
     * and waited for the other's reset row (spending the user's other resets), which waited for the
     * user's row. Under the lock the redemptions of one user run one after the other, and the
     * conditional UPDATE sees the resets a previous one spent. Run again when PostgreSQL picks it as a
     * deadlock's victim (`retryOnConflict`): it rolled back whole, the token unspent.
     */
    async redeemPasswordReset(tokenHash: string, passwordHash: string, now: number): Promise<{ userId: string; revoked: Revoked } | null> {
      return retryOnConflict(() =>
        db.transaction().execute(async (trx) => {
          const owner = await trx.selectFrom('password_resets').select('user_id').where('token_hash', '=', tokenHash).executeTakeFirst();
          if (owner === undefined || !(await lockUser(trx, owner.user_id))) return null;
          const userId = owner.user_id;
          // Under the lock, this statement sees the spending of a redemption committed while it waited.
          const spent = await trx
            .updateTable('password_resets')
            .set({ used_at: now })
            .where('token_hash', '=', tokenHash)
            .where('used_at', 'is', null)
            .where('expires_at', '>', now)
            .executeTakeFirst();
          if (Number(spent.numUpdatedRows) !== 1) return null;
          await trx.updateTable('users').set({ password_hash: passwordHash, updated_at: now }).where('id', '=', userId).execute();
          await trx.updateTable('password_resets').set({ used_at: now }).where('user_id', '=', userId).where('used_at', 'is', null).execute();
          const revoked = await revokeWhere(trx, now, userId);
          return { userId, revoked };
        }),
      );
    },

    /**
     * Deletes what can never be used again: revoked access tokens and web sign-ins, and those that
     * expired at least `REVOKE_MARGIN_MS` ago; refresh tokens that were revoked, or whose own end or
     * family's end is that long past (rotated tokens stay while they would still be live, so their
     * reuse is still detected); spent reset tokens, and those that expired that long ago (a reset link
     * still live on an instance whose clock is behind stays usable there). Unrevoked tokens that expired within
     * the margin are the revocations' (`revokeWhere`): the two never touch the same row. Idempotent:
     * several instances running it at once delete each row once between them. Deletes in pieces of
     * at most `batch` rows (`CLEANUP_BATCH`), however large the backlog.
     *
     * On PostgreSQL each piece takes only rows no one else holds (`FOR UPDATE SKIP LOCKED`): it never
     * waits for a row, so it cannot deadlock with a revocation (or another clean-up) that holds some
     * of its rows and waits for others. A row skipped is deleted by a later piece or run. One wait
     * is left: deleting an expired refresh token sets its successor's `parent_id` to NULL (the foreign
     * key's ON DELETE SET NULL), and a revocation may hold that successor, still live. Revocations take
     * no dead row (`revokeWhere`), so that wait closes no cycle by itself; two such successors of one
     * user, each held by one side and wanted by the other, do, rarely. PostgreSQL then aborts one
     * side, and both run again (`retryOnConflict`).
     */
    async deleteDead(now: number, batch: number = CLEANUP_BATCH): Promise<CleanupCounts> {
      const ended = now - REVOKE_MARGIN_MS;
      // SQLite has no row locks (one writer at a time) and no FOR UPDATE.
      const onPostgres = db.getExecutor().adapter instanceof PostgresAdapter;
      const unlocked = <Q extends { forUpdate(): Q; skipLocked(): Q }>(select: Q): Q => (onPostgres ? select.forUpdate().skipLocked() : select);
      const accessTokens = await inPieces(batch, () =>
        db
          .deleteFrom('access_tokens')
          .where('id', 'in', unlocked(db.selectFrom('access_tokens').select('id').where((eb) => eb.or([eb('expires_at', '<=', ended), eb('revoked_at', 'is not', null)])).limit(batch)))
          .executeTakeFirst(),
      );
      const refreshTokens = await inPieces(batch, () =>
        db
          .deleteFrom('refresh_tokens')
          .where(
            'id',
            'in',
            unlocked(
              db
                .selectFrom('refresh_tokens')
                .select('id')
                .where((eb) => eb.or([eb('expires_at', '<=', ended), eb('family_expires_at', '<=', ended), eb('revoked_at', 'is not', null)]))
                .limit(batch),
            ),
          )
          .executeTakeFirst(),
      );
      const passwordResets = await inPieces(batch, () =>
        db
          .deleteFrom('password_resets')
          .where(
            'token_hash',
            'in',
            unlocked(db.selectFrom('password_resets').select('token_hash').where((eb) => eb.or([eb('expires_at', '<=', ended), eb('used_at', 'is not', null)])).limit(batch)),
          )
          .executeTakeFirst(),
      );
      return { accessTokens, refreshTokens, passwordResets };
    },
  };
}

/**
 * How far apart the clocks of two instances may be while a revocation still ends everything either
 * accepts: a revocation also marks the tokens that expired up to this long ago on its clock (one
 * that expired a second ago there is live on an instance two seconds behind), and the clean-up
 * deletes an unrevoked token only this long after its end, so that on one clock the two take
 * disjoint rows (across clocks the clean-up still waits for no row, see `deleteDead`). Five minutes:
 * far beyond the 1 s that `livecomponents doctor --connect` tolerates in its clock check, so a clock
 * drifting or stepped back by NTP is covered long before anyone notices. The cost: dead rows stay
 * five minutes longer, and a revocation also marks (and counts) the tokens that ended in those minutes.
 */
export const REVOKE_MARGIN_MS = 5 * 60_000;

/**
 * Rows one clean-up statement deletes at most. One DELETE of a whole backlog (millions of dead
 * tokens after an outage, or a clean-up left off) outran PostgreSQL's statement timeout, rolled back,
 * and did the same at every run: the table only grew. Pieces of this size take milliseconds each.
 */
export const CLEANUP_BATCH = 5_000;

/**
 * Runs `deletePiece` (a DELETE of at most `batch` rows) until a piece comes back short; resolves the
 * rows deleted in all. Between pieces requests get their turn: SQLite's driver blocks the event loop
 * while a statement runs.
 */
async function inPieces(batch: number, deletePiece: () => Promise<{ numDeletedRows: bigint }>): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = Number((await retryOnConflict(deletePiece)).numDeletedRows);
    total += deleted;
    if (deleted < batch) return total;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * How often `retryOnConflict` runs its work in all. The deadlock left between the clean-up and a
 * revocation (see `deleteDead`) is rare; two in a row for the same work are rarer still.
 */
const CONFLICT_ATTEMPTS = 3;

/**
 * Runs `work` (one statement or one whole transaction, which PostgreSQL rolled back whole) again
 * while it fails as the victim of a deadlock or a serialization failure, at most `CONFLICT_ATTEMPTS`
 * times in all. The user's request (a sign-out, a reuse's revocation, a reset) must not answer 500
 * and leave its tokens live because the clean-up ran at the same moment.
 */
async function retryOnConflict<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= CONFLICT_ATTEMPTS || !isConflict(error)) throw error;
    }
  }
}

/** PostgreSQL aborted the transaction to let another through: deadlock (`40P01`) or serialization failure (`40001`). */
function isConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/** A FOREIGN KEY constraint failed: SQLite (`SQLITE_CONSTRAINT_FOREIGNKEY`) or PostgreSQL (`23503`). */
function isForeignKeyViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503';
}

/** A UNIQUE constraint failed: SQLite (`SQLITE_CONSTRAINT_UNIQUE`) or PostgreSQL (`23505`). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}
