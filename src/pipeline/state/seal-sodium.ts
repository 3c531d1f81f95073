/**
 * The few `sodium-native` functions the state sealer and key ring use, typed here because the
 * package ships no declarations. Loaded with `createRequire` (it is a CommonJS native addon).
 * Every function takes `Uint8Array` views and honours their byte offset, so callers can pass
 * `subarray`s of one work buffer without copying.
 *
 * Kept on sodium-native 4.x (checked against 5.1.0): 5 has the same functions and prebuilds (they load
 * on Node 20 and 22 without a compiler) but wraps each call in JavaScript argument checks, and a seal +
 * open of 1 KiB took ~10% longer on Node 20 (5.0–5.3 → 5.4–5.9 µs, over the 5 µs target of
 * `bench/seal.mjs`), 2–5% on Node 22; it also adds 13 packages for the Bare runtime to the install.
 */
import { createRequire } from 'node:module';

export interface SodiumApi {
  crypto_secretbox_KEYBYTES: number;
  crypto_secretbox_NONCEBYTES: number;
  crypto_secretbox_MACBYTES: number;
  /** `c` must be `m.length + MACBYTES` long; `c` and `m` may overlap (in-place sealing). */
  crypto_secretbox_easy(c: Uint8Array, m: Uint8Array, n: Uint8Array, k: Uint8Array): void;
  /** False when the MAC does not verify; `m` is then left untouched. `m` and `c` may overlap. */
  crypto_secretbox_open_easy(m: Uint8Array, c: Uint8Array, n: Uint8Array, k: Uint8Array): boolean;
  /** `c` and `m` have the same length and may be the same view; the MAC goes to `mac`. */
  crypto_secretbox_detached(c: Uint8Array, mac: Uint8Array, m: Uint8Array, n: Uint8Array, k: Uint8Array): void;
  /** False when `mac` does not verify; `m` and `c` may be the same view. */
  crypto_secretbox_open_detached(m: Uint8Array, c: Uint8Array, mac: Uint8Array, n: Uint8Array, k: Uint8Array): boolean;
  /** BLAKE2b; `out` is 16 to 64 bytes, `key` (optional) 16 to 64 bytes. */
  crypto_generichash(out: Uint8Array, input: Uint8Array, key?: Uint8Array): void;
  randombytes_buf(buf: Uint8Array): void;
  /** Guarded, locked memory; the Buffer carries `secure: true`. */
  sodium_malloc(size: number): Buffer;
  sodium_memzero(buf: Uint8Array): void;
  sodium_mprotect_readonly(buf: Uint8Array): void;
}

export const sodium = createRequire(import.meta.url)('sodium-native') as SodiumApi;
