/**
 * `Authorization: Bearer <token>` checks for the operations endpoints (HEALTH_TOKEN, METRICS_TOKEN).
 * Both sides are hashed before the constant-time compare, so neither the content nor the length of
 * the configured token leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export type BearerResult = 'absent' | 'valid' | 'invalid';

/** A checker for one configured token, hashed once at start-up. */
export function bearerChecker(token: string): (authorization: string | undefined) => BearerResult {
  const expected = sha256(token);
  return (authorization) => {
    if (authorization === undefined || authorization === '') return 'absent';
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (match === null) return 'invalid';
    return timingSafeEqual(sha256(match[1] as string), expected) ? 'valid' : 'invalid';
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
