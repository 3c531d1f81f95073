/**
 * `livecomponents revoke-sessions`: the tokens in the SQL database, revoked (or, dry, counted) user by
 * user under each user's lock, as logout-all does (`revokeUsers`, src/auth/repository.ts).
 */
import type { BulkRevoked, createAuthRepository } from '../auth/repository.js';
import type { Clock } from '../core/clock.js';
import { stopIfAsked, type StopCheck } from './revoke-sessions-stop.js';

/** The tokens revoked so far, and how many transactions (pieces) committed them. */
export type TokenCounts = BulkRevoked & { pieces: number };

export function emptyTokenCounts(): TokenCounts {
  return { accessTokens: 0, webSignIns: 0, refreshTokens: 0, passwordResets: 0, pieces: 0 };
}

/**
 * Whose tokens to revoke: every user's, or those of the user ids `userIds` resolves when the stage
 * begins (one user's id as its rows hold it; with `--orphans`, the ids of token rows left without an
 * account).
 */
export type TokenTarget = { readonly all: true } | { readonly all: false; readonly userIds: () => Promise<readonly string[]> };

/** Users revoked per transaction: their rows are locked for its few milliseconds. */
const USERS_PER_PIECE = 500;

/**
 * Every user in pieces of `USERS_PER_PIECE` (one transaction each), or the ids of `target`, counted
 * into `total` as each piece commits (`pieces`: how many did; at least one, also for no id, so a run
 * past this stage is never taken for one that changed nothing); `stop` is asked before each piece.
 */
export async function revokeTokens(
  repo: ReturnType<typeof createAuthRepository>,
  target: TokenTarget,
  clock: Clock,
  dryRun: boolean,
  total: TokenCounts,
  stop: StopCheck,
): Promise<void> {
  const add = (piece: BulkRevoked) => {
    total.accessTokens += piece.accessTokens;
    total.webSignIns += piece.webSignIns;
    total.refreshTokens += piece.refreshTokens;
    total.passwordResets += piece.passwordResets;
    total.pieces++;
  };
  if (!target.all) {
    stopIfAsked(stop);
    const ids = await target.userIds();
    for (let from = 0; ; from += USERS_PER_PIECE) {
      stopIfAsked(stop);
      add(await repo.revokeUsers(ids.slice(from, from + USERS_PER_PIECE), clock.now(), dryRun));
      if (from + USERS_PER_PIECE >= ids.length) return;
    }
  }
  let after = '';
  for (;;) {
    stopIfAsked(stop);
    const ids = await repo.userIdsAfter(after, USERS_PER_PIECE);
    add(await repo.revokeUsers(ids, clock.now(), dryRun));
    if (ids.length < USERS_PER_PIECE) return;
    after = ids[ids.length - 1] as string;
  }
}
