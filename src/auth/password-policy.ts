/**
 * What a new password (registration, reset) must not be, beyond its length (`checkPassword`), as
 * NIST SP 800-63B §3.1.1.2 asks: one of the likeliest guesses (`COMMON_PASSWORDS`), or built on the
 * account's own email address, and, when the app gives one, whatever its `isPasswordRejected` hook
 * says (a breached-password service). Sign-in never applies it: a password chosen under an older
 * policy still signs in. The messages never repeat the password.
 */
import { domainToUnicode } from 'node:url';
import { COMMON_PASSWORDS } from './common-passwords.js';
import { TOP_PASSWORDS } from './common-passwords-top.js';
import { foldCase } from './email.js';

export const PASSWORD_COMMON =
  'This password is one of the most common passwords, which attackers try first. Choose another: a few unrelated words make a strong one.';
export const PASSWORD_HAS_EMAIL = 'The password must not contain your email address or the part before the @. Choose another.';
export const PASSWORD_BREACHED = 'This password appears in known data breaches, which attackers try first. Choose another.';

/**
 * The 5,000 most common passwords of 8 characters or more (`TOP_PASSWORDS`): OWASP ASVS 5.0 6.2.4
 * asks for at least the top 3,000 that the length rule lets through, and the hand-picked
 * `COMMON_PASSWORDS` (217) missed 49 of the 100 most common (`corvette`, `steelers`, `startrek`…).
 */
const TOP = new Set(TOP_PASSWORDS);

/**
 * A local part shorter than this is not looked for inside the password: `ada` would refuse
 * `canada-dry-2024` and the like by chance, while adding little to what an attacker tries.
 */
const LOCAL_MIN = 4;

/**
 * Why a new password (already NFKC, as `checkPassword` returns it) is refused, or `null`. Compared
 * after case folding (`foldCase`): on a list of common passwords (`COMMON_PASSWORDS`, `TOP`); equal to, or containing, the
 * whole `email` (its stored form, and with the domain in Unicode) or its local part of 4 or more
 * characters. Without `email` (a reset before its token is looked up), the list alone.
 * @example passwordRefusal('Password1') // PASSWORD_COMMON
 * @example passwordRefusal('adalovelace!1815', 'adalovelace@example.com') // PASSWORD_HAS_EMAIL
 */
export function passwordRefusal(password: string, email?: string): string | null {
  const folded = foldCase(password.normalize('NFKC'));
  if (COMMON_PASSWORDS.has(folded) || TOP.has(folded)) return PASSWORD_COMMON;
  if (email === undefined) return null;
  const at = email.lastIndexOf('@');
  const local = email.slice(0, at);
  // Folded like the password: a Unicode domain keeps IDNA's deviation characters (ß, ς), which the
  // password's fold turns into ss and σ, so `ada@straße.de` never matched itself.
  const unicode = foldCase(`${local}@${domainToUnicode(email.slice(at + 1)) || email.slice(at + 1)}`);
  if (folded.includes(email) || folded.includes(unicode) || ([...local].length >= LOCAL_MIN && folded.includes(local))) return PASSWORD_HAS_EMAIL;
  return null;
}

/** A breached-password check of the app's own: `true` refuses the password. */
export type PasswordRejectedHook = (password: string) => Promise<boolean> | boolean;

/**
 * Asks `hook` about a password, for at most `timeoutMs`. Fails open: when the hook throws, rejects,
 * answers anything but a boolean or is still thinking at the deadline, `onError` is told and the
 * password counts as not rejected (the local checks above still applied). A breach service that is
 * down must not stop registrations, nor above all resets, the way back into an account.
 */
export async function askPasswordHook(hook: PasswordRejectedHook, password: string, timeoutMs: number, onError: (error: unknown) => void): Promise<boolean> {
  const answer = Promise.resolve().then(() => hook(password));
  // Settles after the deadline, unread: no unhandled rejection then.
  answer.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`isPasswordRejected gave no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const rejected = await Promise.race([answer, late]);
    if (typeof rejected !== 'boolean') throw new TypeError(`isPasswordRejected answered ${typeof rejected}, not a boolean`);
    return rejected;
  } catch (error) {
    onError(error);
    return false;
  } finally {
    clearTimeout(timer);
  }
}
