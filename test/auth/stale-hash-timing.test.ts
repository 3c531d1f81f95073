/**
 * Sign-in timing for a stored hash made with other parameters (an older, lighter policy, or not
 * argon2id at all): it must cost no less than an unknown email's dummy verification, or the answer
 * time tells that the account exists (probe: a light legacy hash answered in 4 ms, an unknown email
 * in 11 ms, a bcrypt import in 2 ms). Checked by the argon2 work done, not by a clock: each
 * `verify` of the library is counted, with the hash it was given.
 */
import type * as Argon2 from '@node-rs/argon2';
import { describe, expect, it, vi } from 'vitest';

const verified: string[] = [];
vi.mock('@node-rs/argon2', async (importOriginal) => {
  const real = await importOriginal<typeof Argon2>();
  return {
    ...real,
    verify: (hashed: string, password: string, options?: Parameters<typeof real.verify>[2]) => {
      verified.push(hashed);
      return real.verify(hashed, password, options);
    },
  };
});

const { createPasswordHasher } = await import('../../src/auth/password.js');
const { hash } = await import('@node-rs/argon2');

const CURRENT = { memoryCost: 1024, timeCost: 2, parallelism: 1 };

describe('a stale stored hash costs at least the dummy verification', () => {
  it('verifies a current hash alone, and a lighter, a foreign or an unreadable one beside the dummy', async () => {
    const hasher = createPasswordHasher(CURRENT);
    const current = await hasher.hash('correct horse battery staple');
    const lighter = await hash('correct horse battery staple', { algorithm: 2, memoryCost: 512, timeCost: 1, parallelism: 1 });
    const bcrypt = '$2y$10$abcdefghijklmnopqrstuuO8nqzDrC2vYVvJwO5eGJm3bHh9p7f1a';
    await hasher.verifyDummy('warm-up');
    const dummy = verified.at(-1) as string;

    for (const [stored, expected] of [
      [current, [current]],
      [lighter, [lighter, dummy]],
      [bcrypt, [bcrypt, dummy]],
      ['not a hash', ['not a hash', dummy]],
    ] as const) {
      for (const password of ['wrong password!', 'correct horse battery staple']) {
        verified.length = 0;
        await hasher.verify(stored, password);
        expect([...verified].sort(), `${stored.slice(0, 12)} / ${password}`).toEqual([...expected].sort());
      }
    }
    // The answers themselves are as before.
    expect(await hasher.verify(lighter, 'correct horse battery staple')).toEqual({ ok: true, needsRehash: true });
    expect(await hasher.verify(lighter, 'wrong password!')).toEqual({ ok: false, needsRehash: false });
    expect(await hasher.verify(current, 'correct horse battery staple')).toEqual({ ok: true, needsRehash: false });
    expect(await hasher.verify(bcrypt, 'correct horse battery staple')).toEqual({ ok: false, needsRehash: false });
  });
});
