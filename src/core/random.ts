/**
 * CSPRNG bytes drawn from a pooled buffer. Each `crypto.randomBytes` call is a trip into OpenSSL
 * and the kernel, which costs microseconds on sandboxed hosts; the hot path needs a few small
 * values per request (CSRF masks, lock tokens), so the pool refills 8 KiB at a time — the same
 * trade Node makes for `crypto.randomUUID`. Every byte is used once and then overwritten.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 8192;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

/** `size` fresh random bytes (a new Buffer the caller owns). */
export function randomBytes(size: number): Buffer {
  if (size > POOL_BYTES / 4) return randomFillSync(Buffer.allocUnsafe(size));
  if (offset + size > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = Buffer.allocUnsafe(size);
  pool.copy(out, 0, offset, offset + size);
  // Never hand the same bytes out twice, even if the pool were read again by mistake.
  pool.fill(0, offset, offset + size);
  offset += size;
  return out;
}
