/**
 * Store keys of the auth service, built like `src/store/keys.ts` builds the framework's: a fixed
 * prefix, a Redis Cluster hash tag, and only server-derived values (hashes), never request text.
 * The rate-limit counters of the auth endpoints use `storeKeys.rateLimit` itself (see `limits.ts`).
 */
import { hash } from 'node:crypto';

const PREFIX = 'lc:';

function digest(text: string): string {
  return hash('sha256', text, 'base64url');
}

/** What the store keeps of a device token (`device.ts`): its SHA-256, never the token. */
export function deviceDigest(token: string): string {
  return digest(`device:${token}`);
}

export const authKeys = {
  /** Consecutive failed sign-ins for one (normalised) email, for `authn_login_fail_max`. */
  loginFailures: (email: string) => `${PREFIX}{a:${digest(`login:${email}`)}}:auth:fail`,
  /** Sign-in attempts on one (normalised) email without a trusted device, for the per-account limit (`LOGIN_PER_ACCOUNT`). */
  loginAttempts: (email: string) => `${PREFIX}{a:${digest(`login:${email}`)}}:auth:attempts`,
  /** The devices trusted for one (normalised) email: `deviceDigest`s, space-separated, most recent last (`device.ts`). */
  devices: (email: string) => `${PREFIX}{a:${digest(`login:${email}`)}}:auth:devices`,
  /** Sign-in attempts on one email from one trusted device, for the per-device limit (`LOGIN_PER_DEVICE`). */
  deviceAttempts: (email: string, token: string) => `${PREFIX}{a:${digest(`login:${email}`)}}:auth:device-attempts:${deviceDigest(token)}`,
  /** Password changes tried by one signed-in user (`PASSWORD_CHANGE_PER_ACCOUNT`): each guesses the current password. */
  passwordChangeAttempts: (userId: string) => `${PREFIX}{a:${digest(`change:${userId}`)}}:auth:change-attempts`,
  /** Reset mails sent to one account (`client` null), or to it at the requests of one client, for `resetMailMax`. */
  resetMails: (userId: string, client: string | null) =>
    `${PREFIX}{a:${digest(client === null ? `reset:${userId}` : `reset:${userId}:${client}`)}}:auth:reset-mail`,
  /** The lease that lets one instance run the scheduled token clean-up per interval. */
  cleanupLease: () => `${PREFIX}{a:cleanup}:auth:cleanup-lease`,
} as const;
