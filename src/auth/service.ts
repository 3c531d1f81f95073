/**
 * The auth service (PROTOCOL §4), independent of HTTP: accounts, sign-in with access tokens and
 * rotating refresh tokens, sign-out, password recovery, and the browser sign-ins of `/login`.
 * Expected failures are values; only broken infrastructure throws.
 *
 * Security properties, each tested in `test/auth/`:
 * - an unknown email and a wrong password take the same path (one user lookup, one argon2
 *   verification — against a dummy hash for the unknown email —, one failure count, one event)
 *   and get the same answer;
 * - a refresh token is rotated by one conditional UPDATE in a transaction, so of two concurrent
 *   refreshes with one token exactly one succeeds;
 * - presenting a refresh token that was already rotated revokes its whole family (RFC 9700
 *   §4.14.2) and logs `authn_token_reuse`, with how long after its rotation it came back. The loser
 *   of a race counts as such a reuse too (see docs/auth.md: front ends serialise their refreshes);
 * - sign-out does not need a live access token: the refresh cookie names the family to revoke; a
 *   rotated one is a reuse there too (same revocation, same CRITICAL `authn_token_reuse`);
 * - with `Secure` cookies a live refresh token rotates only in a request carrying its companion
 *   cookie (cookie.ts), which a sibling subdomain cannot set: a token it planted is refused
 *   (`malicious_csrf`), and nothing is rotated or revoked;
 * - a reset token is looked up before the new password is hashed: an unknown one costs no argon2;
 * - a new password (registration, reset) passes the policy of `password-policy.ts` (not a common
 *   password, not built on the account's email, not refused by the app's `isPasswordRejected`);
 *   sign-in does not apply it;
 * - forgot-password answers before it even looks the email up: the lookup, the token and the mail
 *   happen in the background, so the answer and its timing cannot depend on the account existing;
 *   nor do the metrics: the events of that work (a reset token issued, a mail withheld) are logged
 *   but not counted (`emitUncounted`).
 */
import { randomUUID } from 'node:crypto';
import { LiveError, type ErrorCode } from '../core/errors.js';
import { HEADERS } from '../core/wire.js';
import type { SecurityEvent } from '../ops/security-events.js';
import { rateLimitRule, setRateLimitHeaders } from '../pipeline/rate-limit/index.js';
import type { RequestInfo } from '../pipeline/types.js';
import { parseSessionUserId } from './accounts.js';
import { createPasswordChange, passwordChangedMail } from './password-change.js';
import { passwordInvalid, readCredentials, readEmailOnly, readRegistration, readReset } from './input.js';
import { authKeys } from './keys.js';
import { askPasswordHook, PASSWORD_BREACHED, passwordRefusal } from './password-policy.js';
import type { AccessGrant, RefreshRow, TokenGrant, UserRow } from './repository.js';
import { resolveSettings, type AuthServiceOptions } from './settings.js';
import { createTrustedDevices, devicesOutcome } from './trusted-devices.js';
import { acceptedBinding, bearerToken, bindingAccepts, hashToken, isTokenShaped, newToken, UNBOUND } from './tokens.js';

export type { AuthServiceOptions } from './settings.js';

/** The user as the API shows it. */
export interface PublicUser {
  id: string;
  email: string;
  name: string | null;
  /** ISO 8601. */
  created_at: string;
}

/** Tokens of a sign-in or a rotation. The refresh token goes only into its cookie. */
export interface IssuedTokens {
  accessToken: string;
  /** Seconds. */
  expiresIn: number;
  refreshToken: string;
  /** Seconds the refresh cookie may live (the token's own expiry, capped by its family's). */
  refreshMaxAge: number;
  /** The refresh token's companion cookie (cookie.ts), `null` without `Secure` cookies. */
  binding: string | null;
}

export type Failure = { readonly type: 'error'; readonly error: LiveError };
export type Result<T> = ({ readonly type: 'ok' } & T) | Failure;

type Request = RequestInfo | undefined;

export type AuthService = ReturnType<typeof createAuthService>;

export function createAuthService(options: AuthServiceOptions) {
  const s = resolveSettings(options);
  const accountRule = rateLimitRule(s.loginPerAccount.limit, s.loginPerAccount.windowSeconds, 'sliding-window', 'login-account');
  const deviceRule = rateLimitRule(s.loginPerDevice.limit, s.loginPerDevice.windowSeconds, 'sliding-window', 'login-device');
  const { repo, events, clock, hasher } = s;
  const pending = new Set<Promise<void>>();

  const emit = (event: SecurityEvent['event'], level: SecurityEvent['level'], description: string, request: Request) =>
    events.emit({ event, level, description, request });
  /**
   * An event only an existing account can cause, in a flow that answers every email alike: logged
   * in full for the operator, not counted in the metrics (`SecurityEvent.counted`), whose counters
   * anyone who reads /metrics or a dashboard would otherwise watch to tell who has an account.
   */
  const emitUncounted = (event: SecurityEvent['event'], level: SecurityEvent['level'], description: string, request: Request) =>
    events.emit({ event, level, description, request, counted: false });
  const fail = (code: ErrorCode): Failure => ({ type: 'error', error: new LiveError(code) });

  /**
   * Runs `task` after the answer, unless `maxBackgroundTasks` are still running: a relay that
   * hangs would otherwise let a flood of requests hold memory without bound. Returns whether it
   * runs; the caller answers the same either way.
   */
  function background(task: () => Promise<void>): boolean {
    if (pending.size >= s.maxBackgroundTasks) return false;
    // Started on the next turn of the event loop, once the answer is written: called at once, the
    // task ran up to its first pending I/O before the answer, and on SQLite (synchronous queries)
    // that was the lookup, the token's insert and the mail's hand-over for an existing account only,
    // lengthening its answer and its http_request_duration_seconds.
    const run = new Promise<void>((resolve) => setImmediate(resolve)).then(task).catch((error: unknown) => s.onBackgroundError(error));
    const tracked = run.finally(() => pending.delete(tracked));
    pending.add(tracked);
    return true;
  }

  /**
   * Tells the owner their password changed (ASVS 6.3.7), after a reset or a change: the notice goes
   * out as a background task, so `idle()` (and the shutdown) waits for it and `maxBackgroundTasks`
   * bounds it; a full queue or a relay failure goes to `onBackgroundError`, the new password stands.
   */
  function noticePasswordChanged(userId: string, email: string, at: number): void {
    const mail = passwordChangedMail(email, at);
    if (!background(() => s.mail.send(mail))) {
      s.onBackgroundError(new Error(`Password-changed notice for user ${userId} not sent: ${s.maxBackgroundTasks} background tasks are still running`));
    }
  }

  /** Resolves when `pending` is empty, or after `deadlineMs` with how many tasks were still running. */
  async function idle(deadlineMs = Infinity): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => {
      if (deadlineMs !== Infinity) timer = setTimeout(() => resolve('late'), deadlineMs);
    });
    try {
      while (pending.size > 0) {
        // Tasks started meanwhile are waited for too: the loop takes a fresh snapshot each round.
        const settled = Promise.allSettled([...pending]).then(() => 'settled' as const);
        if ((await Promise.race([settled, deadline])) === 'late') return pending.size;
      }
      return 0;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The app's `isPasswordRejected` on a new password that passed the built-in checks: a refusal,
   * or `null` (also when there is no hook, or it failed: fail-open, see `askPasswordHook`).
   */
  async function hookRefusal(password: string): Promise<Failure | null> {
    if (s.isPasswordRejected === null) return null;
    const rejected = await askPasswordHook(s.isPasswordRejected, password, s.passwordCheckTimeoutMs, s.onPasswordCheckError);
    return rejected ? { type: 'error', error: passwordInvalid(PASSWORD_BREACHED) } : null;
  }

  function grantFor(userId: string, familyId: string, familyExpiresAt: number, parentId: string | null, now: number) {
    const accessToken = newToken(s.random);
    const refreshToken = newToken(s.random);
    // Its companion cookie: the token rotates only with it (cookie.ts). Only its hash is stored.
    const binding = s.bindRefreshTokens ? newToken(s.random) : null;
    // Neither token outlives the family's absolute end (30 days after the sign-in by default).
    const refreshExpiresAt = Math.min(now + s.refreshTtlMs, familyExpiresAt);
    const accessExpiresAt = Math.min(now + s.accessTtlMs, familyExpiresAt);
    const grant: TokenGrant = {
      userId,
      familyId,
      accessHash: hashToken(accessToken),
      accessExpiresAt,
      refreshHash: hashToken(refreshToken),
      refreshExpiresAt,
      familyExpiresAt,
      parentId,
      bindingHash: binding === null ? UNBOUND : hashToken(binding),
    };
    const tokens: IssuedTokens = {
      accessToken,
      // Rounded up: a token issued in its family's last second still lives (Max-Age=0 would make the
      // browser delete the cookie at once while the token stays valid and its parent is spent).
      expiresIn: Math.ceil((accessExpiresAt - now) / 1000),
      refreshToken,
      refreshMaxAge: Math.ceil((refreshExpiresAt - now) / 1000),
      binding,
    };
    return { grant, tokens };
  }

  /**
   * One step of the sign-in limit an attempt on `email` counts against: the device's own
   * (`LOGIN_PER_DEVICE`) when `device` is a token trusted for this email (`device.ts`), else the
   * per-account one everyone shares (`LOGIN_PER_ACCOUNT`). Taken before the email is even looked up,
   * so an unknown email is counted and refused exactly like a known one: the same 429
   * (`RATE_LIMIT_EXCEEDED`, `retry_after`, `limit`, `window`, `Retry-After`, and the rate-limit
   * headers of the policy, replacing the client's) as the per-client limits, with no lookup and no
   * argon2 work either way.
   */
  async function signInLimited(email: string, device: string | null, request: Request): Promise<Failure | null> {
    const now = clock.now();
    const rule = device === null ? accountRule : deviceRule;
    const key = device === null ? authKeys.loginAttempts(email) : authKeys.deviceAttempts(email, device);
    const step = await s.store.rateLimit(key, rule.policy, now);
    if (step.allowed) return null;
    const { limit } = rule.policy;
    const { windowSeconds } = rule;
    const retryAfter = Math.max(1, Math.ceil(step.retryAfterMs / 1000));
    const which = device === null ? 'per-account limit' : 'per-device limit of a browser that signed in to it before';
    emit('excess_rate_limit_exceeded', 'WARN', `Sign-in refused: ${limit} attempts on one email within ${windowSeconds} s (${which})`, request);
    // The account's policy, replacing the client's (merged before these): the client's said
    // "4 of 5 left", and a client following them would retry at once.
    const headers: Record<string, string> = { [HEADERS.retryAfter]: String(retryAfter) };
    setRateLimitHeaders(headers, rule, step, now);
    return { type: 'error', error: new LiveError('RATE_LIMIT_EXCEEDED', { fields: { retry_after: retryAfter, limit, window: windowSeconds }, headers }) };
  }

  const { trustedDevice, rememberDevice, forgetDevices } = createTrustedDevices(s);

  /** Clears the email's per-account attempts and run of failures; a store error is reported, registration stands. */
  async function forgetSignInCounts(email: string): Promise<void> {
    try {
      // One hash tag (`{a:…login:email}`): one slot on Redis Cluster, one round trip.
      await s.store.batch([
        { op: 'delete', key: authKeys.loginAttempts(email) },
        { op: 'delete', key: authKeys.loginFailures(email) },
      ]);
    } catch (error) {
      s.onBackgroundError(error);
    }
  }

  /**
   * Checks a password for an email, the same way whether the account exists or not, within the
   * sign-in limits (`signInLimited`: a 429 then, even with the right password). `device` is the
   * browser's device cookie, if any. Logs `authn_login_fail`, and `authn_login_fail_max` at the Nth
   * failure in a row for one email within the window; not `authn_login_success`, which `signedIn`
   * logs once the sign-in is recorded (its grant or web session written). A wrong password is
   * `INVALID_CREDENTIALS`. On success, `trustedDevice` is the device cookie when it is trusted for
   * this email (else `null`), for `rememberDevice` once the sign-in is recorded.
   */
  async function verifyCredentials(email: string, password: string, request: Request, device?: string): Promise<Result<{ user: UserRow; trustedDevice: string | null }>> {
    const trusted = await trustedDevice(email, device);
    const limited = await signInLimited(email, trusted, request);
    if (limited !== null) return limited;
    const user = await repo.userByEmail(email);
    const check = user === undefined ? { ok: await hasher.verifyDummy(password), needsRehash: false } : await hasher.verify(user.password_hash, password);
    const failuresKey = authKeys.loginFailures(email);
    if (user === undefined || !check.ok) {
      const step = await s.store.rateLimit(failuresKey, { algorithm: 'sliding-window', limit: s.failMax.failures, windowMs: s.failMax.windowMs }, clock.now());
      emit('authn_login_fail', 'WARN', 'Sign-in failed: unknown email or wrong password', request);
      if (step.allowed && step.remaining === 0) {
        const who = user === undefined ? 'an email with no account' : `user ${user.id}`;
        emit('authn_login_fail_max', 'WARN', `${s.failMax.failures} failed sign-ins in a row for ${who} within ${s.failMax.windowMs / 1000} s`, request);
      }
      return fail('INVALID_CREDENTIALS');
    }
    // A success ends the run of failures. Not the per-account count, which takes every attempt in its
    // window, successes included: clearing it on a success only an existing account can have made its
    // 429 tell which addresses have an account in use (99 attempts, the owner signs in, 2 more: 401
    // 401 against 401 429 for no account).
    await s.store.delete(failuresKey);
    let verified = user;
    if (check.needsRehash) {
      const rehashed = await hasher.hash(password);
      if (await repo.rehashPassword(user.id, user.password_hash, rehashed, clock.now())) verified = { ...user, password_hash: rehashed };
    }
    return { type: 'ok', user: verified, trustedDevice: trusted };
  }

  /**
   * `authn_login_success`, once the sign-in's grant or web session is written: logged when the
   * password checked out, a sign-in that then failed (a read-only standby, the database down: 503; a
   * reset committed meanwhile: `authn_login_fail`) left a success in the audit log for a sign-in
   * that never happened.
   */
  function signedIn(user: UserRow, request: Request): void {
    emit('authn_login_success', 'INFO', `User ${user.id} signed in`, request);
  }

  /** The sign-in's grant was refused: the password changed (a reset) while it was being checked. */
  function passwordChangedMeanwhile(user: UserRow, request: Request): Failure {
    emit('authn_login_fail', 'WARN', `Sign-in of user ${user.id} refused: the password changed while it was checked`, request);
    return fail('INVALID_CREDENTIALS');
  }

  /** Tokens of a new family, or `null` when the user's password is no longer the one verified. */
  async function issueTokens(user: UserRow, request: Request): Promise<IssuedTokens | null> {
    const now = clock.now();
    const familyId = randomUUID();
    const { grant, tokens } = grantFor(user.id, familyId, now + s.familyTtlMs, null, now);
    if (!(await repo.createGrant(grant, now, user.password_hash))) return null;
    signedIn(user, request);
    emit('session_created', 'INFO', `User ${user.id} started token family ${familyId}`, request);
    emit('authn_token_created', 'INFO', `Access and refresh token issued to user ${user.id} (family ${familyId})`, request);
    return tokens;
  }

  /**
   * A rotated refresh token came back: someone holds a copy. Revokes its whole family and logs
   * `authn_token_reuse` (CRITICAL, what the `LiveComponentsRefreshTokenReuse` alert watches), with
   * how long after its rotation it came back, whichever endpoint it came to: a copy replayed at
   * `/logout` ends the victim's sign-in as surely as one replayed at `/refresh-token`, and must show.
   *
   * The family is revoked by `revokeFamily` under the user's lock — the one mechanism every
   * revocation uses (logout, logout-all, reset). A rotation of the family by someone else between the
   * detection and the revocation is no gap: it either committed before `revokeFamily` took the lock
   * (its successor is revoked) or waits for it (and finds its token revoked). Detecting the reuse
   * inside `rotateRefresh` would only move the same locked revocation there, at the cost of a second
   * revocation path.
   */
  async function revokeAfterReuse(row: RefreshRow & { used_at: number }, request: Request): Promise<void> {
    const now = clock.now();
    const revoked = await repo.revokeFamily(row.user_id, row.family_id, now);
    // The delay tells a second tab or a retried lost answer (milliseconds, seconds) from a copy
    // replayed later; the event is CRITICAL either way (docs/auth.md, Reuse).
    emit(
      'authn_token_reuse',
      'CRITICAL',
      `Rotated refresh token of user ${row.user_id} presented again, ${sinceRotation(now - row.used_at)} after it was rotated: ` +
        `family ${row.family_id} revoked (${revoked.refreshTokens} refresh, ${revoked.accessTokens} access tokens)`,
      request,
    );
    if (revoked.accessTokens + revoked.refreshTokens > 0) {
      emit('authn_token_revoked', 'WARN', `Token family ${row.family_id} of user ${row.user_id} revoked after reuse`, request);
    }
  }

  /**
   * A refresh token that did not rotate: reuse when it was rotated before (whatever companion came
   * with it: a rotated token is spent, and a copy replayed without one must still end its family),
   * `unbound` when it is live but the request lacks its companion (`binding`: `acceptedBinding`),
   * else merely invalid.
   */
  async function refused(row: RefreshRow | undefined, request: Request, binding: string | null, now: number): Promise<Failure> {
    const ended = row !== undefined && (row.revoked_at !== null || row.expires_at <= now || row.family_expires_at <= now);
    if (row !== undefined && wasRotated(row)) await revokeAfterReuse(row, request);
    else if (row !== undefined && !ended && !bindingAccepts(row.binding_hash, binding)) unbound(row, request);
    else if (row !== undefined && ended) usedAfterEnd(row, request);
    return fail('REFRESH_TOKEN_INVALID');
  }

  /**
   * A refresh token of a sign-in that ended, never rotated, presented again (OWASP ASVS 5.0 16.3.1):
   * revoked (a logout, logout-all, reset or password change) or expired (its own end or its
   * family's). A browser back after a sign-out, or a copy kept by someone else: nothing is
   * revoked (nothing is left to), the event says which, with the user and the family, never the token.
   * A token of no family (unknown, malformed, cleaned up) logs nothing: anyone can send one.
   */
  function usedAfterEnd(row: RefreshRow, request: Request): void {
    const why = row.revoked_at !== null ? 'it was revoked' : 'it expired';
    emit('session_use_after_expire', 'WARN', `Refresh token of user ${row.user_id} (family ${row.family_id}) refused: ${why}`, request);
  }

  /**
   * A live refresh token without its companion cookie: a token planted by a sibling subdomain in a
   * browser with no sign-in of its own (a login CSRF: the page would be signed in to the planter's
   * account), or one issued over plain HTTP and presented to this service. Nothing rotates, nothing is
   * revoked (the planter's family is no victim's); the CSRF check's event, counted by its alert.
   */
  function unbound(row: RefreshRow, request: Request): void {
    const why = row.binding_hash === UNBOUND ? 'it was issued over plain HTTP, without one' : 'the request lacks it';
    const text = `Refresh token of user ${row.user_id} (family ${row.family_id}) refused: it rotates only with its companion cookie, and ${why}; nothing rotated or revoked`;
    emit('malicious_csrf', 'WARN', text, request);
  }

  /** The cookie-only sign-out of a token that was never rotated (live, revoked or expired). */
  async function revokeWithCookie(row: RefreshRow, request: Request): Promise<void> {
    const revoked = await repo.revokeFamily(row.user_id, row.family_id, clock.now());
    const state = row.revoked_at !== null ? 'a revoked' : 'its';
    emit(
      'authn_token_revoked',
      'INFO',
      `User ${row.user_id} signed out with ${state} refresh cookie (no live access token): ${revoked.accessTokens} access and ${revoked.refreshTokens} refresh tokens revoked`,
      request,
    );
  }

  return {
    /**
     * Resolves when no background work (reset mails, password-changed notices) is left, with 0; given a deadline in ms, at the
     * latest then, with the number of tasks still running (shutdown abandons them). For shutdown
     * and tests.
     */
    idle,

    /**
     * Whether refresh tokens are bound to their companion cookie (`secureCookies: true`): the refresh
     * cookie the routes use must carry the companion exactly then (`authRoutes` checks it).
     */
    bindsRefreshTokens: s.bindRefreshTokens,

    /**
     * `POST /change-password` (`password-change.ts`), on this service's settings and background
     * tasks: its notice is waited for by `idle()` and bounded by `maxBackgroundTasks`.
     */
    passwordChange: createPasswordChange(s, noticePasswordChanged),

    async register(body: unknown, request: Request): Promise<Result<{ user: PublicUser }>> {
      const input = readRegistration(body);
      if (!input.ok) return { type: 'error', error: input.error };
      const rejected = await hookRefusal(input.value.password);
      if (rejected !== null) return rejected;
      const passwordHash = await hasher.hash(input.value.password);
      const row = await repo.insertUser({ email: input.value.email, passwordHash, name: input.value.name }, clock.now());
      if (row === 'taken') return fail('EMAIL_TAKEN');
      // The device list is keyed by the email, not the id: one left by an account of this email that
      // an operator deleted in SQL (nothing else ends an account) made that person's browsers trusted
      // for this new one, each with a sign-in budget of its own. A sign-in of the new account racing
      // this delete loses only its browser's trust, which its next sign-in restores.
      await forgetDevices(row.email);
      // So are the sign-in counters (`signInLimited`, `authn_login_fail_max`), counted before the email
      // is looked up: attempts made on it before this account existed (on no account, or on a deleted
      // one) guessed at no password of this one, yet spent its budget (a 429 for up to an hour) and
      // named this user in `authn_login_fail_max` for failures not theirs. Clearing tells nothing
      // more than registration already does (EMAIL_TAKEN says whether the email has an account), and
      // only a successful insert gets here.
      await forgetSignInCounts(row.email);
      emit('user_created', 'INFO', `User ${row.id} registered`, request);
      return { type: 'ok', user: publicUser(row) };
    },

    verifyCredentials,

    /**
     * `device`: the browser's device cookie, if any; on success, `device` is the one to set, or `null`
     * when it could not be recorded (`rememberDevice`).
     */
    async login(body: unknown, request: Request, device?: string): Promise<Result<{ tokens: IssuedTokens; user: PublicUser; device: string | null }>> {
      const input = readCredentials(body);
      if (!input.ok) return { type: 'error', error: input.error };
      const verified = await verifyCredentials(input.value.email, input.value.password, request, device);
      if (verified.type === 'error') return verified;
      const { user } = verified;
      const tokens = await issueTokens(user, request);
      if (tokens === null) return passwordChangedMeanwhile(user, request);
      return { type: 'ok', tokens, user: publicUser(user), device: await rememberDevice(input.value.email, verified.trustedDevice) };
    },

    rememberDevice,

    /** `companion`: the request's companion cookie (cookie.ts `readBinding`), if any. */
    async refresh(refreshToken: string | undefined, request: Request, companion?: string): Promise<Result<{ tokens: IssuedTokens }>> {
      if (!isTokenShaped(refreshToken)) return fail('REFRESH_TOKEN_INVALID');
      const refreshHash = hashToken(refreshToken);
      const binding = acceptedBinding(s.bindRefreshTokens, companion);
      const now = clock.now();
      let tokens: IssuedTokens | undefined;
      const rotated = await repo.rotateRefresh(refreshHash, now, (row) => {
        const next = grantFor(row.user_id, row.family_id, row.family_expires_at, row.id, now);
        tokens = next.tokens;
        return next.grant;
      }, binding);
      if (rotated === null || tokens === undefined) return refused(await repo.refreshByHash(refreshHash), request, binding, now);
      emit('authn_token_created', 'INFO', `Refresh token of user ${rotated.user_id} rotated (family ${rotated.family_id})`, request);
      return { type: 'ok', tokens };
    },

    /** The live grant of an `Authorization` header, or `null`. */
    async authenticate(authorization: string | string[] | undefined): Promise<AccessGrant | null> {
      const token = bearerToken(authorization);
      if (token === null) return null;
      return (await repo.accessGrant(hashToken(token), clock.now())) ?? null;
    },

    /** Revokes the grant's access token and its whole refresh family. */
    async logout(grant: AccessGrant, request: Request): Promise<void> {
      const revoked = await repo.revokeFamily(grant.user.id, grant.familyId, clock.now());
      emit('authn_token_revoked', 'INFO', `User ${grant.user.id} signed out: ${revoked.accessTokens} access and ${revoked.refreshTokens} refresh tokens revoked`, request);
      emit('session_logout', 'INFO', `User ${grant.user.id} ended token family ${grant.familyId}`, request);
    },

    /**
     * Sign-out with the refresh cookie alone (no live access token: it expired, or the page lost
     * it). Revokes the whole family the cookie's token belongs to, whatever that token's state
     * (live, rotated, revoked, expired): whoever holds it could end the family at `/refresh-token`
     * anyway, by presenting it once more after a rotation. A rotated token is that very reuse, and
     * is logged as one (`revokeAfterReuse`): a stolen copy replayed here must raise the same alert.
     * A token of no family (malformed, unknown, cleaned up) revokes nothing and logs nothing.
     * Resolves whether it found a family.
     */
    async logoutWithRefresh(refreshToken: string, request: Request): Promise<boolean> {
      if (!isTokenShaped(refreshToken)) return false;
      const row = await repo.refreshByHash(hashToken(refreshToken));
      if (row === undefined) return false;
      if (wasRotated(row)) await revokeAfterReuse(row, request);
      else await revokeWithCookie(row, request);
      emit('session_logout', 'INFO', `User ${row.user_id} ended token family ${row.family_id}`, request);
      return true;
    },

    /** Revokes every token and every browser sign-in of the grant's user, and forgets its trusted devices (`forgetDevices`). */
    async logoutAll(grant: AccessGrant, request: Request): Promise<void> {
      const revoked = await repo.revokeUser(grant.user.id, clock.now());
      // After the commit, never instead of it: a store failure here leaves the sign-out done (`forgetDevices`).
      const forgotten = await forgetDevices(grant.user.email);
      emit(
        'authn_token_revoked',
        'INFO',
        `User ${grant.user.id} signed out everywhere: ${revoked.accessTokens} access grants and ${revoked.refreshTokens} refresh tokens revoked${devicesOutcome(forgotten)}`,
        request,
      );
      emit('session_logout', 'INFO', `User ${grant.user.id} ended every session`, request);
    },

    publicUser,

    /**
     * Always accepted (after the input check). The work happens after the answer: look the email
     * up, and only if it has an account, store a hashed single-use token and mail the link. With
     * `maxBackgroundTasks` requests still being worked on, the request is answered all the same and
     * dropped. A mail counts against `resetMailMax` when it is asked for, even if the relay then
     * fails: the store's rate limits have no refund, and deleting the key would reset the whole window.
     */
    forgotPassword(body: unknown, request: Request): Result<object> {
      const input = readEmailOnly(body);
      if (!input.ok) return { type: 'error', error: input.error };
      const { email } = input.value;
      const started = background(async () => {
        const user = await repo.userByEmail(email);
        if (user === undefined) return;
        const now = clock.now();
        const { perClient, perAccount, windowMs } = s.resetMailMax;
        /** Counts one mail against `key`'s budget; false (and logged) when it is spent. */
        const withinBudget = async (key: string, limit: number, whose: string): Promise<boolean> => {
          if ((await s.store.rateLimit(key, { algorithm: 'sliding-window', limit, windowMs }, now)).allowed) return true;
          // "requested": a mail counts when it is asked for, whether the relay then took it or not.
          emitUncounted('excess_rate_limit_exceeded', 'WARN', `Password reset mail for user ${user.id} withheld: ${limit} already requested ${whose} within ${windowMs / 1000} s`, request);
          return false;
        };
        // Per client first: a flood from one client does not spend the account's budget.
        const client = request === undefined ? null : s.clientOf(request.ip);
        if (client !== null && !(await withinBudget(authKeys.resetMails(user.id, client), perClient, 'at the requests of this client'))) return;
        if (!(await withinBudget(authKeys.resetMails(user.id, null), perAccount, 'in all'))) return;
        const token = newToken(s.random);
        // The account deleted (in SQL, by an operator) since the lookup: nothing to send, nothing to report.
        if (!(await repo.insertPasswordReset(hashToken(token), user.id, now, now + s.resetTtlMs))) return;
        emitUncounted('authn_token_created', 'INFO', `Password reset token issued for user ${user.id}`, request);
        await s.mail.send({
          to: user.email,
          subject: 'Reset your password',
          text:
            `Someone asked to reset the password of your account.\n\n` +
            `To choose a new password, open this link within ${Math.round(s.resetTtlMs / 60_000)} minutes:\n` +
            `${s.resetUrl}#token=${token}\n\n` +
            `If it was not you, ignore this message: your password stays as it is.\n`,
        });
      });
      if (!started) {
        emit('excess_rate_limit_exceeded', 'WARN', `Password reset request dropped unread: ${s.maxBackgroundTasks} are still being worked on (is the mail relay slow or down?)`, request);
      }
      return { type: 'ok' };
    },

    /**
     * Sets a new password with a reset token (single use), revoking every token and sign-in of the
     * user and forgetting its trusted devices (`forgetDevices`). The token is looked up first: only a live one costs an argon2 hash (an unknown token
     * cost one too), names the account whose email the password must not contain, and gets the
     * password to the `isPasswordRejected` hook. The redemption after the hash is still the
     * conditional UPDATE that decides between concurrent resets with one token; one spent meanwhile
     * is refused like a used one.
     *
     * On success, `device` is a fresh device token trusted for the account (`rememberDevice`, once
     * the devices were forgotten; `null` when they were not, or it could not be recorded), for the browser that made
     * the reset: it proved control of the mailbox (the single-use token went only there) and chose
     * the new password, so it is the owner's, and whoever can do that owns the account anyway. Else a
     * reset during an attack on the shared sign-in budget (`LOGIN_PER_ACCOUNT`) left the owner
     * locked out of it at the new password, every trusted browser just forgotten. Never the token
     * presented: that browser's cookie may be a planted value, or one of the devices just forgotten.
     */
    async resetPassword(body: unknown, request: Request): Promise<Result<{ device: string | null }>> {
      const input = readReset(body);
      if (!input.ok) return { type: 'error', error: input.error };
      if (!isTokenShaped(input.value.token)) {
        emit('authn_password_change_fail', 'WARN', 'Password reset refused: malformed reset token', request);
        return fail('RESET_TOKEN_INVALID');
      }
      const tokenHash = hashToken(input.value.token);
      // Guessing reset tokens leaves a trail (the endpoint's rate limit stops it).
      const spentOrUnknown = (): Failure => {
        emit('authn_password_change_fail', 'WARN', 'Password reset refused: unknown, used or expired reset token', request);
        return fail('RESET_TOKEN_INVALID');
      };
      const email = await repo.liveResetEmail(tokenHash, clock.now());
      if (email === undefined) return spentOrUnknown();
      // Only now is the account known: the password is checked against its email, then by the hook.
      // The token stays live on a refusal, for a better password.
      const refusal = passwordRefusal(input.value.password, email);
      if (refusal !== null) return { type: 'error', error: passwordInvalid(refusal) };
      const rejected = await hookRefusal(input.value.password);
      if (rejected !== null) return rejected;
      const passwordHash = await hasher.hash(input.value.password);
      const redeemed = await repo.redeemPasswordReset(tokenHash, passwordHash, clock.now());
      if (redeemed === null) return spentOrUnknown();
      // `email` is the account's (read with the token; an account's email never changes). After the
      // commit: a store failure leaves the reset done and answered ok (`forgetDevices`).
      const forgotten = await forgetDevices(email);
      emit('authn_password_change', 'INFO', `Password of user ${redeemed.userId} changed with a reset token`, request);
      emit(
        'authn_token_revoked',
        'INFO',
        `Password of user ${redeemed.userId} reset: ${redeemed.revoked.accessTokens} access grants and ${redeemed.revoked.refreshTokens} refresh tokens revoked${devicesOutcome(forgotten)}`,
        request,
      );
      // The owner is told (ASVS 6.3.7), as after a change: a reset by whoever reads the mailbox must
      // not go unnoticed. After the answer; a relay failure goes to `onBackgroundError`, the reset stands.
      noticePasswordChanged(redeemed.userId, email, clock.now());
      // Only over a forgotten list: one the store refused to delete stays as the event says.
      return { type: 'ok', device: forgotten ? await rememberDevice(email, null) : null };
    },

    /**
     * Records a browser sign-in and returns the user id the session carries (`<user id>/<sign-in
     * id>`): `resolveUser` (accounts.ts) accepts it only while that sign-in is live, so logout-all and a
     * password reset end browser sessions at once, on every instance. Refused (INVALID_CREDENTIALS)
     * when the password changed since `verifyCredentials` checked it.
     */
    async startWebSession(user: UserRow, request: Request): Promise<Result<{ sessionUserId: string }>> {
      const now = clock.now();
      const id = await repo.createWebSession(user.id, hashToken(newToken(s.random)), now, now + s.webSessionTtlMs, user.password_hash);
      if (id === null) return passwordChangedMeanwhile(user, request);
      signedIn(user, request);
      emit('session_created', 'INFO', `User ${user.id} signed in to a browser session`, request);
      return { type: 'ok', sessionUserId: `${user.id}/${id}` };
    },

    /**
     * The account of a live browser sign-in (`<user id>/<sign-in id>`, `startWebSession`), with its
     * password hash, or `null` when it ended (signed out, revoked, expired) or the value is no such id.
     */
    async webSessionUser(sessionUserId: string): Promise<UserRow | null> {
      const parsed = parseSessionUserId(sessionUserId);
      if (parsed === null) return null;
      return (await repo.webSessionUser(parsed.userId, parsed.webSessionId, clock.now())) ?? null;
    },

    /** `request` is required: a `session_logout` without the cheat sheet's request fields cannot be traced. */
    async endWebSession(sessionUserId: string, request: RequestInfo): Promise<void> {
      const parsed = parseSessionUserId(sessionUserId);
      if (parsed !== null) await repo.revokeWebSession(parsed.webSessionId, clock.now());
      emit('session_logout', 'INFO', `User ${parsed?.userId ?? 'unknown'} signed out of a browser session`, request);
    },

    /** Deletes dead tokens now (see `cleanup.ts` for the schedule). */
    deleteDeadTokens: () => repo.deleteDead(clock.now()),
  };
}

/** A refresh token already exchanged for its successor: presenting it again is a reuse. */
function wasRotated(row: RefreshRow): row is RefreshRow & { used_at: number } {
  return row.used_at !== null;
}

/**
 * A delay for an event's text: `120 ms`, `4 s`, `7 min`, `3 h`, `2 days`.
 * @example sinceRotation(120) // '120 ms'
 */
function sinceRotation(ms: number): string {
  const at = Math.max(0, Math.round(ms));
  if (at < 1_000) return `${at} ms`;
  if (at < 120_000) return `${Math.round(at / 1_000)} s`;
  if (at < 120 * 60_000) return `${Math.round(at / 60_000)} min`;
  if (at < 48 * 3_600_000) return `${Math.round(at / 3_600_000)} h`;
  return `${Math.round(at / 86_400_000)} days`;
}

function publicUser(row: UserRow): PublicUser {
  return { id: row.id, email: row.email, name: row.name, created_at: new Date(row.created_at).toISOString() };
}
