/**
 * State keys (`LC_STATE_KEYS`) and the key ring the sealer uses. A key is 32 random bytes kept in
 * sodium secure memory; its id is a short value derived from the key itself (not its position),
 * so it stays the same when keys are rotated. The first key of the ring seals; every key opens.
 */
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { createFileOnce, removeLeftoverTemps } from '../../core/create-file-once.js';
import { devFileRefusal, devFileUnusable, errorReason, readDevFile } from '../../ops/writable-path.js';
import { sodium } from './seal-sodium.js';

/** Bytes of a state key (XSalsa20-Poly1305). */
export const STATE_KEY_BYTES = 32;

/** Bytes of a key id in the envelope. */
export const KEY_ID_BYTES = 4;

/** Domain-separation label: the key id is BLAKE2b keyed with the state key over this text. */
const KEY_ID_LABEL = Buffer.from('livecomponents state key id v1', 'utf8');

/** The file that holds the development keys, inside the folder given to `loadOrCreateDevKeys`. */
export const DEV_KEYS_FILE = 'LC_STATE_KEYS';

/**
 * One state key. `material` is not enumerable and `inspect`/`JSON.stringify` show only the id, so
 * logging a key by mistake prints nothing secret.
 */
export class StateKey {
  /** The key id as 8 hex characters (safe to log): BLAKE2b keyed with the key, first 4 bytes. */
  readonly id: string;
  /** The same 4 bytes as a big-endian unsigned integer, as written in envelopes. */
  readonly idValue: number;
  /** The 32 key bytes, in read-only sodium secure memory. Never log or serialize it. */
  declare readonly material: Buffer;

  private constructor(material: Buffer) {
    const digest = Buffer.alloc(16); // BLAKE2b's smallest output; the id keeps its first 4 bytes
    sodium.crypto_generichash(digest, KEY_ID_LABEL, material);
    this.idValue = digest.readUInt32BE(0);
    this.id = digest.subarray(0, KEY_ID_BYTES).toString('hex');
    Object.defineProperty(this, 'material', { value: material, enumerable: false, writable: false });
  }

  /**
   * Copies 32 key bytes into secure memory. The caller still owns (and should wipe) `bytes`.
   * @throws {TypeError} when `bytes` is not exactly 32 bytes long
   */
  static fromBytes(bytes: Uint8Array): StateKey {
    if (bytes.length !== STATE_KEY_BYTES) throw new TypeError(`a state key must be exactly ${STATE_KEY_BYTES} bytes`);
    const material = sodium.sodium_malloc(STATE_KEY_BYTES);
    material.set(bytes);
    sodium.sodium_mprotect_readonly(material);
    return new StateKey(material);
  }

  /** 32 fresh random bytes from libsodium. */
  static generate(): StateKey {
    const bytes = Buffer.alloc(STATE_KEY_BYTES);
    sodium.randombytes_buf(bytes);
    try {
      return StateKey.fromBytes(bytes);
    } finally {
      sodium.sodium_memzero(bytes);
    }
  }

  toJSON(): { id: string } {
    return { id: this.id };
  }

  [inspect.custom](): string {
    return `StateKey(${this.id})`;
  }
}

/** The keys in force, newest first. */
export interface KeyRing {
  /** The newest key: every seal uses it. */
  readonly current: StateKey;
  /** Every key, newest first; all of them open. */
  readonly keys: readonly StateKey[];
  /** The key whose `idValue` is `idValue`, or `undefined` when the ring has no such key. */
  find(idValue: number): StateKey | undefined;
}

/**
 * Builds the ring once at start-up.
 * @param keys newest first, as in `LC_STATE_KEYS`
 * @throws {TypeError} when `keys` is empty or two keys have the same id (the same key twice)
 * @example
 * const ring = createKeyRing(parseStateKeys(process.env.LC_STATE_KEYS ?? ''));
 */
export function createKeyRing(keys: readonly StateKey[]): KeyRing {
  const first = keys[0];
  if (first === undefined) throw new TypeError('the state key ring needs at least one key');
  const byId = new Map<number, StateKey>();
  keys.forEach((key, index) => {
    const earlier = byId.get(key.idValue);
    if (earlier !== undefined) {
      throw new TypeError(`state keys at index ${keys.indexOf(earlier)} and ${index} have the same key id ${key.id} (the same key twice?)`);
    }
    byId.set(key.idValue, key);
  });
  const list = Object.freeze([...keys]);
  return Object.freeze({ current: first, keys: list, find: (idValue: number) => byId.get(idValue) });
}

/** Characters of base64, standard or url alphabet, with optional padding. */
const BASE64_TEXT = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * Parses `LC_STATE_KEYS`: comma-separated keys, newest first, each the base64 (standard or url
 * alphabet, padding optional) of exactly 32 bytes. Spaces around entries are ignored. Errors name
 * the variable (`source`) and the 0-based entry index, never the key text.
 * @param source the name used in error messages
 * @default source 'LC_STATE_KEYS'
 * @throws {TypeError} when the text is empty, an entry is empty, not base64, or not 32 bytes
 * @example
 * parseStateKeys(`${newKey},${oldKey}`); // [newest, older]
 */
export function parseStateKeys(text: string, source = 'LC_STATE_KEYS'): StateKey[] {
  if (text.trim() === '') throw new TypeError(`${source} is empty: expected comma-separated base64 32-byte keys`);
  return text.split(',').map((raw, index) => {
    const entry = raw.trim();
    if (entry === '') throw new TypeError(`${source}: entry at index ${index} is empty`);
    if (!BASE64_TEXT.test(entry)) throw new TypeError(`${source}: entry at index ${index} is not base64 (standard or url alphabet)`);
    const bytes = Buffer.from(entry, 'base64'); // Node's base64 decoder also reads the url alphabet
    try {
      if (bytes.length !== STATE_KEY_BYTES) {
        throw new TypeError(
          `${source}: entry at index ${index} decodes to ${bytes.length} bytes; a key must be exactly ${STATE_KEY_BYTES} (for example \`openssl rand -base64 32\`)`,
        );
      }
      return StateKey.fromBytes(bytes);
    } finally {
      sodium.sodium_memzero(bytes);
    }
  });
}

/**
 * Development without `LC_STATE_KEYS`: reads the keys kept in `dir/LC_STATE_KEYS` (`readDevStateKeys`),
 * or generates one key and writes it there (mode 0600, folder 0700; created atomically, so two
 * processes starting together end up with the same key); a file group or others may read is reset
 * to 0600. Calls `warn` exactly once per call — saying whether the key was generated or reused — and
 * never with key material. Not for production: set `LC_STATE_KEYS`.
 * @param dir folder for the key file
 * @param warn receives the one warning
 * @default dir './data/state-keys'
 * @default warn console.warn
 * @example
 * const keys = env.LC_STATE_KEYS ? parseStateKeys(env.LC_STATE_KEYS) : loadOrCreateDevKeys('./data/state-keys', log.warn);
 * @throws {Error} naming LC_STATE_KEYS, the folder that refuses and why, when the key cannot be written;
 * naming LC_STATE_KEYS and the file when it cannot be used (`readDevStateKeys`) or its mode reset
 */
export function loadOrCreateDevKeys(dir = './data/state-keys', warn: (message: string) => void = console.warn): StateKey[] {
  const file = join(dir, DEV_KEYS_FILE);
  let created: boolean;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    removeLeftoverTemps(file);
    created = !existsSync(file) && tryCreateKeyFile(file);
  } catch (error) {
    // Node's own error named a relative path and no way out (ENOENT on a read-only root file system).
    throw devFileRefusal('LC_STATE_KEYS', 'state key', dir, error);
  }
  // Read first: a file that cannot serve (a folder in its place, text that is no key) is left as it was.
  const keys = readDevStateKeys(file);
  const mode = created ? 0o600 : statSync(file).mode & 0o777;
  let note = '';
  if ((mode & 0o077) !== 0) {
    try {
      chmodSync(file, 0o600);
    } catch (error) {
      // Another user's file (EPERM): Node's words named neither the variable nor the file's mode.
      throw new Error(devFileUnusable('LC_STATE_KEYS', file, `is too open (mode 0${mode.toString(8)}) and cannot be reset to 0600 (${errorReason(error)})`), { cause: error });
    }
    note = ' (its permissions were too open and were reset to 0600)';
  }
  warn(
    created
      ? `LC_STATE_KEYS is not set: generated a development state key in ${file}. Set LC_STATE_KEYS in production.`
      : `LC_STATE_KEYS is not set: using the development state key in ${file}${note}. Set LC_STATE_KEYS in production.`,
  );
  return keys;
}

/** How `readDevStateKeys` names the file to `parseStateKeys`, taken off again: the sentence names it already. */
const THE_FILE = 'the file';

/**
 * The development state keys kept in `file`, read only: no folder made, no file created, no mode
 * changed. Start-up reads them with it (`loadOrCreateDevKeys`), and so does `livecomponents doctor
 * --connect` (data-dir), so both say the same words. A file that cannot be read, or holds no usable
 * key ring (text that is no key, the same key twice), throws words naming LC_STATE_KEYS, the file and
 * a way out (`devFileUnusable`): the key ring's own errors named neither the variable nor a way out.
 * @throws {Error} `LC_STATE_KEYS is not set and the development file <path> holds no usable key (…), so start-up cannot use it: …`
 */
export function readDevStateKeys(file: string): StateKey[] {
  const text = readDevFile('LC_STATE_KEYS', file);
  try {
    const keys = parseStateKeys(text, THE_FILE);
    createKeyRing(keys);
    return keys;
  } catch (error) {
    const detail = (error instanceof Error ? error.message : String(error)).replace(new RegExp(`^${THE_FILE}:? `), '');
    throw new Error(devFileUnusable('LC_STATE_KEYS', file, `holds no usable key (${detail})`), { cause: error });
  }
}

/** Generates a key and creates `file` with it, unless another process created `file` first (false). */
function tryCreateKeyFile(file: string): boolean {
  const bytes = Buffer.alloc(STATE_KEY_BYTES);
  sodium.randombytes_buf(bytes);
  const text = `${bytes.toString('base64')}\n`;
  sodium.sodium_memzero(bytes);
  return createFileOnce(file, text);
}
