/**
 * The development session secret (no `LC_SESSION_SECRET`) as start-up reads it from its file. Its own
 * module so that `livecomponents doctor --connect` (data-dir) reads the file with the same code, and
 * says the same words, without loading the runtime (src/runtime/setup.ts). The state key file's
 * reader, `readDevStateKeys`, lives with the key ring (src/pipeline/state/keyring.ts).
 */
import { devFileUnusable, readDevFile } from '../ops/writable-path.js';

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
