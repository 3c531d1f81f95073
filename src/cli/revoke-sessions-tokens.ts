/**
 * `livecomponents revoke-sessions`: the tokens in the SQL database, revoked (or, dry, counted) user by
 * user under each user's lock, as logout-all does (`revokeUsers`, src/auth/repository.ts).
 */
import type { BulkRevoked, createAuthRepository } from '../auth/repository.js';
import type { Clock } from '../core/clock.js';
import type { SessionTarget } from './revoke-sessions-session-keys.js';
import { stopIfAsked, type StopCheck } from './revoke-sessions-stop.js';

/** The tokens revoked so far, and how many transactions (pieces) committed them. */
export type TokenCounts = BulkRevoked & { pieces: number };

export function emptyTokenCounts(): TokenCounts {
  return { accessTokens: 0, webSignIns: 0, refreshTokens: 0, passwordResets: 0, pieces: 0 };
}

/** Users revoked per transaction: their rows are locked for its few milliseconds. */
const USERS_PER_PIECE = 500;

/**
 * Every user in pieces of `USERS_PER_PIECE` (one transaction each), or the one user, counted into
 * `total` as each piece commits (`pieces`: how many did); `stop` is asked before each piece.
 */
export async function revokeTokens(
  repo: ReturnType<typeof createAuthRepository>,
  target: SessionTarget,
  clock: Clock,
  dryRun: boolean,
  total: TokenCounts,
  stop: StopCheck,
): Promise<void> {
  let after = '';
  for (;;) {
    stopIfAsked(stop);
    const ids = target.all ? await repo.userIdsAfter(after, USERS_PER_PIECE) : [target.userId];
    const piece = await repo.revokeUsers(ids, clock.now(), dryRun);
    total.accessTokens += piece.accessTokens;
    total.webSignIns += piece.webSignIns;
    total.refreshTokens += piece.refreshTokens;
    total.passwordResets += piece.passwordResets;
    total.pieces++;
    if (!target.all || ids.length < USERS_PER_PIECE) return;
    after = ids[ids.length - 1] as string;
  }
}
