/**
 * The development session secret (no `LC_SESSION_SECRET`) as start-up reads it from its file. Its own
 * module so that `livecomponents doctor --connect` (data-dir) reads the file with the same code, and
 * says the same words, without loading the runtime (src/runtime/setup.ts). The state key file's
 * reader, `readDevStateKeys`, lives with the key ring (src/pipeline/state/keyring.ts). Also the
 * reading and checks of `LC_SESSION_SECRET_FALLBACKS` that start-up, the configuration and `keygen`
 * share (`parseSecretList`, `fallbackProblem`).
 */
import { devFileUnusable, readDevFile } from '../ops/writable-path.js';
import { MAX_SECRET_FALLBACKS } from '../pipeline/csrf/token.js';

export { MAX_SECRET_FALLBACKS };

/** Fewest bytes a session secret may have. */
export const MIN_SECRET_BYTES = 32;

/** `LC_SESSION_SECRET` as base64 (standard or url) when it decodes to >= 32 bytes, else its UTF-8 bytes. */
export function decodeSecret(text: string): Buffer {
  const trimmed = text.trim();
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    const decoded = Buffer.from(trimmed, 'base64');
    if (decoded.length >= MIN_SECRET_BYTES) return decoded;
  }
  const raw = Buffer.from(trimmed, 'utf8');
  if (raw.length < MIN_SECRET_BYTES) throw new TypeError(`LC_SESSION_SECRET must be at least ${MIN_SECRET_BYTES} bytes`);
  return raw;
}

/**
 * `LC_SESSION_SECRET_FALLBACKS`: comma-separated secrets, each read as `decodeSecret` reads
 * `LC_SESSION_SECRET` (base64 of 32+ bytes, else text of 32+ bytes). Base64 has no comma; a text
 * secret with a comma is listed as its base64 (`printf %s "$old" | base64 -w0`), which decodes to
 * the same bytes. Surrounding white space is dropped; an empty entry is refused (a stray comma).
 * Never quotes a value.
 */
export function parseSecretList(text: string, variable = 'LC_SESSION_SECRET_FALLBACKS'): Buffer[] {
  const entries = text.split(',').map((entry) => entry.trim());
  if (entries.length === 1 && entries[0] === '') return [];
  return entries.map((entry, index) => {
    if (entry === '') throw new TypeError(`${variable}: entry at index ${index} is empty (a stray comma?)`);
    try {
      return decodeSecret(entry);
    } catch {
      throw new TypeError(`${variable}: entry at index ${index} is shorter than ${MIN_SECRET_BYTES} bytes`);
    }
  });
}

/**
 * Why `fallbacks` cannot go with `secret`, or undefined: more than `MAX_SECRET_FALLBACKS` of them
 * (each is an HMAC on every refused CSRF token), or one is the secret itself (its text, or its
 * base64, which decodes to the same bytes) or repeats another. Start-up, the configuration check and
 * `keygen` share it.
 */
export function fallbackProblem(secret: Buffer | undefined, fallbacks: readonly Buffer[], variable = 'LC_SESSION_SECRET_FALLBACKS'): string | undefined {
  if (fallbacks.length > MAX_SECRET_FALLBACKS) {
    return `${variable} holds ${fallbacks.length} secrets, more than ${MAX_SECRET_FALLBACKS} (each is tried on every CSRF token the secret refuses, a forged one too); drop the oldest`;
  }
  for (let i = 0; i < fallbacks.length; i++) {
    const fallback = fallbacks[i] as Buffer;
    if (secret !== undefined && fallback.equals(secret)) {
      return `${variable}: entry at index ${i} is the current session secret (LC_SESSION_SECRET) itself; list only other secrets (the previous one, or the next one while it rolls out)`;
    }
    const twin = fallbacks.findIndex((other) => other.equals(fallback));
    if (twin !== i) return `${variable}: entry at index ${i} repeats the entry at index ${twin}`;
  }
  return undefined;
}

/**
 * The development session secret kept in `file`, read only (nothing is created or changed). A file
 * that cannot be read, or holds fewer than 32 bytes, throws words naming LC_SESSION_SECRET and the
 * file (Node's `EACCES: permission denied, open 'data/session-secret'` and `LC_SESSION_SECRET must be
 * at least 32 bytes`, of a variable that is not set, named neither).
 */
export function readDevSessionSecret(file: string): Buffer {
  const text = readDevFile('LC_SESSION_SECRET', file);
  try {
    return decodeSecret(text);
  } catch (error) {
    throw new Error(devFileUnusable('LC_SESSION_SECRET', file, `holds fewer than ${MIN_SECRET_BYTES} bytes`), { cause: error });
  }
}
