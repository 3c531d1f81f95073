/**
 * Password hashing with argon2id (`@node-rs/argon2`), at the OWASP parameters by default:
 * m = 19456 KiB, t = 2, p = 1. Passwords are Unicode-normalised (NFKC, as NIST SP 800-63B
 * suggests) before they are checked, hashed or verified, so the same password typed on two
 * keyboards verifies the same way.
 *
 * `verify` tells when a hash was made with other parameters (the policy changed): the caller then
 * stores a new hash (`rehash on login`). `verifyDummy` runs exactly the work of a real
 * verification against a hash nobody knows the password of, so an unknown email costs what a wrong
 * password costs.
 */
import { randomBytes } from 'node:crypto';
import { hash, parseOptions, verify, type Options } from '@node-rs/argon2';

/** argon2id, passed as a number: the package's `Algorithm` enum is a `const enum` with no value at run time. */
const ARGON2ID = 2;
/** argon2 version 0x13 (the package's `Version.V0x13`). */
const VERSION_0X13 = 1;

export interface PasswordParams {
  /** Memory in KiB. @default 19456 */
  memoryCost: number;
  /** Passes. @default 2 */
  timeCost: number;
  /** Lanes. @default 1 */
  parallelism: number;
}

/** OWASP Password Storage Cheat Sheet, argon2id minimum configuration. */
export const OWASP_ARGON2ID: Readonly<PasswordParams> = Object.freeze({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

export type PasswordCheck = { ok: true; password: string } | { ok: false; message: string };

/**
 * A UTF-16 surrogate without its pair: not a character, and not representable in UTF-8, so argon2
 * would hash U+FFFD in its place — two different passwords would then verify as one.
 */
export const LONE_SURROGATE_RE = /\p{Cs}/u;

/**
 * Normalises (NFKC) and checks the length in code points: 8 to 128. Any character is allowed,
 * spaces included; nothing is trimmed. Text with a lone surrogate (see above) is refused.
 * @example checkPassword('ﬁrst-try-1') // { ok: true, password: 'first-try-1' }
 */
export function checkPassword(input: unknown): PasswordCheck {
  if (typeof input !== 'string') return { ok: false, message: 'The password must be a string.' };
  if (LONE_SURROGATE_RE.test(input)) return { ok: false, message: 'The password must be valid Unicode text.' };
  const password = input.normalize('NFKC');
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    return { ok: false, message: `The password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters long.` };
  }
  return { ok: true, password };
}

export interface VerifyResult {
  /** The password matches. */
  ok: boolean;
  /** The hash was made with other parameters than the current ones: store a new one. */
  needsRehash: boolean;
}

export interface PasswordHasher {
  readonly params: Readonly<PasswordParams>;
  /** Hashes an already checked (normalised) password. */
  hash(password: string): Promise<string>;
  /** Verifies a normalised password; a malformed stored hash verifies as `false`. */
  verify(storedHash: string, password: string): Promise<VerifyResult>;
  /** The same work as `verify`, against a hash of a random secret: always `false`. */
  verifyDummy(password: string): Promise<false>;
}

/**
 * @example
 * const hasher = createPasswordHasher(); // OWASP parameters
 * const stored = await hasher.hash('correct horse battery staple');
 * (await hasher.verify(stored, 'correct horse battery staple')).ok; // true
 */
export function createPasswordHasher(params: PasswordParams = OWASP_ARGON2ID): PasswordHasher {
  for (const [name, value] of Object.entries(params)) {
    if (!Number.isInteger(value) || value < 1) throw new TypeError(`Password hashing: ${name} must be a positive integer`);
  }
  const options: Options = { algorithm: ARGON2ID, version: VERSION_0X13, ...params };
  const current = Object.freeze({ ...params });
  // Computed once, in the background, with the current parameters: by the first login it is ready.
  const dummy = hash(randomBytes(32), options);
  dummy.catch(() => undefined);

  async function check(storedHash: string, password: string): Promise<boolean> {
    try {
      return await verify(storedHash, password, options);
    } catch {
      return false;
    }
  }

  return {
    params: current,
    hash: (password) => hash(password, options),
    async verify(storedHash, password) {
      // A hash made with other parameters takes its own time, not the time the dummy of an unknown
      // email takes: a lighter one (an older policy) or none at all (not argon2id: an import, or
      // unreadable) would tell from outside that the account exists. The dummy runs beside it (on
      // another thread of libuv's pool), so the answer comes no sooner than an unknown email's.
      // A heavier one still takes longer: docs/auth.md says to rehash after raising the parameters.
      const stale = needsRehash(storedHash, current);
      const [ok] = await Promise.all([check(storedHash, password), stale ? dummy.then((d) => check(d, password)) : false]);
      return { ok, needsRehash: ok && stale };
    },
    async verifyDummy(password) {
      await check(await dummy, password);
      return false;
    },
  };
}

/** Whether `storedHash` was made with another algorithm, version or parameters than `params`. */
export function needsRehash(storedHash: string, params: Readonly<PasswordParams>): boolean {
  try {
    const found = parseOptions(storedHash);
    return (
      (found.algorithm as number) !== ARGON2ID ||
      (found.version as number) !== VERSION_0X13 ||
      found.memoryCost !== params.memoryCost ||
      found.timeCost !== params.timeCost ||
      found.parallelism !== params.parallelism
    );
  } catch {
    return true;
  }
}
