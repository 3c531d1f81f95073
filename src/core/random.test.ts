import { describe, expect, it } from 'vitest';
import { randomBytes, randomToken } from './random.js';

describe('pooled randomBytes', () => {
  it('returns buffers of the asked size that never repeat across pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const b = randomBytes(16);
      expect(b).toHaveLength(16);
      seen.add(b.toString('hex'));
    }
    expect(seen.size).toBe(3000);
  });

  it('serves large sizes directly and hands out independent buffers', () => {
    expect(randomBytes(10_000)).toHaveLength(10_000);
    const a = randomBytes(32);
    const copy = Buffer.from(a);
    randomBytes(32);
    expect(a.equals(copy)).toBe(true);
  });

  it('is not all zeros', () => {
    const b = randomBytes(64);
    expect(b.some((x) => x !== 0)).toBe(true);
  });

  it('randomToken: base64url of fresh bytes, never repeating across refills, large sizes too', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const t = randomToken(16);
      expect(t).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(t, 'base64url')).toHaveLength(16);
      seen.add(t);
    }
    expect(seen.size).toBe(3000);
    expect(Buffer.from(randomToken(10_000), 'base64url')).toHaveLength(10_000);
  });
});
