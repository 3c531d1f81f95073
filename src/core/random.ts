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

/** Where the next `size` pooled bytes start, refilling the pool first when they do not fit. */
function take(size: number): number {
  if (offset + size > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const start = offset;
  offset += size;
  return start;
}

/** Never hand the same bytes out twice, even if the pool were read again by mistake. */
function spend(start: number, size: number): void {
  pool.fill(0, start, start + size);
}

/** `size` fresh random bytes (a new Buffer the caller owns). */
export function randomBytes(size: number): Buffer {
  if (size > POOL_BYTES / 4) return randomFillSync(Buffer.allocUnsafe(size));
  const start = take(size);
  const out = Buffer.allocUnsafe(size);
  pool.copy(out, 0, start, start + size);
  spend(start, size);
  return out;
}

/**
 * `randomBytes(size).toString('base64url')`, encoded straight from the pool: no Buffer per call.
 * For the random tokens of the hot path (idempotency and instance-lock claims).
 */
export function randomToken(size: number): string {
  if (size > POOL_BYTES / 4) return randomFillSync(Buffer.allocUnsafe(size)).toString('base64url');
  const start = take(size);
  const token = pool.toString('base64url', start, start + size);
  spend(start, size);
  return token;
}
