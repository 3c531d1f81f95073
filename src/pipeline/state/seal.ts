/**
 * Sealed component state: XSalsa20-Poly1305 (libsodium `crypto_secretbox`) under the newest key
 * of the ring, bound to the session and the component it belongs to.
 *
 * Envelope: these bytes, encoded base64url without padding.
 *
 *   offset  bytes  field
 *   0       1      version, 0x01
 *   1       4      key id: `StateKey.idValue`, big-endian (which key of the ring sealed it)
 *   5       24     nonce, random for every seal
 *   29      16     Poly1305 MAC      \  bytes 29.. are exactly `crypto_secretbox_easy`'s output
 *   45      m      XSalsa20 ciphertext / of the sealed plaintext below (m = its length)
 *
 * Sealed plaintext. Secretbox has no associated data, so the binding travels inside the box:
 *
 *   0       1      version  \  copies of envelope bytes 0..4, which the MAC does not cover
 *   1       4      key id   /  otherwise (the nonce is bound by the cipher itself)
 *   5       2      S: byte length of the session key (u16, big-endian)
 *   7       2      C: byte length of the component id (u16, big-endian)
 *   9       S      session key, UTF-8
 *   9+S     C      component id, UTF-8
 *   9+S+C   rest   the state text, UTF-8
 *
 * `open` rebuilds bytes 0 to 9+S+C from the binding it is given and compares them in constant
 * time. The length prefixes make that prefix unambiguous, so a blob moved to another session or
 * component never opens.
 *
 * Seal and open work in place in one reusable buffer, with the `detached` calls writing the MAC
 * where `easy` puts it (same bytes, one view fewer per call), so a call allocates little beyond its
 * result string. Sizes: 45 + 9 + S + C bytes of overhead, then base64url (4/3).
 */
import type { KeyRing } from './keyring.js';
import { sodium } from './seal-sodium.js';
import { guardOptionalObserver, type ObserverFailureReport } from '../../ops/observer-guard.js';

export { createKeyRing, loadOrCreateDevKeys, parseStateKeys, StateKey, type KeyRing } from './keyring.js';

/** Envelope format version written by `seal`. */
export const SEAL_VERSION = 1;

const NONCE_AT = 5;
const NONCE_BYTES = sodium.crypto_secretbox_NONCEBYTES; // 24
const MAC_AT = NONCE_AT + NONCE_BYTES; // 29
const BODY_AT = MAC_AT + sodium.crypto_secretbox_MACBYTES; // 45
/** Fixed part of the binding header inside the box: version, key id, two lengths. */
const BINDING_FIXED = 9;
const MAX_BINDING_FIELD = 0xffff;
/** Work buffers grow up to this size and are kept; larger inputs get a one-off buffer. */
const KEEP_BUFFER_MAX = 64 * 1024;
/** Nonces drawn from libsodium per refill of the default nonce pool. */
const POOLED_NONCES = 256;
/** At most 3 UTF-8 bytes per UTF-16 code unit: an upper bound that needs no scan of the text. */
const UTF8_BOUND = 3;

/** What a sealed blob belongs to. Both values come from the server, never from the request. */
export interface StateBinding {
  /** `Session.key` (the SHA-256 of the session id), not the raw cookie value. */
  readonly sessionKey: string;
  /** The instance id, such as `counter:main`. */
  readonly componentId: string;
}

/**
 * Why a blob did not open:
 * - `malformed`: not an envelope (bad base64url, too short, unknown version), or legacy plaintext
 *   while `acceptLegacyPlaintext` is off;
 * - `unknown_key`: sealed with a key that is not in the ring (retired, or another deployment's);
 * - `forged`: the MAC does not verify (tampered or corrupted);
 * - `wrong_binding`: authentic, but sealed for another session or component.
 */
export type OpenFailureReason = 'malformed' | 'unknown_key' | 'forged' | 'wrong_binding';

/** The outcome of `Sealer.open`: expected failures are values, never exceptions. */
export type OpenResult =
  | {
      readonly ok: true;
      readonly plaintext: string;
      /** True when an older key or legacy plaintext was read: seal it again on the next write. */
      readonly needsReseal: boolean;
      /** True when the blob was unsealed legacy plaintext. */
      readonly legacy: boolean;
    }
  | { readonly ok: false; readonly reason: OpenFailureReason };

export interface SealerOptions {
  /** The keys in force, newest first: the first seals, all open. */
  keyRing: KeyRing;
  /**
   * Accept state stored as a plain JSON object (text starting with `{`, as the seed stored it)
   * and report it `{ needsReseal: true, legacy: true }`, so it is sealed on its next write. Such
   * text carries no MAC: whoever can write to the store can plant it. Turn this off once every
   * stored state has been re-sealed; legacy text then fails as `malformed`.
   * @default true
   */
  acceptLegacyPlaintext?: boolean;
  /**
   * Fills `buf` with random bytes, in place; called with a 24-byte view for every nonce. Tests
   * inject their own to control nonces.
   * @default sodium.randombytes_buf, drawn 256 nonces at a time (one system call per refill instead
   * of one per seal; nonces are public and only need to be unique, so pooling costs no security)
   */
  random?: (buf: Uint8Array) => void;
  /**
   * Told each time a blob sealed with a key of the ring other than the newest opens (`needsReseal`,
   * legacy plaintext aside): wire it to the secret-fallback counter, which tells when the older keys
   * are no longer read and can be removed from `LC_STATE_KEYS`. The state is sealed with the newest
   * key on its next write (or, for a page view, at once), so each stored state counts until then.
   * Not for the newest key, nor for a blob that does not open. Called synchronously. An observer: a
   * throw or a rejected promise from it is caught and reported (`onHookFailure`), never the request's answer.
   * @default none
   * @example createSealer({ keyRing, onOlderKey: () => metrics.countSecretFallback('state_key') })
   */
  onOlderKey?: (() => unknown) | undefined;
  /**
   * Where a failure of `onOlderKey` is reported: the first at once, then at most one report a minute
   * with the count since the last (`guardObserver`).
   * @default console.error
   */
  onHookFailure?: ObserverFailureReport | undefined;
}

export interface Sealer {
  /**
   * Seals `plaintext` for `binding` with the newest key; returns the base64url envelope.
   * @throws {RangeError} when the session key or component id exceeds 65,535 UTF-8 bytes (a bug)
   */
  seal(plaintext: string, binding: StateBinding): string;
  /** Opens a blob `seal` made for the same binding (or legacy plaintext). Never throws on input. */
  open(blob: string, binding: StateBinding): OpenResult;
}

const MALFORMED: OpenResult = Object.freeze({ ok: false, reason: 'malformed' });
const UNKNOWN_KEY: OpenResult = Object.freeze({ ok: false, reason: 'unknown_key' });
const FORGED: OpenResult = Object.freeze({ ok: false, reason: 'forged' });
const WRONG_BINDING: OpenResult = Object.freeze({ ok: false, reason: 'wrong_binding' });

/**
 * Builds the sealer once at start-up.
 * @example
 * const sealer = createSealer({ keyRing: createKeyRing(parseStateKeys(env.LC_STATE_KEYS)) });
 * const blob = sealer.seal(JSON.stringify(state), { sessionKey: session.key, componentId: 'counter:main' });
 * const opened = sealer.open(blob, { sessionKey: session.key, componentId: 'counter:main' });
 * if (opened.ok && opened.needsReseal) { ... seal again on the next write ... }
 */
export function createSealer(options: SealerOptions): Sealer {
  const ring = options.keyRing;
  const acceptLegacy = options.acceptLegacyPlaintext ?? true;
  if (options.onOlderKey !== undefined && typeof options.onOlderKey !== 'function') throw new TypeError('createSealer: onOlderKey must be a function');
  // Bound once: a hook that fails is reported, and the request it observed goes on.
  const onOlderKey = guardOptionalObserver("onSecretFallback('state_key')", options.onOlderKey, { report: options.onHookFailure });
  const random = options.random ?? pooledRandom(sodium.randombytes_buf, NONCE_BYTES * POOLED_NONCES);
  // Reused between calls: everything here is synchronous, so no two calls share them at once.
  let work: Buffer = Buffer.alloc(4096);
  let workNonce = work.subarray(NONCE_AT, MAC_AT);
  let workMac = work.subarray(MAC_AT, BODY_AT);
  let expected: Buffer = Buffer.alloc(256);

  /** `work` (grown if needed and kept while small), or a one-off buffer for large inputs. */
  function workBuffer(size: number): Buffer {
    if (size <= work.length) return work;
    const buf = sized(work, size);
    if (buf.length <= KEEP_BUFFER_MAX) {
      work = buf;
      workNonce = buf.subarray(NONCE_AT, MAC_AT);
      workMac = buf.subarray(MAC_AT, BODY_AT);
    }
    return buf;
  }

  /** Writes the binding header at `at`; returns its length, or -1 when a field is too long. */
  function writeHeader(buf: Buffer, at: number, keyId: number, binding: StateBinding): number {
    buf[at] = SEAL_VERSION;
    buf.writeUInt32BE(keyId, at + 1);
    const sLen = buf.write(binding.sessionKey, at + BINDING_FIXED, 'utf8');
    const cLen = buf.write(binding.componentId, at + BINDING_FIXED + sLen, 'utf8');
    if (sLen > MAX_BINDING_FIELD || cLen > MAX_BINDING_FIELD) return -1;
    buf.writeUInt16BE(sLen, at + 5);
    buf.writeUInt16BE(cLen, at + 7);
    return BINDING_FIXED + sLen + cLen;
  }

  function bindingBound(binding: StateBinding): number {
    return BINDING_FIXED + UTF8_BOUND * (binding.sessionKey.length + binding.componentId.length);
  }

  function legacy(blob: string): OpenResult {
    if (!acceptLegacy) return MALFORMED;
    let value: unknown;
    try {
      value = JSON.parse(blob);
    } catch {
      return MALFORMED;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return MALFORMED;
    return { ok: true, plaintext: blob, needsReseal: true, legacy: true };
  }

  return {
    seal(plaintext, binding) {
      const key = ring.current;
      let size = BODY_AT + bindingBound(binding) + UTF8_BOUND * plaintext.length;
      if (size > KEEP_BUFFER_MAX) size = BODY_AT + bindingBound(binding) + Buffer.byteLength(plaintext, 'utf8'); // exact when large
      const buf = workBuffer(size);
      const headerLength = writeHeader(buf, BODY_AT, key.idValue, binding);
      if (headerLength < 0) throw new RangeError('the session key and the component id must each be at most 65535 bytes');
      const textAt = BODY_AT + headerLength;
      const end = textAt + buf.write(plaintext, textAt, 'utf8');
      buf[0] = SEAL_VERSION;
      buf.writeUInt32BE(key.idValue, 1);
      const nonce = buf === work ? workNonce : buf.subarray(NONCE_AT, MAC_AT);
      random(nonce);
      // In place: the plaintext at BODY_AT becomes ciphertext, the MAC goes before it at MAC_AT.
      const body = buf.subarray(BODY_AT, end);
      sodium.crypto_secretbox_detached(body, buf === work ? workMac : buf.subarray(MAC_AT, BODY_AT), body, nonce, key.material);
      return buf.toString('base64url', 0, end);
    },

    open(blob, binding) {
      if (typeof blob !== 'string' || blob.length === 0) return MALFORMED;
      if (blob.charCodeAt(0) === 0x7b /* { */) return legacy(blob);
      const chars = blob.length;
      if (chars % 4 === 1) return MALFORMED; // no base64 text has this length
      const size = Math.floor((chars * 3) / 4);
      if (size < BODY_AT + BINDING_FIXED) return MALFORMED;
      const buf = workBuffer(size);
      // Node skips characters outside the alphabet, so a short count means the text was not base64.
      if (buf.write(blob, 0, size, 'base64url') !== size) return MALFORMED;
      if (buf[0] !== SEAL_VERSION) return MALFORMED;
      const key = ring.find(buf.readUInt32BE(1));
      if (key === undefined) return UNKNOWN_KEY;
      const body = buf.subarray(BODY_AT, size);
      const small = buf === work;
      const mac = small ? workMac : buf.subarray(MAC_AT, BODY_AT);
      if (!sodium.crypto_secretbox_open_detached(body, body, mac, small ? workNonce : buf.subarray(NONCE_AT, MAC_AT), key.material)) return FORGED;

      const exp = sized(expected, bindingBound(binding));
      if (exp.length <= KEEP_BUFFER_MAX) expected = exp;
      const headerLength = writeHeader(exp, 0, key.idValue, binding);
      const textAt = BODY_AT + headerLength;
      let result: OpenResult = WRONG_BINDING;
      let older = false;
      if (headerLength > 0 && textAt <= size && constantTimeEqual(buf, BODY_AT, exp, 0, headerLength)) {
        older = key !== ring.current;
        result = { ok: true, plaintext: buf.toString('utf8', textAt, size), needsReseal: older, legacy: false };
      }
      body.fill(0); // do not leave decrypted state behind in the work buffer
      // Only a blob that opened: one of another session or component is no use of the older key.
      if (older) onOlderKey?.();
      return result;
    },
  };
}

/**
 * Whether `a[aAt..aAt+length)` equals `b[bAt..bAt+length)`, in time that depends only on `length`:
 * no early exit and no branch on the data (the pattern of TweetNaCl's `vn`).
 */
function constantTimeEqual(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number, length: number): boolean {
  let diff = 0;
  for (let i = 0; i < length; i++) diff |= (a[aAt + i] as number) ^ (b[bAt + i] as number);
  return diff === 0;
}

/**
 * `current` when it holds `size` bytes; else a new buffer: zeroed and a power of two while small
 * (it will be kept), exact and uninitialized when large (callers write every byte they read).
 */
function sized(current: Buffer, size: number): Buffer {
  if (size <= current.length) return current;
  return size <= KEEP_BUFFER_MAX ? Buffer.alloc(2 ** Math.ceil(Math.log2(size))) : Buffer.allocUnsafeSlow(size);
}

/** Hands out bytes of `pool`, refilled from `fill` whenever it runs out; each byte is used once. */
function pooledRandom(fill: (buf: Uint8Array) => void, poolBytes: number): (buf: Uint8Array) => void {
  const pool = Buffer.alloc(poolBytes);
  let at = poolBytes;
  return (buf) => {
    const n = buf.length;
    if (n > poolBytes) return fill(buf);
    if (at + n > poolBytes) {
      fill(pool);
      at = 0;
    }
    for (let i = 0; i < n; i++) buf[i] = pool[at + i] as number;
    at += n;
  };
}
