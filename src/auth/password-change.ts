/**
 * A signed-in user changes their password (`POST /api/v1/auth/change-password`, beyond PROTOCOL §4;
 * OWASP ASVS 5.0 6.2.2, 6.2.3, 7.4.3, 7.5.1, 6.3.7). Until it, the only way to a new password was
 * the reset mail: a user who suspected their password had leaked could not replace it without
 * giving the mailbox the last word, and nothing asked for the current password.
 *
 * In order: the account's budget of changes (`PASSWORD_CHANGE_PER_ACCOUNT`: each attempt guesses
 * the current password, so a stolen access token buys at most that many guesses, whatever the
 * clients); the input (the new password passes the registration policy against the account's email,
 * and differs from the current one); the current password, verified with argon2 against the hash the
 * bearer's grant read; the app's `isPasswordRejected` hook; then the new hash is written only while
 * the password is still the one verified (a reset or another change committed meanwhile wins), and
 * every access token, refresh token, browser sign-in and outstanding reset link of the user is
 * revoked — the caller's own too: the answer expires the refresh cookie and the client signs in
 * again with the new password. The trusted devices are forgotten, and the browser that made the
 * change is trusted afresh (as after a reset: the shared sign-in budget may be under attack). A
 * mail tells the owner their password changed (after the answer; a relay failure is reported to
 * `onBackgroundError`, the change stands). The notice goes through the auth service's background
 * tasks (`notify`, as the reset's does): bounded by `maxBackgroundTasks`, and waited for by `idle()`
 * and so at shutdown; built by the service (`createAuthService`'s `passwordChange`) for that reason.
 */
import { LiveError } from '../core/errors.js';
import { HEADERS } from '../core/wire.js';
import type { SecurityEvent } from '../ops/security-events.js';
import { rateLimitRule, setRateLimitHeaders } from '../pipeline/rate-limit/index.js';
import type { RequestInfo } from '../pipeline/types.js';
import { passwordInvalid, readPasswordChange } from './input.js';
import { authKeys } from './keys.js';
import { PASSWORD_CHANGE_PER_ACCOUNT } from './limits.js';
import { askPasswordHook, PASSWORD_BREACHED } from './password-policy.js';
import type { AccessGrant, UserRow } from './repository.js';
import type { AuthSettings } from './settings.js';
import { createTrustedDevices, devicesOutcome } from './trusted-devices.js';

/** On success, `user` is the account with its new hash (for a fresh browser sign-in, `web.ts`). */
export type PasswordChangeResult = { readonly type: 'ok'; readonly device: string | null; readonly user: UserRow } | { readonly type: 'error'; readonly error: LiveError };

export interface PasswordChange {
  /** Changes the password of `grant`'s user; on success every sign-in of the user is revoked. */
  change(grant: AccessGrant, body: unknown, request: RequestInfo | undefined): Promise<PasswordChangeResult>;
  /** As `change`, for a user signed in otherwise: a browser sign-in of `/login` (`web.ts`). */
  changeFor(user: UserRow, body: unknown, request: RequestInfo | undefined): Promise<PasswordChangeResult>;
}

/**
 * Queues the "Your password was changed" notice (`passwordChangedMail`) of user `userId` to `email`,
 * changed at `at`, as the service's background work (`createAuthService`): after the answer,
 * counted by `idle()`; a full queue or a relay failure goes to `onBackgroundError`.
 */
export type PasswordChangedNotice = (userId: string, email: string, at: number) => void;

/** The mail that tells the owner (ASVS 6.3.7). Names no password, token or address of the client. */
export function passwordChangedMail(to: string, at: number): { to: string; subject: string; text: string } {
  return {
    to,
    subject: 'Your password was changed',
    text:
      `The password of your account was changed on ${new Date(at).toISOString()} (UTC), ` +
      `and every device signed in to it was signed out.\n\n` +
      `If it was you, there is nothing more to do.\n` +
      `If it was not you, ask for a password reset link on the sign-in page at once: it goes only to this address.\n`,
  };
}

/** `notify`: the auth service's notice of a changed password (`PasswordChangedNotice`). */
export function createPasswordChange(s: AuthSettings, notify: PasswordChangedNotice): PasswordChange {
  const { repo, events, clock, hasher } = s;
  const rule = rateLimitRule(PASSWORD_CHANGE_PER_ACCOUNT.limit, PASSWORD_CHANGE_PER_ACCOUNT.windowSeconds, 'sliding-window', 'change-password-account');
  const { rememberDevice, forgetDevices } = createTrustedDevices(s);
  const emit = (event: SecurityEvent['event'], level: SecurityEvent['level'], description: string, request: RequestInfo | undefined) =>
    events.emit({ event, level, description, request });
  const error = (e: LiveError): PasswordChangeResult => ({ type: 'error', error: e });

  /** One step of the account's budget; the 429 (shaped as the sign-in's) when it is spent. */
  async function limited(userId: string, request: RequestInfo | undefined): Promise<PasswordChangeResult | null> {
    const now = clock.now();
    const step = await s.store.rateLimit(authKeys.passwordChangeAttempts(userId), rule.policy, now);
    if (step.allowed) return null;
    const { limit } = rule.policy;
    const retryAfter = Math.max(1, Math.ceil(step.retryAfterMs / 1000));
    emit('excess_rate_limit_exceeded', 'WARN', `Password change refused: user ${userId} tried ${limit} within ${rule.windowSeconds} s`, request);
    const headers: Record<string, string> = { [HEADERS.retryAfter]: String(retryAfter) };
    setRateLimitHeaders(headers, rule, step, now);
    return error(new LiveError('RATE_LIMIT_EXCEEDED', { fields: { retry_after: retryAfter, limit, window: rule.windowSeconds }, headers }));
  }

  function refused(userId: string, why: string, request: RequestInfo | undefined): PasswordChangeResult {
    emit('authn_password_change_fail', 'WARN', `Password change of user ${userId} refused: ${why}`, request);
    return error(new LiveError('INVALID_CREDENTIALS', { message: 'The current password is incorrect.' }));
  }

  async function changeFor(user: UserRow, body: unknown, request: RequestInfo | undefined): Promise<PasswordChangeResult> {
    const overBudget = await limited(user.id, request);
    if (overBudget !== null) return overBudget;
    const input = readPasswordChange(body, user.email);
    if (!input.ok) return error(input.error);
    const check = await hasher.verify(user.password_hash, input.value.current);
    if (!check.ok) return refused(user.id, 'wrong current password', request);
    if (s.isPasswordRejected !== null && (await askPasswordHook(s.isPasswordRejected, input.value.password, s.passwordCheckTimeoutMs, s.onPasswordCheckError))) {
      return error(passwordInvalid(PASSWORD_BREACHED, 'new_password'));
    }
    const passwordHash = await hasher.hash(input.value.password);
    const now = clock.now();
    // One transaction under the user's lock (`changePassword`): the new hash, only over the one just
    // verified (a reset or another change committed meanwhile stands), and every grant, browser
    // sign-in and unspent reset link revoked with it, or none of it. A sign-in that verified the old
    // password and records itself after it is refused by its own check of the hash (`createGrant`,
    // `createWebSession`); one recorded before is revoked here.
    const revoked = await repo.changePassword(user.id, user.password_hash, passwordHash, now);
    if (revoked === null) return refused(user.id, 'the password changed while it was checked', request);
    const forgotten = await forgetDevices(user.email);
    emit('authn_password_change', 'INFO', `Password of user ${user.id} changed by the user (current password verified)`, request);
    emit(
      'authn_token_revoked',
      'INFO',
      `Password of user ${user.id} changed: ${revoked.accessTokens} access grants, ${revoked.webSignIns} browser sign-ins, ` +
        `${revoked.refreshTokens} refresh tokens and ${revoked.passwordResets} reset links revoked${devicesOutcome(forgotten)}`,
      request,
    );
    emit('session_logout', 'INFO', `User ${user.id} ended every session (password changed)`, request);
    notify(user.id, user.email, now);
    return { type: 'ok', device: forgotten ? await rememberDevice(user.email, null) : null, user: { ...user, password_hash: passwordHash } };
  }

  return { change: (grant, body, request) => changeFor(grant.user, body, request), changeFor };
}
