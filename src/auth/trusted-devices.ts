/**
 * The account's trusted devices in the store (device cookies: `device.ts` says why): which browser is
 * trusted for an account, recording one after a sign-in or reset, forgetting them all after a reset
 * or sign-out everywhere. Kept apart from the auth service, which calls these at the points of its
 * flows `service.ts` documents.
 */
import { replacedAnswer } from '../store/ops.js';
import { DEVICE_TRUST_DAYS, MAX_TRUSTED_DEVICES } from './device.js';
import { authKeys, deviceDigest } from './keys.js';
import { isTokenShaped, newToken } from './tokens.js';
import type { AuthSettings } from './settings.js';

const deviceTtlMs = DEVICE_TRUST_DAYS * 86_400_000;

/** The end of a revocation event's text: whether `forgetDevices` forgot the account's trusted devices. */
export const devicesOutcome = (forgotten: boolean): string =>
  forgotten ? '; trusted devices forgotten' : '; its trusted devices could not be forgotten (store error, reported)';

export function createTrustedDevices(s: Pick<AuthSettings, 'store' | 'random' | 'onBackgroundError'>) {
  /** `token` when it is a device token trusted for `email`, else `null`. */
  async function trustedDevice(email: string, token: string | undefined): Promise<string | null> {
    if (!isTokenShaped(token)) return null;
    const trusted = (await s.store.get(authKeys.devices(email)))?.split(' ') ?? [];
    return trusted.includes(deviceDigest(token)) ? token : null;
  }

  /**
   * After a successful sign-in (or password reset), once its tokens or browser session exist: the
   * device token to set in the browser's cookie, trusted for `email` for `DEVICE_TRUST_DAYS` from
   * now — the trusted one kept, else a fresh one, never the one presented (a planted value must not
   * become trusted). `null` when the store refused the write, answered `replaceIfEquals` with no
   * boolean (a store of the app's own without the op), or when the list kept changing under it
   * `DEVICE_WRITE_TRIES` times (each reported to `onBackgroundError`): the sign-in stands without it.
   *
   * The list is written only over what was read: `claim` when there was none, else the strict
   * `replaceIfEquals`; on a conflict it starts again from the list as it now is. So a sign-in racing
   * `forgetDevices` never writes the old list back (after the delete it finds none and records only
   * its own browser), and two sign-ins at once both end up in the list.
   */
  async function rememberDevice(email: string, trusted: string | null): Promise<string | null> {
    const token = trusted ?? newToken(s.random);
    const digest = deviceDigest(token);
    const key = authKeys.devices(email);
    try {
      let read = await s.store.get(key);
      for (let tries = 1; ; tries++) {
        const list = withDevice(read, digest);
        if (read === null) {
          const held = await s.store.claim(key, list, deviceTtlMs);
          if (held === null) return token;
          read = held; // another sign-in made the list meanwhile: that is the list to add to
        } else {
          const [replaced] = await s.store.batch([{ op: 'replaceIfEquals', key, expected: read, value: list, ttlMs: deviceTtlMs }]);
          // Anything but a boolean (a store without the op) throws: taken for a conflict, it was
          // retried DEVICE_WRITE_TRIES times and reported as concurrent sign-ins.
          if (replacedAnswer(replaced, 'Trusted device not recorded')) return token;
          read = await s.store.get(key);
        }
        if (tries === DEVICE_WRITE_TRIES) {
          throw new Error(`Trusted device not recorded: the account's device list changed under ${DEVICE_WRITE_TRIES} writes in a row (concurrent sign-ins or sign-outs)`);
        }
      }
    } catch (error) {
      s.onBackgroundError(error);
      return null;
    }
  }

  /**
   * Forgets the devices trusted for `email` (`device.ts`): after a password reset and sign-out
   * everywhere, a browser whoever took the account signed in with must not keep a sign-in budget of
   * its own (`LOGIN_PER_DEVICE`, 20 tries an hour at the new password for up to 90 days). Called once
   * the revocation committed, and after it on purpose: the revocation is what the user asked for, and
   * a store that refuses this delete must not undo or fail it. The error goes to `onBackgroundError`
   * (as `rememberDevice`'s does) and the event says the devices were not forgotten; resolves whether
   * they were.
   *
   * Order against a concurrent sign-in: one that completes after the delete records only its own
   * browser, and it knew the new password (the password check and the grant's insert after the
   * commit see the new hash; one checked against the old hash is refused, `passwordChangedMeanwhile`).
   * One whose read of the list came before this delete and whose write comes after it does not write
   * the old list back: `rememberDevice` writes only over the exact list it read, so it finds none and
   * records only its own browser. Left open, a window of one store round trip: a sign-in with the old
   * password whose grant committed just before the revocation (and was revoked by it) still records
   * its browser if that write lands after this delete. After an incident, `revoke-sessions --user`
   * forgets the list once more.
   */
  async function forgetDevices(email: string): Promise<boolean> {
    try {
      await s.store.delete(authKeys.devices(email));
      return true;
    } catch (error) {
      s.onBackgroundError(error);
      return false;
    }
  }

  return { trustedDevice, rememberDevice, forgetDevices };
}

/**
 * Writes of the device list `rememberDevice` tries, each after reading the list again, before it
 * gives up. Each conflict means another write landed after this sign-in's read — a sign-in
 * recording its browser, mostly: after `MAX_TRUSTED_DEVICES` of them this browser would have been
 * evicted had its first write succeeded, so giving up then loses nothing. Sign-ins of one account
 * rarely overlap; this bounds the round trips of the worst case (20 at once, each retry a lost race).
 */
const DEVICE_WRITE_TRIES = MAX_TRUSTED_DEVICES;

/**
 * The device list `read` (`null`: none) with `digest` moved or added to its end (most recent last),
 * keeping the `MAX_TRUSTED_DEVICES` most recently used: the least recent go first.
 */
function withDevice(read: string | null, digest: string): string {
  const others = (read?.split(' ') ?? []).filter((d) => d !== '' && d !== digest);
  const kept = others.slice(Math.max(0, others.length - (MAX_TRUSTED_DEVICES - 1)));
  kept.push(digest);
  return kept.join(' ');
}
